package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	info       gst.StreamInfo
	width      int
	height     int
	fps        float64
	reconnects uint64

	decodedBase uint64        // frames decoded by earlier pipelines of this camera
	current     atomic.Uint64 // frames decoded by the current pipeline
	handed      atomic.Uint64 // frames that reached the analyzer
	arrived     atomic.Uint64 // frames that reached the sink (the rest were dropped by the queue)
	dropped     uint64        // the highest drop count reported: a counter never goes back

	pipeline atomic.Pointer[gst.CameraPipeline] // the running pipeline, if any

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
		state: StateStarting, since: time.Now()}
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
	current, queued := c.current.Load(), uint64(0)
	if p := c.pipeline.Load(); p != nil {
		current = p.Decoded() // live, not the last once-a-second sample
		queued = p.Queued()
	}
	decoded := c.decodedBase + current
	c.dropped = droppedSoFar(c.dropped, decoded, c.arrived.Load(), queued)
	return Status{
		ID: c.cfg.ID, URL: c.cfg.RedactedURL, State: c.state, FPS: c.fps,
		Frames: decoded, Inferred: c.handed.Load(), Dropped: c.dropped,
		Reconnects: c.reconnects, LastError: c.lastErr, Since: c.since,
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
		c.lastErr = err.Error()
	}
}

// HandleFrame implements elements.FrameHandler: counts, thins to every Nth frame, hands over.
func (c *Camera) HandleFrame(meta elements.FrameMeta, f *gst.MappedFrame) error {
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

// isPermanent tells faults that retrying soon will not fix (missing plugin, unsupported codec).
func isPermanent(err error) bool {
	return errors.Is(err, gst.ErrMissingElement) || errors.Is(err, gst.ErrCodec)
}

func (c *Camera) supervise(ctx context.Context) {
	defer close(c.done)
	handlerID := elements.AddHandler(c)
	defer elements.RemoveHandler(handlerID)
	backoff := BackoffMin
	first := true
	for {
		started := time.Now()
		err := c.runOnce(ctx, handlerID, first)
		first = false
		if ctx.Err() != nil {
			c.setState(StateDisabled, nil)
			return
		}
		if time.Since(started) >= StableAfter {
			backoff = BackoffMin
		}
		state := StateReconnecting
		if isPermanent(err) {
			state = StateFailed
			backoff = BackoffMax
		}
		c.mu.Lock()
		c.reconnects++
		c.fps = 0
		c.mu.Unlock()
		c.setState(state, err)
		c.log.Warn("camera down, will retry", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			c.setState(StateDisabled, nil)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, BackoffMax)
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
	c.pipeline.Store(p)
	defer func() {
		c.pipeline.Store(nil)
		p.Stop()
		c.mu.Lock()
		c.decodedBase += c.current.Swap(0)
		c.mu.Unlock()
	}()
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
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-p.Done():
			return err
		case now := <-tick.C:
			n := p.Decoded()
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
