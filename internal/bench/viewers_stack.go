package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/simulate"
)

// stack is the system under test: the simulator and gstvision, in this process.
type stack struct {
	sim    *simulate.Server
	app    *app.App
	base   string
	logs   *encoderLog
	cams   []string
	cancel context.CancelFunc
	done   chan error
	closed bool
}

// startStack starts cams simulated w×h cameras and gstvision (cpu mode) watching them with
// latency_ms latencyMS, and returns once every camera decodes.
func startStack(ctx context.Context, o *ViewerOptions, rep *ViewerReport, cams, w, h, latencyMS int, onFrame func(cam, n int, at time.Time)) (*stack, error) {
	sim, err := simulate.Start(ctx, simulate.Options{Cameras: cams, Listen: "127.0.0.1:0", Width: w, Height: h,
		BFrames: o.SimBFrames, Logger: o.Logger, OnFrame: onFrame})
	if err != nil {
		return nil, fmt.Errorf("%w: simulator: %w", ErrViewerBench, err)
	}
	cfg, err := stackConfig(o, sim, cams, latencyMS)
	if err != nil {
		sim.Close()
		return nil, err
	}
	st := &stack{sim: sim, logs: newEncoderLog(o.Logger.Handler()), done: make(chan error, 1)}
	for _, c := range cfg.Cameras {
		st.cams = append(st.cams, c.ID)
	}
	a, err := app.New(cfg, slog.New(st.logs))
	if err != nil {
		sim.Close()
		return nil, fmt.Errorf("%w: %w", ErrViewerBench, err)
	}
	st.app = a
	if rep.Encoder == "" {
		rep.GStreamer = gst.Version()
		rep.Model = filepath.Base(cfg.Inference.Model)
		rep.Encoder, _ = gst.ChooseEncoder(cfg.WebRTC.Encoder)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	go func() { st.done <- a.Run(runCtx) }()
	if err := st.waitServing(); err != nil {
		st.close()
		return nil, err
	}
	if err := st.waitDecoding(ctx); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// stackConfig is gstvision's configuration for the benchmark: cpu mode on loopback, quiet,
// cameras cam1… on the simulator's streams.
func stackConfig(o *ViewerOptions, sim *simulate.Server, cams, latencyMS int) (*config.Config, error) {
	cfg := config.Default()
	cfg.Device = config.DeviceCPU
	cfg.Server.Listen = "127.0.0.1:0"
	var err error
	if cfg.Inference.Model, err = filepath.Abs(o.Model); err != nil {
		return nil, fmt.Errorf("%w: model path: %w", ErrViewerBench, err)
	}
	cfg.Inference.Labels = ""
	if o.Labels != "" {
		if cfg.Inference.Labels, err = filepath.Abs(o.Labels); err != nil {
			return nil, fmt.Errorf("%w: labels path: %w", ErrViewerBench, err)
		}
	}
	cfg.Inference.ONNXRuntimeLibrary = o.ORTLibrary
	cfg.Processing.StatsEveryFrames = 1 << 30 // quiet
	for i := 1; i <= cams; i++ {
		lat := latencyMS
		cfg.Cameras = append(cfg.Cameras, config.Camera{ID: fmt.Sprintf("cam%d", i), URL: sim.URL(i), Transport: "tcp", LatencyMS: &lat})
	}
	return cfg, nil
}

// waitServing waits up to 15 s for gstvision to listen, and sets base.
func (s *stack) waitServing() error {
	deadline := time.Now().Add(15 * time.Second)
	for s.app.Server().Addr() == nil {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("%w: gstvision stopped before serving: %w", ErrViewerBench, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: gstvision did not listen within 15 s", ErrViewerBench)
		}
	}
	s.base = "http://" + s.app.Server().Addr().String()
	return nil
}

// waitDecoding waits up to 30 s for every camera to run and decode.
func (s *stack) waitDecoding(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range s.cams {
		for {
			st, ok := s.app.Cameras().Get(id)
			if ok && st.State == defs.StateRunning && st.Frames > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: camera %s not running within 30 s (state %s, error %q)", ErrViewerBench, id, st.State, st.LastError)
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// close stops gstvision (waiting for Run to return) and the simulator.
func (s *stack) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.cancel != nil {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: gstvision run: %w", ErrViewerBench, err))
			}
		case <-time.After(20 * time.Second):
			errs = append(errs, fmt.Errorf("%w: gstvision did not stop within 20 s", ErrViewerBench))
		}
	}
	if err := s.sim.Close(); err != nil {
		errs = append(errs, fmt.Errorf("%w: simulator close: %w", ErrViewerBench, err))
	}
	return errors.Join(errs...)
}

// window is one measured interval.
type window struct {
	seconds   float64
	cpu       float64 // process CPU, 100 = one core
	camFPSMin float64
	encMax    int // encoders running at once, most seen
	encNow    int
	load      float64
	pool      *poolStats
}

// measure measures the process for d, with pool's viewers when pool is not nil.
func (s *stack) measure(ctx context.Context, pool viewerPool, d time.Duration) (*window, error) {
	frames0 := s.frames()
	s.logs.resetMax()
	if pool != nil {
		if err := pool.begin(ctx); err != nil {
			return nil, err
		}
	}
	cpu0, t0 := cpuTime(), time.Now()
	err := sleepCtx(ctx, d)
	cpu1, t1 := cpuTime(), time.Now()
	w := &window{seconds: t1.Sub(t0).Seconds(), encMax: s.logs.maxRunning(), encNow: s.logs.runningAll(), load: loadAvg()[0]}
	w.cpu = 100 * (cpu1 - cpu0).Seconds() / w.seconds
	if pool != nil {
		ps, perr := pool.end(ctx)
		if perr != nil {
			return nil, perr
		}
		w.pool = ps
	}
	if err != nil {
		return nil, err
	}
	frames1 := s.frames()
	w.camFPSMin = -1
	for i := range frames1 {
		fps := float64(frames1[i]-frames0[i]) / w.seconds
		if w.camFPSMin < 0 || fps < w.camFPSMin {
			w.camFPSMin = fps
		}
	}
	return w, nil
}

// frames is each camera's decoded-frame counter.
func (s *stack) frames() []uint64 {
	out := make([]uint64, len(s.cams))
	for i, id := range s.cams {
		if st, ok := s.app.Cameras().Get(id); ok {
			out[i] = st.Frames
		}
	}
	return out
}

// waitEncoders waits until n encoders run (all cameras together), up to timeout.
func (s *stack) waitEncoders(ctx context.Context, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for s.logs.runningAll() != n {
		if time.Now().After(deadline) || sleepCtx(ctx, 50*time.Millisecond) != nil {
			return false
		}
	}
	return true
}
