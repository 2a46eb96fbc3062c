package webrtc

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp/codecs"

	"github.com/gstvision/gstvision/defs"
)

// frame is one access unit, payloaded once for every viewer. It is immutable once built.
type frame struct {
	seq      uint64   // broadcaster-wide index; a viewer seeing a gap lost frames
	ts       uint32   // 90 kHz RTP timestamp, before the viewer's random offset
	key      bool     // an IDR access unit, with SPS and PPS
	payloads [][]byte // RTP payloads (single NAL, STAP-A, FU-A); the last one gets the marker
}

// Broadcaster sends one camera's encoded video to all its viewers: one encoder, many peer
// connections. Each viewer has its own track, sequence numbers and RTP timestamp offset, and
// starts at a keyframe. Create it with [Manager.Broadcaster].
type Broadcaster struct {
	camera string
	m      *Manager

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	viewers  atomic.Pointer[[]*session] // copy-on-write snapshot of sessions for the writer

	// Serialises WriteAccessUnit's own state.
	wmu      sync.Mutex
	seq      uint64
	clock    rtpClock
	sps, pps []byte // latest parameter sets, for keyframes that arrive without them

	onViewers  atomic.Pointer[func(int)]
	notifyMu   sync.Mutex // serialises OnViewersChanged calls so they arrive in order
	notified   int
	onKeyframe atomic.Pointer[func()]
	keyframes  coalescer

	accessUnits, keyUnits, dropped atomic.Uint64
}

func newBroadcaster(m *Manager, camera string) *Broadcaster {
	b := &Broadcaster{camera: camera, m: m, sessions: map[string]*session{}}
	b.viewers.Store(&[]*session{})
	b.keyframes = coalescer{interval: m.opts.KeyframeInterval, fire: b.fireKeyframeRequest}
	return b
}

// Camera is the camera this broadcaster serves.
func (b *Broadcaster) Camera() string { return b.camera }

// Viewers is the number of WHEP sessions of this camera, connected or still connecting.
func (b *Broadcaster) Viewers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

// OnViewersChanged sets f to be called with the new number of viewers whenever it changes; the
// caller typically links its encoding branch on 0→1 and unlinks it on 1→0. Calls are
// serialised and each reports the count at the time of the call, so the last call always
// reports the current count. If there are viewers already, f is called at once with their
// number (viewers may connect before the camera's pipeline registers). f runs on the goroutine
// of the joining or leaving viewer, so it must not block for long; it may call Viewers, Stats
// and RequestKeyframe, but not OnViewersChanged, Manager.Remove or Manager.Close.
func (b *Broadcaster) OnViewersChanged(f func(n int)) {
	b.notifyMu.Lock()
	b.onViewers.Store(&f)
	b.notified = 0
	b.notifyMu.Unlock()
	b.notifyViewers()
}

// OnKeyframeRequest sets f to be called when a viewer needs a keyframe: it has just connected,
// sent a PLI or FIR, or lost frames. Requests are coalesced: f runs at most once per
// Options.KeyframeInterval, and a request inside the interval is sent when it ends unless a
// keyframe was written meanwhile. f is called from its own goroutine and must not block.
func (b *Broadcaster) OnKeyframeRequest(f func()) { b.onKeyframe.Store(&f) }

// BroadcasterStats counts what a broadcaster has handled.
type BroadcasterStats struct {
	Viewers     int    `json:"viewers"`
	AccessUnits uint64 `json:"access_units"` // written with at least one viewer connected
	Keyframes   uint64 `json:"keyframes"`
	Dropped     uint64 `json:"dropped"` // access units dropped from full viewer queues, all viewers
}

// Stats returns the broadcaster's counters.
func (b *Broadcaster) Stats() BroadcasterStats {
	return BroadcasterStats{
		Viewers:     b.Viewers(),
		AccessUnits: b.accessUnits.Load(),
		Keyframes:   b.keyUnits.Load(),
		Dropped:     b.dropped.Load(),
	}
}

// RequestKeyframe asks the encoder for a keyframe through OnKeyframeRequest, coalesced.
func (b *Broadcaster) RequestKeyframe() { b.keyframes.request() }

// WriteAccessUnit sends one H.264 access unit in Annex-B form (start codes, SPS and PPS before
// each IDR) with its presentation timestamp to every connected viewer. A negative pts means
// unknown; the wall clock is used instead. It does not keep au and never blocks on a viewer:
// each has a bounded queue, and one that falls behind loses frames and resumes at the next
// keyframe. Call it from one goroutine (the encoder's); concurrent calls are serialised.
func (b *Broadcaster) WriteAccessUnit(au []byte, pts time.Duration) {
	if len(au) == 0 {
		return
	}
	info := inspectAU(au)
	if info.slices == 0 && info.sps == nil && info.pps == nil {
		return // nothing decodable: only AUD, SEI or filler
	}

	b.wmu.Lock()
	defer b.wmu.Unlock()
	// Keep the latest parameter sets (copied: au is the caller's).
	if info.sps != nil && !bytesEqual(info.sps, b.sps) {
		b.sps = append(b.sps[:0:0], info.sps...)
	}
	if info.pps != nil && !bytesEqual(info.pps, b.pps) {
		b.pps = append(b.pps[:0:0], info.pps...)
	}
	ts := b.clock.ticks(pts, time.Now())

	viewers := *b.viewers.Load()
	active := 0
	for _, s := range viewers {
		if s.active.Load() {
			active++
		}
	}
	if active == 0 {
		return
	}

	data := au
	key := info.idr
	if key && (info.sps == nil || info.pps == nil) {
		if b.sps == nil || b.pps == nil {
			key = false // undecodable as a starting point
		} else {
			data = withParamSets(b.sps, b.pps, au)
		}
	}
	// A fresh payloader per access unit: it keeps SPS and PPS (as slices of its input) to put
	// them into a STAP-A with the next NAL unit, which must not outlive au.
	var p codecs.H264Payloader
	payloads := p.Payload(mtu, data)
	if len(payloads) == 0 {
		return
	}
	b.seq++
	f := &frame{seq: b.seq, ts: uint32(ts), key: key, payloads: payloads}
	b.accessUnits.Add(1)
	if key {
		b.keyUnits.Add(1)
		b.keyframes.satisfied()
	}
	for _, s := range viewers {
		if !s.active.Load() {
			continue
		}
		select {
		case s.queue <- f:
		default:
			// The viewer is behind: drop; it notices the gap and waits for a keyframe.
			b.dropped.Add(1)
		}
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// addSession registers s; it fails once the broadcaster is closed.
func (b *Broadcaster) addSession(s *session) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("camera %q: broadcaster %w", b.camera, defs.ErrClosed)
	}
	b.sessions[s.id] = s
	b.snapshotLocked()
	b.mu.Unlock()
	b.notifyViewers()
	return nil
}

func (b *Broadcaster) removeSession(s *session) {
	b.mu.Lock()
	if b.sessions[s.id] != s {
		b.mu.Unlock()
		return
	}
	delete(b.sessions, s.id)
	b.snapshotLocked()
	b.mu.Unlock()
	b.notifyViewers()
}

func (b *Broadcaster) snapshotLocked() {
	list := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		list = append(list, s)
	}
	b.viewers.Store(&list)
}

func (b *Broadcaster) session(id string) (*session, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sessions[id]
	return s, ok
}

// close ends every session and waits for their teardown; later sessions are refused.
func (b *Broadcaster) close() {
	b.mu.Lock()
	b.closed = true
	list := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		list = append(list, s)
	}
	b.mu.Unlock()
	for _, s := range list {
		s.closeAndWait("camera removed")
	}
	b.keyframes.stop()
}

// notifyViewers reports the current count to OnViewersChanged if it differs from the last
// report. Holding notifyMu while calling keeps reports in order.
func (b *Broadcaster) notifyViewers() {
	b.notifyMu.Lock()
	defer b.notifyMu.Unlock()
	n := b.Viewers()
	if n == b.notified {
		return
	}
	b.notified = n
	if f := b.onViewers.Load(); f != nil && *f != nil {
		(*f)(n)
	}
}

func (b *Broadcaster) fireKeyframeRequest() {
	if f := b.onKeyframe.Load(); f != nil && *f != nil {
		(*f)()
	}
}

// coalescer rate-limits keyframe requests: the first request fires at once, later ones within
// interval of the last firing are merged into one that fires when the interval ends, unless a
// keyframe went out meanwhile.
type coalescer struct {
	interval time.Duration
	fire     func()

	mu      sync.Mutex
	last    time.Time
	pending *time.Timer
	stopped bool
}

func (c *coalescer) request() {
	c.mu.Lock()
	if c.stopped || c.pending != nil {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	if wait := c.interval - now.Sub(c.last); wait > 0 {
		c.pending = time.AfterFunc(wait, c.fireDeferred)
		c.mu.Unlock()
		return
	}
	c.last = now
	c.mu.Unlock()
	go c.fire() // never on the caller's goroutine: that may be the encoder's or pion's
}

func (c *coalescer) fireDeferred() {
	c.mu.Lock()
	if c.pending == nil || c.stopped {
		c.mu.Unlock()
		return
	}
	c.pending = nil
	c.last = time.Now()
	c.mu.Unlock()
	c.fire()
}

// satisfied cancels a deferred request: a keyframe has just been written.
func (c *coalescer) satisfied() {
	c.mu.Lock()
	if c.pending != nil && c.pending.Stop() {
		c.pending = nil
	}
	c.mu.Unlock()
}

func (c *coalescer) stop() {
	c.mu.Lock()
	c.stopped = true
	if c.pending != nil {
		c.pending.Stop()
		c.pending = nil
	}
	c.mu.Unlock()
}
