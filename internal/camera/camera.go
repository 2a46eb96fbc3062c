package camera

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

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
	QueueFrames int
	StatsEvery  int           // log a stats line every this many decoded frames
	Pace        bool          // file:// sources: play at the frame rate
	PaceDelay   time.Duration // and with this delay (see gst.CameraOptions)
	// ViewerHandlerID, when set, gives the pipeline a viewer branch feeding that handler.
	ViewerHandlerID uint64
	// DropRemedy tells the operator what to change when this camera drops frames before the
	// detector (it depends on the mode and device, which the camera does not know).
	DropRemedy string
}

// Backoff bounds for rebuilding a failed pipeline: 1 s doubling to 30 s, reset after a stable minute.
var (
	BackoffMin    = time.Second
	BackoffMax    = 30 * time.Second
	StableAfter   = time.Minute
	StallTimeout  = 10 * time.Second // no decoded frame for this long while running is a fault
	startDeadline = 20 * time.Second // no first frame within this long after start is a fault
)

// Camera supervises one camera: it builds the pipeline, watches it, and rebuilds it with
// exponential backoff after any fault (RTSP drop, EOS, timeout, decoder error). A camera's
// faults never touch another camera.
type Camera struct {
	cfg      Config
	analyzer Analyzer
	cuda     *gst.CUDAContext
	log      *slog.Logger

	mu         sync.Mutex
	state      State
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

	pipeline atomic.Pointer[gst.CameraPipeline] // the running pipeline, if any
	faults   chan error                         // a panic on the frame path, for the supervisor

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a stopped camera; Start runs it.
func New(cfg Config, analyzer Analyzer, cuda *gst.CUDAContext, log *slog.Logger) *Camera {
	if cfg.EveryN < 1 {
		cfg.EveryN = 1
	}
	if cfg.StatsEvery < 1 {
		cfg.StatsEvery = 100
	}
	return &Camera{cfg: cfg, analyzer: analyzer, cuda: cuda, log: log.With("camera", cfg.ID),
		state: StateStarting, since: time.Now(), faults: make(chan error, 1)}
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
func (c *Camera) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	decoded, queued := c.decodedBase+c.current.Load(), uint64(0)
	if p := c.pipeline.Load(); p != nil {
		decoded = p.Decoded() // numbered on from decodedBase; live, not the last once-a-second sample
		queued = p.Queued()
	}
	c.dropped = droppedSoFar(c.dropped, decoded, c.arrived.Load(), queued)
	return Status{
		ID: c.cfg.ID, URL: c.cfg.RedactedURL, State: c.state, FPS: c.fps,
		Frames: decoded, Inferred: c.handed.Load(), Dropped: c.dropped, DropRate: c.dropRate,
		Reconnects: c.reconnects, LastError: c.lastErr, LastErrorAt: c.lastErrAt, Since: c.since,
		Width: c.width, Height: c.height, Codec: c.info.Codec,
	}
}

// droppedSoFar is the drop counter: frames decoded that neither reached the sink nor wait in
// its queue, never less than the count already reported (prev). The counts are read one after
// the other while frames move, so their difference alone could dip by a frame or two, and a
// Prometheus counter must not go back.
func droppedSoFar(prev, decoded, arrived, queued uint64) uint64 {
	return max(prev, decoded-min(arrived+queued, decoded))
}

func (c *Camera) setState(s State, err error) {
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
	if p := c.pipeline.Load(); p != nil {
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
	r := newRetry()
	first := true
	for {
		started, decoded := time.Now(), c.decodedBase
		err := c.runOnce(ctx, handlerID, first)
		first = false
		if ctx.Err() != nil {
			c.setState(StateDisabled, nil)
			return
		}
		state, wait := r.next(err, c.decodedBase > decoded, time.Since(started) >= StableAfter)
		if state == StateUnauthorized {
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
			c.setState(StateDisabled, nil)
			return
		case <-time.After(wait):
		}
	}
}

// runOnce builds and runs one pipeline until it fails or ctx ends.
func (c *Camera) runOnce(ctx context.Context, handlerID uint64, first bool) error {
	if first {
		c.setState(StateStarting, nil)
	}
	p, err := gst.NewCameraPipeline(gst.CameraOptions{
		Camera: c.cfg.ID, URL: c.cfg.URL, RedactedURL: c.cfg.RedactedURL, Transport: c.cfg.Transport,
		Latency: c.cfg.Latency, CUDA: c.cuda, QueueFrames: c.cfg.QueueFrames, HandlerID: handlerID,
		Pace: c.cfg.Pace, PaceDelay: c.cfg.PaceDelay, ViewerHandlerID: c.cfg.ViewerHandlerID, Logger: c.log,
	})
	if err != nil {
		return err
	}
	base := c.decodedBase // only this goroutine writes it
	p.NumberFrom(base)    // frame numbers go on across reconnects, in results and in the viewer
	c.drainFaults()
	c.pipeline.Store(p)
	defer c.retire(p)
	if err := p.Start(); err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	var lastCount uint64
	lastTick := start
	nextLog := uint64(c.cfg.StatsEvery)
	running := false
	var drops dropWindow
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-p.Done():
			return c.handlerFault(err)
		case err := <-c.faults:
			return err
		case now := <-tick.C:
			n := p.Decoded() - base
			c.current.Store(n)
			c.mu.Lock()
			c.fps = float64(n-lastCount) / now.Sub(lastTick).Seconds()
			c.info = p.Info()
			c.mu.Unlock()
			lastCount, lastTick = n, now
			if !running && n > 0 {
				running = true
				c.setState(StateRunning, nil)
				c.log.Info("camera running", "url", c.cfg.RedactedURL, "codec", p.Info().Codec, "decoder", p.Info().Decoder)
			}
			c.watchDrops(&drops, now)
			if n >= nextLog {
				st := c.Status()
				c.log.Info("camera stats", "fps", fmt.Sprintf("%.1f", st.FPS), "frames", st.Frames,
					"inferred", st.Inferred, "dropped", st.Dropped, "size", fmt.Sprintf("%dx%d", st.Width, st.Height))
				nextLog = n + uint64(c.cfg.StatsEvery)
			}
			if running {
				if age := p.LastFrameAge(); age > StallTimeout {
					return fmt.Errorf("%w for %s", gst.ErrStall, age.Round(time.Second))
				}
			} else if time.Since(start) > startDeadline {
				return fmt.Errorf("%w: none decoded within %s of connecting", gst.ErrStall, startDeadline)
			}
		}
	}
}

// retire stops the camera's pipeline and adds its frames, the last ones decoded after the
// last tick included, to decodedBase: the next pipeline numbers its frames on from there.
func (c *Camera) retire(p *gst.CameraPipeline) {
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
