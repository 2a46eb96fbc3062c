package camera

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
)

// Analyzer receives the frames that a camera's pipeline decoded. It owns the frame from then
// on and must Unmap it exactly once (at once, or when its batch slot is filled).
type Analyzer interface {
	Analyze(camera string, meta elements.FrameMeta, f *gst.MappedFrame) error
}

// Config is what a camera needs to run.
type Config struct {
	ID          string
	URL         string // may carry credentials: shown only through RedactedURL
	RedactedURL string
	Transport   string
	Latency     time.Duration
	EveryN      int // analyse every Nth decoded frame
	QueueFrames int // frames buffered before the analyzer, at least 1 (oldest dropped)
	StatsEvery  int // log a stats line every this many decoded frames; 0: none
	// ViewerHandlerID, when set, gives the pipeline a viewer branch feeding that handler.
	ViewerHandlerID uint64
	// PassthroughHandlerID, when set, gives the pipeline a passthrough branch (the camera's
	// own access units, before the decoder) feeding that handler.
	PassthroughHandlerID uint64
	// DropRemedy tells the operator what to change when this camera drops frames before the
	// detector (it depends on the mode and device, which the camera does not know).
	DropRemedy string
	// Backoff paces the camera's retries; its zero fields take DefaultBackoff's.
	Backoff Backoff
	// NewPipeline builds each run's pipeline; nil: an RTSP camera decoded by GStreamer.
	NewPipeline PipelineFactory
	// GPU, Analyzer and CUDA place the camera on one GPU (device cuda): its decoders use that
	// GPU's context and its frames go to that GPU's stage. Nil: the Manager's own.
	GPU      *int
	Analyzer Analyzer
	CUDA     *gst.CUDAContext
}

// Camera supervises one camera: it builds the pipeline, watches it, and rebuilds it with
// exponential backoff after any fault (RTSP drop, EOS, timeout, decoder error). A camera's
// faults never touch another camera.
type Camera struct {
	cfg      Config
	analyzer Analyzer
	cuda     *gst.CUDAContext
	log      *slog.Logger

	mu         sync.Mutex
	state      defs.State
	since      time.Time
	lastErr    string
	lastErrAt  time.Time
	dropRate   float64 // over the last complete DropWindow
	info       gst.StreamInfo
	width      int
	height     int
	fps        float64
	reconnects uint64

	decodedBase uint64        // frames decoded by earlier pipelines; the current one numbers on from it
	current     atomic.Uint64 // frames decoded by the current pipeline
	handed      atomic.Uint64 // frames that reached the analyzer
	arrived     atomic.Uint64 // frames that reached the sink (the rest were dropped by the queue)
	dropped     uint64        // the highest drop count reported: a counter never goes back

	pipeline atomic.Pointer[Pipeline] // the running pipeline, if any (read it with live)
	faults   chan error               // a panic on the frame path, for the supervisor

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a stopped camera; Start runs it.
func New(cfg Config, analyzer Analyzer, cuda *gst.CUDAContext, log *slog.Logger) *Camera {
	if cfg.EveryN < 1 {
		cfg.EveryN = 1
	}
	if cfg.NewPipeline == nil {
		cfg.NewPipeline = gstPipeline
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	return &Camera{cfg: cfg, analyzer: analyzer, cuda: cuda, log: log.With("camera", cfg.ID),
		state: defs.StateStarting, since: time.Now(), faults: make(chan error, 1)}
}

// ID is the camera's id.
func (c *Camera) ID() string { return c.cfg.ID }

// Start runs the camera's supervisor until Stop.
func (c *Camera) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	go c.supervise(ctx)
}

// Stop tears the pipeline down and waits for the supervisor to end.
func (c *Camera) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
}

// Status is a snapshot for the API.
func (c *Camera) Status() defs.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	decoded, queued := c.decodedBase+c.current.Load(), uint64(0)
	if p := c.live(); p != nil {
		decoded = p.Decoded() // numbered on from decodedBase; live, not the last once-a-second sample
		queued = p.Queued()
	}
	c.dropped = droppedSoFar(c.dropped, decoded, c.arrived.Load(), queued)
	return defs.Status{
		ID: c.cfg.ID, URL: c.cfg.RedactedURL, State: c.state, FPS: c.fps,
		Frames: decoded, Inferred: c.handed.Load(), Dropped: c.dropped, DropRate: c.dropRate,
		Reconnects: c.reconnects, LastError: c.lastErr, LastErrorAt: c.lastErrAt, Since: c.since,
		Width: c.width, Height: c.height, Codec: c.info.Codec, GPU: c.cfg.GPU,
	}
}

// droppedSoFar is the drop counter: frames decoded that neither reached the sink nor wait in
// its queue, never less than the count already reported (prev). The counts are read one after
// the other while frames move, so their difference alone could dip by a frame or two, and a
// Prometheus counter must not go back.
func droppedSoFar(prev, decoded, arrived, queued uint64) uint64 {
	return max(prev, decoded-min(arrived+queued, decoded))
}

func (c *Camera) setState(s defs.State, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != s {
		c.state, c.since = s, time.Now()
	}
	if err != nil {
		c.lastErr, c.lastErrAt = err.Error(), time.Now()
	}
}

// HandleFrame implements elements.FrameHandler. It runs on the pipeline's streaming thread,
// where a panic (in the analyzer, say) would kill the process: it becomes this camera's fault
// instead, and the camera restarts with its usual backoff while the others go on.
func (c *Camera) HandleFrame(meta elements.FrameMeta, f *gst.MappedFrame) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = c.recoverFrame(r, meta, f)
		}
	}()
	return c.handleFrame(meta, f)
}

// recoverFrame releases the frame of a panicked HandleFrame, logs the panic with its stack,
// and reports it to the supervisor. The returned error also makes the sink stop the pipeline.
func (c *Camera) recoverFrame(r any, meta elements.FrameMeta, f *gst.MappedFrame) error {
	f.Unmap() // does nothing when the analyzer released the frame before panicking
	err := fmt.Errorf("frame %d: %w", meta.Index, elements.PanicError(r))
	c.log.Error("frame handler panicked, restarting the camera", "error", err, "stack", string(debug.Stack()))
	select {
	case c.faults <- err:
	default: // one is already waiting for the supervisor
	}
	return err
}

// handleFrame counts, thins to every Nth frame, and hands the frame to the analyzer.
func (c *Camera) handleFrame(meta elements.FrameMeta, f *gst.MappedFrame) error {
	c.arrived.Add(1)
	if c.width != f.Frame.Width || c.height != f.Frame.Height {
		c.mu.Lock()
		c.width, c.height = f.Frame.Width, f.Frame.Height
		c.mu.Unlock()
	}
	if meta.Index%uint64(c.cfg.EveryN) != 0 {
		f.Unmap()
		return nil
	}
	c.handed.Add(1)
	if p := c.live(); p != nil {
		if ago := p.DecodedAgo(meta.Index); ago > 0 {
			meta.Decoded = time.Now().Add(-ago)
		}
	}
	return c.analyzer.Analyze(c.cfg.ID, meta, f)
}

func (c *Camera) supervise(ctx context.Context) {
	defer close(c.done)
	handlerID := elements.AddHandler(c)
	defer elements.RemoveHandler(handlerID)
	r := newRetry(c.cfg.Backoff)
	first := true
	for {
		started, decoded := time.Now(), c.decodedBase
		err := c.runOnce(ctx, handlerID, first)
		first = false
		if ctx.Err() != nil {
			c.setState(defs.StateDisabled, nil)
			return
		}
		state, wait := r.next(err, c.decodedBase > decoded, time.Since(started) >= c.cfg.Backoff.StableAfter)
		if state == defs.StateUnauthorized {
			err = refusedError(c.cfg.RedactedURL, r.authFails, wait)
		}
		c.mu.Lock()
		c.reconnects++
		c.fps, c.dropRate = 0, 0
		c.mu.Unlock()
		c.setState(state, err)
		c.log.Warn("camera down, will retry", "state", state, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			c.setState(defs.StateDisabled, nil)
			return
		case <-time.After(wait):
		}
	}
}

// runOnce builds and runs one pipeline until it fails or ctx ends.
func (c *Camera) runOnce(ctx context.Context, handlerID uint64, first bool) error {
	if first {
		c.setState(defs.StateStarting, nil)
	}
	p, err := c.cfg.NewPipeline(PipelineSpec{
		Camera: c.cfg.ID, URL: c.cfg.URL, RedactedURL: c.cfg.RedactedURL, Transport: c.cfg.Transport,
		Latency: c.cfg.Latency, CUDA: c.cuda, QueueFrames: c.cfg.QueueFrames, HandlerID: handlerID,
		ViewerHandlerID: c.cfg.ViewerHandlerID, PassthroughHandlerID: c.cfg.PassthroughHandlerID,
		OnWarning: fatalWarning, Logger: c.log,
	})
	if err != nil {
		return err
	}
	base := c.decodedBase // only this goroutine writes it
	p.NumberFrom(base)    // frame numbers go on across reconnects, in results and in the viewer
	c.drainFaults()
	c.pipeline.Store(&p)
	defer c.retire(p)
	if err := p.Start(); err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	w := newWatch(c, p, base, time.Now())
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-p.Done():
			return c.handlerFault(err)
		case err := <-c.faults:
			return err
		case now := <-tick.C:
			if err := w.tick(now); err != nil {
				return err
			}
		}
	}
}

// live is the camera's running pipeline, or nil.
func (c *Camera) live() Pipeline {
	if p := c.pipeline.Load(); p != nil {
		return *p
	}
	return nil
}

// retire stops the camera's pipeline and adds its frames, the last ones decoded after the
// last tick included, to decodedBase: the next pipeline numbers its frames on from there.
func (c *Camera) retire(p Pipeline) {
	p.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.decodedBase = p.Decoded()
	c.current.Store(0)
	c.pipeline.Store(nil)
}

// handlerFault prefers a panic on the frame path to the pipeline error it caused (the sink
// posts it as a plain text error), so that the camera's error wraps elements.ErrHandlerPanic.
func (c *Camera) handlerFault(err error) error {
	select {
	case f := <-c.faults:
		return f
	default:
		return err
	}
}

// drainFaults forgets a fault a previous pipeline reported after its supervisor had moved on.
func (c *Camera) drainFaults() {
	select {
	case <-c.faults:
	default:
	}
}

// watchDrops feeds the drop window once a second: at each window's end it updates the drop
// rate shown by Status and warns when inference did not keep up.
func (c *Camera) watchDrops(w *dropWindow, now time.Time) {
	st := c.Status()
	rate, ended, warn := w.sample(now, st.Frames, st.Dropped)
	if !ended {
		return
	}
	c.mu.Lock()
	c.dropRate = rate
	c.mu.Unlock()
	if warn {
		c.log.Warn(dropWarning(rate, c.cfg.DropRemedy), "drop_rate", rate, "dropped", st.Dropped, "frames", st.Frames)
	}
}
