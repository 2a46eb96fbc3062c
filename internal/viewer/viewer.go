// Package viewer produces each camera's annotated live video: it takes the frames of the
// pipeline's viewer branch, draws the latest detections on a copy (a CUDA kernel for frames in
// CUDA memory, the overlay package on CPU), keeps the latest annotated frame for snapshots,
// and, only while someone watches, encodes it to H.264 for the camera's WebRTC broadcaster.
package viewer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/overlay"
	"github.com/gstvision/gstvision/webrtc"
)

// ErrNoFrame is returned by Snapshot before the camera's first frame; for a camera it does not
// know, Snapshot returns an error wrapping [defs.ErrUnknownCamera].
var ErrNoFrame = errors.New("no frame from this camera yet")

// Options configure every camera's viewer.
type Options struct {
	Encoder     string // resolved encoder factory (gst.ChooseEncoder)
	MaxWidth    int
	BitrateKbps int
	// CUDA, in cuda mode, gives the context of the GPU a camera runs on: its frames arrive in
	// that GPU's memory and are drawn there. Nil (or a nil context) on the CPU.
	CUDA   func(camera string) *cuda.Context
	Latest func(camera string) (results.Result, bool)
	// Subscribe, when set, feeds each viewer the camera's results so that every frame gets its
	// own detections (not merely the latest); Latest is the fallback.
	Subscribe func(camera string, queueLen int) *results.Subscription
	Logger    *slog.Logger
}

// Manager owns the viewers of all cameras.
type Manager struct {
	opts Options
	rtc  *webrtc.Manager
	log  *slog.Logger

	mu      sync.Mutex
	viewers map[string]*Viewer
	passIDs map[string]uint64 // passthrough sources' handler-ids by camera
}

// NewManager returns a manager whose viewers feed rtc's broadcasters.
func NewManager(opts Options, rtc *webrtc.Manager) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, rtc: rtc, log: opts.Logger, viewers: map[string]*Viewer{},
		passIDs: map[string]uint64{}}
}

// Add creates the camera's viewer and returns the handler-id for its pipeline's viewer sink.
func (m *Manager) Add(camera string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.viewers[camera]; ok {
		return v.handlerID
	}
	v := &Viewer{camera: camera, opts: m.opts, log: m.log.With("camera", camera), snapCond: make(chan struct{})}
	v.handlerID = elements.AddHandler(v)
	if m.opts.Subscribe != nil {
		v.sub = m.opts.Subscribe(camera, 64)
		go v.follow(v.sub)
	}
	if m.rtc != nil {
		v.b = m.rtc.Broadcaster(camera)
		v.b.OnViewersChanged(v.viewersChanged)
		v.b.OnKeyframeRequest(v.keyframe)
	}
	m.viewers[camera] = v
	return v.handlerID
}

// Remove stops the camera's viewer and passthrough source and closes its WebRTC sessions.
func (m *Manager) Remove(camera string) {
	m.mu.Lock()
	v := m.viewers[camera]
	delete(m.viewers, camera)
	passID, pass := m.passIDs[camera]
	delete(m.passIDs, camera)
	m.mu.Unlock()
	if pass {
		elements.RemoveHandler(passID)
	}
	if v == nil {
		if pass && m.rtc != nil {
			m.rtc.Remove(camera)
		}
		return
	}
	elements.RemoveHandler(v.handlerID)
	if v.sub != nil {
		v.sub.Close()
	}
	if m.rtc != nil {
		m.rtc.Remove(camera)
	}
	v.close()
}

// Close stops every viewer.
func (m *Manager) Close() {
	m.mu.Lock()
	ids := make([]string, 0, len(m.viewers))
	for id := range m.viewers {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.Remove(id)
	}
}

// Snapshot returns the camera's latest annotated frame as JPEG, waiting up to 3 s for one.
func (m *Manager) Snapshot(ctx context.Context, camera string) ([]byte, error) {
	m.mu.Lock()
	v := m.viewers[camera]
	m.mu.Unlock()
	if v == nil {
		return nil, fmt.Errorf("%w: %q", defs.ErrUnknownCamera, camera)
	}
	return v.snapshot(ctx)
}

// Viewer is one camera's annotated video.
type Viewer struct {
	camera    string
	opts      Options
	log       *slog.Logger
	handlerID uint64
	b         *webrtc.Broadcaster

	watching  atomic.Bool  // at least one WebRTC viewer
	snapUntil atomic.Int64 // unix ns until which frames are kept for snapshots

	mu       sync.Mutex // frame buffers, encoder
	i420     []byte     // annotated frame, tightly packed
	w, h     int
	enc      *gst.Encoder
	encDone  chan struct{}
	encIn0   *atomic.Int64 // the PTS of the first frame pushed to enc (-1 before it)
	snap     []byte        // copy of the latest annotated frame kept for snapshots
	snapW    int
	snapH    int
	snapSeq  uint64
	snapCond chan struct{} // closed and replaced when a snapshot frame is stored
	gpu      *gpuDraw
	closed   bool

	sub     *results.Subscription
	histMu  sync.Mutex
	hist    [historyLen]results.Result // recent results by frame index (ring)
	histMax uint64                     // highest frame index seen, +1 (0: none yet)
}

// historyLen is how many recent results a viewer keeps to match frames with their detections.
const historyLen = 32

// follow records the camera's results until the subscription ends.
func (v *Viewer) follow(sub *results.Subscription) {
	for {
		select {
		case r := <-sub.C():
			v.histMu.Lock()
			v.hist[r.Frame%historyLen] = r
			v.histMax = max(v.histMax, r.Frame+1)
			v.histMu.Unlock()
		case <-sub.Done():
			return
		}
	}
}

// fromHistory returns the result of the latest analysed frame at or before index, and whether
// a result for a frame at or after index has arrived (so waiting longer is pointless).
func (v *Viewer) fromHistory(index uint64) (results.Result, bool, bool) {
	v.histMu.Lock()
	defer v.histMu.Unlock()
	if v.histMax == 0 {
		return results.Result{}, false, false
	}
	caughtUp := v.histMax > index
	for back := uint64(0); back < historyLen && back <= index; back++ {
		r := v.hist[(index-back)%historyLen]
		if r.Frame == index-back && r.Width > 0 {
			return r, true, caughtUp
		}
	}
	return results.Result{}, false, caughtUp
}

func (v *Viewer) viewersChanged(n int) {
	v.watching.Store(n > 0)
	if n == 0 {
		v.mu.Lock()
		v.stopEncoderLocked()
		if time.Now().UnixNano() >= v.snapUntil.Load() { // a snapshot still needs them
			v.releaseFrameLocked()
		}
		v.mu.Unlock()
	}
}

// releaseFrameLocked frees the frame buffers (host, and on the GPU device and pinned memory):
// at close, and once nobody watches, since a server whose viewers visit every camera in turn
// would otherwise keep a set per camera ever watched. The next frame to draw allocates them
// again. (Freeing device memory waits for the GPU: once per departure, never per frame.)
func (v *Viewer) releaseFrameLocked() {
	if v.gpu != nil {
		v.gpu.close()
		v.gpu = nil
	}
	v.i420, v.w, v.h = nil, 0, 0
}

func (v *Viewer) keyframe() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.enc != nil {
		v.enc.ForceKeyUnit()
	}
}

func (v *Viewer) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	v.stopEncoderLocked()
	v.releaseFrameLocked()
}

// SkipFrame implements elements.FrameSkipper: without a viewer or a snapshot waiting, the
// viewer branch's frames are dropped before they are mapped.
func (v *Viewer) SkipFrame() bool {
	return !v.watching.Load() && time.Now().UnixNano() >= v.snapUntil.Load()
}

// HandleFrame implements elements.FrameHandler for the viewer branch.
func (v *Viewer) HandleFrame(meta elements.FrameMeta, f *gst.MappedFrame) error {
	wantSnap := time.Now().UnixNano() < v.snapUntil.Load()
	if !v.watching.Load() && !wantSnap {
		f.Unmap()
		return nil
	}
	w, h := f.Frame.Width&^1, f.Frame.Height&^1
	dets := v.detectionsFor(meta.Index, w, h) // before locking: it may wait for the detector
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || (!v.watching.Load() && !wantSnap) { // (the last viewer may have left meanwhile)
		f.Unmap()
		return nil
	}
	if v.w != w || v.h != h {
		v.i420 = make([]byte, w*h*3/2)
		v.w, v.h = w, h
		v.stopEncoderLocked()
	}
	var err error
	if f.Frame.OnDevice() {
		err = v.drawGPU(f, dets)
	} else {
		v.copyHost(f)
		f.Unmap()
		drawCPU(v.i420, w, h, dets)
	}
	if err != nil {
		return nil // a viewer problem never stops the camera; it is logged in drawGPU
	}
	if wantSnap {
		v.storeSnapshot()
	}
	if v.watching.Load() {
		if v.enc == nil {
			v.startEncoderLocked()
		}
		if v.enc != nil {
			v.encIn0.CompareAndSwap(-1, int64(meta.PTS))
			_ = v.enc.Push(v.i420, meta.PTS)
		}
	}
	return nil
}

// detection is a box in this frame's pixels.
type detection struct {
	x1, y1, x2, y2 int
	class          int
	text           string
}

// SyncWait bounds how long a viewer frame waits for its own detections (the inference branch
// runs beside the viewer branch); after it, the latest detections are drawn.
var SyncWait = 150 * time.Millisecond

// detectionsFor returns the detections of frame index (or the latest ones when they do not
// come within SyncWait, or when this frame is not analysed), scaled to a w×h frame.
func (v *Viewer) detectionsFor(index uint64, w, h int) []detection {
	if v.opts.Latest == nil {
		return nil
	}
	var r results.Result
	ok := false
	if v.sub != nil {
		// this frame's own result (or the last analysed frame before it), once it has come
		deadline := time.Now().Add(SyncWait)
		for {
			res, found, caughtUp := v.fromHistory(index)
			r, ok = res, found
			if caughtUp || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !ok {
		r, ok = v.opts.Latest(v.camera)
	}
	if !ok || r.Width == 0 || r.Height == 0 {
		return nil
	}
	sx, sy := float32(w)/float32(r.Width), float32(h)/float32(r.Height)
	out := make([]detection, 0, len(r.Detections))
	for _, d := range r.Detections {
		label := fmt.Sprintf("%s %.2f", d.Label, d.Score)
		if d.TrackID != 0 {
			label = fmt.Sprintf("#%d %s", d.TrackID, label) // as the page labels passthrough boxes
		}
		out = append(out, detection{int(d.Box[0] * sx), int(d.Box[1] * sy), int(d.Box[2] * sx), int(d.Box[3] * sy),
			d.ClassID, label})
	}
	return out
}

// copyHost copies an I420 host frame into v.i420, dropping row padding.
func (v *Viewer) copyHost(f *gst.MappedFrame) {
	w, h := v.w, v.h
	dst := [3][]byte{v.i420[:w*h], v.i420[w*h : w*h+w*h/4], v.i420[w*h+w*h/4:]}
	for p := 0; p < 3; p++ {
		pw, ph := w, h
		if p > 0 {
			pw, ph = w/2, h/2
		}
		src, st := f.Frame.Host[p], f.Frame.Strides[p]
		for y := 0; y < ph; y++ {
			copy(dst[p][y*pw:(y+1)*pw], src[y*st:y*st+pw])
		}
	}
}

func drawCPU(i420 []byte, w, h int, dets []detection) {
	if len(dets) == 0 {
		return
	}
	boxes := make([]overlay.Box, len(dets))
	for i, d := range dets {
		boxes[i] = overlay.Box{X1: d.x1, Y1: d.y1, X2: d.x2, Y2: d.y2, ClassID: d.class, Text: d.text}
	}
	planes := [3][]byte{i420[:w*h], i420[w*h : w*h+w*h/4], i420[w*h+w*h/4:]}
	overlay.DrawI420(planes, [3]int{w, w / 2, w / 2}, w, h, boxes)
}

func (v *Viewer) storeSnapshot() {
	if cap(v.snap) < len(v.i420) {
		v.snap = make([]byte, len(v.i420))
	}
	v.snap = v.snap[:len(v.i420)]
	copy(v.snap, v.i420)
	v.snapW, v.snapH = v.w, v.h
	v.snapSeq++
	close(v.snapCond)
	v.snapCond = make(chan struct{})
}

func (v *Viewer) snapshot(ctx context.Context) ([]byte, error) {
	v.snapUntil.Store(time.Now().Add(10 * time.Second).UnixNano())
	v.mu.Lock()
	wait, seq := v.snapCond, v.snapSeq
	v.mu.Unlock()
	timer := time.NewTimer(3 * time.Second)
	defer timer.Stop()
	select {
	case <-wait:
	case <-timer.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.snapSeq == seq && v.snap == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoFrame, v.camera)
	}
	w, h := v.snapW, v.snapH
	planes := [3][]byte{v.snap[:w*h], v.snap[w*h : w*h+w*h/4], v.snap[w*h+w*h/4:]}
	return overlay.EncodeJPEG(planes, [3]int{w, w / 2, w / 2}, w, h, 85)
}

func (v *Viewer) startEncoderLocked() {
	enc, err := gst.NewEncoder(gst.EncoderOptions{Camera: v.camera, Width: v.w, Height: v.h,
		MaxWidth: v.opts.MaxWidth, Encoder: v.opts.Encoder, BitrateKbps: v.opts.BitrateKbps, Logger: v.log})
	if err != nil {
		v.log.Error("viewer encoder", "error", err)
		return
	}
	v.enc, v.encDone, v.encIn0 = enc, make(chan struct{}), new(atomic.Int64)
	v.encIn0.Store(-1)
	v.log.Info("viewer encoding started", "encoder", v.opts.Encoder, "size", fmt.Sprintf("%dx%d", enc.OutW, enc.OutH))
	go v.pump(enc, v.encDone, v.encIn0)
}

func (v *Viewer) stopEncoderLocked() {
	if v.enc == nil {
		return
	}
	enc, done := v.enc, v.encDone
	v.enc, v.encDone = nil, nil
	close(done)
	enc.Close()
	v.log.Info("viewer encoding stopped")
}

// pump moves encoded access units to the broadcaster until the encoder is stopped. Each goes
// with its frame's own PTS, the one its detections carry (so that the detections channel can
// key them to the video): the encoder shifts its output timestamps (by 1000 hours from its
// first frame), so each output PTS is moved back by the shift of the first one, whose input
// PTS in0 holds. The encoder outputs one access unit per frame, in order (no B-frames).
func (v *Viewer) pump(enc *gst.Encoder, done chan struct{}, in0 *atomic.Int64) {
	buf := make([]byte, 4<<20)
	shift, shifted := time.Duration(0), false
	for {
		select {
		case <-done:
			return
		default:
		}
		n, pts, err := enc.Pull(buf, 100*time.Millisecond)
		if err != nil {
			if !errors.Is(err, gst.ErrEOS) {
				v.log.Warn("viewer encoder", "error", err)
			}
			return
		}
		if n == 0 || v.b == nil {
			continue
		}
		if first := in0.Load(); !shifted && first >= 0 && pts >= 0 {
			shift, shifted = pts-time.Duration(first), true
		}
		if pts >= 0 {
			pts -= shift
		}
		v.b.WriteAccessUnit(buf[:n], pts)
	}
}
