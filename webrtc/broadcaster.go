package webrtc

import (
	"fmt"
	"slices"
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
	view   View
	m      *Manager

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	viewers  atomic.Pointer[[]*session] // copy-on-write snapshot of sessions for the writer

	// codec is the camera's (SetCodec; H.264 until told otherwise): what WriteAccessUnit
	// parses and payloads. An annotated broadcaster is always H.264 (the encoder's).
	codec atomic.Pointer[Codec]

	// Serialises WriteAccessUnit's own state.
	wmu           sync.Mutex
	seq           uint64
	clock         rtpClock
	vps, sps, pps []byte    // latest parameter sets, for keyframes that arrive without them
	ppsExtraBits  int       // H.265: the latest PPS's num_extra_slice_header_bits
	gop           *gopCache // passthrough only: the access units since the last IDR, for joiners

	// The RTP timestamps of recent access units by PTS, for detections sent beside the video.
	stampMu    sync.Mutex
	stamps     stampRing
	stampClock rtpClock // a copy of clock after the latest access unit

	fallback atomic.Pointer[string] // passthrough only: why the camera cannot be passed through

	onViewers  atomic.Pointer[func(int)]
	notifyMu   sync.Mutex // serialises OnViewersChanged calls so they arrive in order
	notified   int
	onKeyframe atomic.Pointer[func()]
	keyframes  coalescer

	accessUnits, keyUnits, dropped atomic.Uint64
}

func newBroadcaster(m *Manager, camera string, view View) *Broadcaster {
	b := &Broadcaster{camera: camera, view: view, m: m, sessions: map[string]*session{}}
	if view == ViewPassthrough {
		b.gop = &gopCache{maxUnits: MaxGOPUnits, maxBytes: MaxGOPBytes}
	}
	b.viewers.Store(&[]*session{})
	b.keyframes = coalescer{interval: m.opts.KeyframeInterval, fire: b.fireKeyframeRequest}
	return b
}

// Camera is the camera this broadcaster serves.
func (b *Broadcaster) Camera() string { return b.camera }

// View is the view this broadcaster sends.
func (b *Broadcaster) View() View { return b.view }

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
//
// A passthrough broadcaster also keeps the current GOP for joining viewers, and on the first
// B-slice it falls back (SetFallback(ReasonBFrames)) and drops everything after.
func (b *Broadcaster) WriteAccessUnit(au []byte, pts time.Duration) {
	b.writeAccessUnit(au, pts, false)
}

// WriteOwnedAccessUnit is WriteAccessUnit for an access unit the broadcaster may keep: the
// caller hands au over and never touches it again (the passthrough branch gives its own copy),
// which saves the GOP cache a copy of every access unit.
func (b *Broadcaster) WriteOwnedAccessUnit(au []byte, pts time.Duration) {
	b.writeAccessUnit(au, pts, true)
}

func (b *Broadcaster) writeAccessUnit(au []byte, pts time.Duration, owned bool) {
	if len(au) == 0 {
		return
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	codec := b.Codec()
	var info auInfo
	if codec == CodecH265 {
		info = inspectAU265(au, &b.ppsExtraBits)
	} else {
		info = inspectAU(au)
	}
	if info.slices == 0 && info.sps == nil && info.pps == nil {
		return // nothing decodable: only AUD, SEI or filler
	}
	if b.view == ViewPassthrough && info.bSlice {
		b.SetFallback(ReasonBFrames)
	}
	if b.Fallback() != "" {
		return
	}

	f := b.nextFrameLocked(codec, au, info, pts, owned)
	if f == nil {
		return
	}
	b.accessUnits.Add(1)
	if f.key {
		b.keyUnits.Add(1)
		b.keyframes.satisfied()
	}
	for _, s := range *b.viewers.Load() {
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

// nextFrameLocked numbers and timestamps an access unit, records it for joiners and for
// RTPTimestamp, and returns it payloaded, or nil when no viewer is connected (payloading is
// the per-viewer cost; without viewers the broadcaster only keeps its clock and GOP).
func (b *Broadcaster) nextFrameLocked(codec Codec, au []byte, info auInfo, pts time.Duration, owned bool) *frame {
	// Keep the latest parameter sets (copied: au is the caller's).
	keep := func(dst *[]byte, nal []byte) {
		if nal != nil && !bytesEqual(nal, *dst) {
			*dst = append((*dst)[:0:0], nal...)
		}
	}
	keep(&b.vps, info.vps)
	keep(&b.sps, info.sps)
	keep(&b.pps, info.pps)
	ts := uint32(b.clock.ticks(pts, time.Now()))
	b.stampMu.Lock()
	b.stamps.add(pts, ts)
	b.stampClock = b.clock
	b.stampMu.Unlock()

	data := au
	key := info.idr
	if key {
		// A starting point needs its parameter sets: put the latest before it if it came without.
		sets := [][]byte{b.sps, b.pps}
		has := info.sps != nil && info.pps != nil
		if codec == CodecH265 {
			sets = [][]byte{b.vps, b.sps, b.pps}
			has = has && info.vps != nil
		}
		switch {
		case has:
		case slices.ContainsFunc(sets, func(s []byte) bool { return s == nil }):
			key = false // undecodable as a starting point
		default:
			data, owned = withParamSets(au, sets...), true
		}
	}
	b.seq++
	if b.gop != nil {
		b.gop.add(b.seq, ts, key, data, owned)
	}
	if !b.anyActive() {
		return nil
	}
	return newFrame(codec, b.seq, ts, key, data)
}

// newFrame payloads one access unit. A fresh payloader per access unit: it keeps the parameter
// sets (as slices of its input) to aggregate them with the next NAL unit, which must not
// outlive data. It returns nil when there is nothing to send.
func newFrame(codec Codec, seq uint64, ts uint32, key bool, data []byte) *frame {
	var payloads [][]byte
	if codec == CodecH265 {
		var p codecs.H265Payloader
		payloads = p.Payload(mtu, data)
	} else {
		var p codecs.H264Payloader
		payloads = p.Payload(mtu, data)
	}
	if len(payloads) == 0 {
		return nil
	}
	return &frame{seq: seq, ts: ts, key: key, payloads: payloads}
}

// anyActive reports whether a viewer is connected.
func (b *Broadcaster) anyActive() bool {
	for _, s := range *b.viewers.Load() {
		if s.active.Load() {
			return true
		}
	}
	return false
}

// activate starts sending to a connected session. With a GOP cache it first hands the session
// the cached GOP, so that it starts at once with the last IDR; under wmu, so that the live
// access units follow the cached ones without a gap or a repeat. Without one (or with an empty
// one) the session waits for a keyframe, which an annotated broadcaster asks its encoder for.
func (b *Broadcaster) activate(s *session) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.gop != nil && len(b.gop.units) > 0 {
		backlog := make([]*frame, 0, len(b.gop.units))
		for _, u := range b.gop.units {
			if f := newFrame(b.Codec(), u.seq, u.ts, u.key, u.data); f != nil {
				backlog = append(backlog, f)
			}
		}
		s.backlog <- backlog // buffered (1), and activate runs once per session
	}
	s.active.Store(true)
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
