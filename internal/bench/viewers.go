package bench

// The viewer benchmarks (gstvision bench-viewers): simulated RTSP cameras and gstvision run in
// this process, WHEP viewers (pion) watch the annotated video, and three things are measured:
//
//  1. glass-to-glass latency: from the moment the simulator starts producing frame n (its
//     real-time schedule, reported by simulate.Options.OnFrame) to the moment a viewer has
//     received the complete access unit of the picture that shows frame n, and to the moment
//     the viewer has decoded it. The frame is identified by decoding the received video
//     (appsrc → h264parse → avdec_h264 → appsink) and matching each picture against
//     Scene.RenderI420(n) by mean luma difference;
//  2. the CPU cost of an encoded camera: process CPU (getrusage) with the cameras analysed and
//     no viewer, then with one viewer per camera (drawing + x264 encoding + WebRTC sending);
//  3. many viewers of one camera: every viewer's received frame rate and the number of
//     encoders that ran, which must be one.
//
// For 2 and 3 the viewers run in a separate process (ViewerOptions.ClientCommand), so that
// their own receiving cost is not counted in gstvision's CPU.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	gstapp "github.com/go-gst/go-gst/gst/app"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/loopback"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/simulate"
)

// ErrViewerBench wraps every error of the viewer benchmarks.
var ErrViewerBench = errors.New("bench-viewers")

// CPUCase is one configuration of the CPU benchmark.
type CPUCase struct {
	Cameras       int `json:"cameras"`
	Width, Height int
}

// ViewerOptions select the viewer benchmarks. Zero values take the defaults in brackets.
type ViewerOptions struct {
	Model      string // ONNX model [models/blocks.onnx]
	Labels     string // labels file ["" = the model's classN or COCO]
	ORTLibrary string

	Latency         bool          // run the glass-to-glass latency benchmark
	LatencyMS       []int         // cameras' latency_ms values to measure [200, 50, 0]
	LatencyWidth    int           // [1280]
	LatencyHeight   int           // [720]
	LatencyDuration time.Duration // measured per value [15 s]
	SimBFrames      int           // simulated cameras' B-frames [simulator default: 2]; -1: none
	LatencyRounds   int           // rounds over LatencyMS, each value measured once a round, results pooled [1]

	CPU         bool          // run the CPU-per-encoded-camera benchmark
	CPUCases    []CPUCase     // [1 and 2 cameras at 640x360, 1 at 1280x720]
	CPUDuration time.Duration // each window [20 s]
	CPURounds   int           // viewer windows per case, each between idle windows [1]

	Fanout         bool // run the many-viewers benchmark
	FanoutViewers  int  // [20]
	FanoutWidth    int  // [640]
	FanoutHeight   int  // [360]
	FanoutDuration time.Duration
	SkipIdle       bool // fanout: skip the no-viewer window (short tests)

	Warmup time.Duration // cameras running, before the first window [5 s]
	Settle time.Duration // after viewers joined, before their window [3 s]

	// ClientCommand starts a process that runs the WHEP viewers of the CPU and fanout
	// benchmarks (it must call ClientsMain on its stdin and stdout); empty runs them in this
	// process, where their receiving cost adds to the measured CPU.
	ClientCommand []string
	ClientEnv     []string // extra environment of ClientCommand

	Logger   *slog.Logger
	Progress io.Writer // progress lines [discarded]
}

func (o *ViewerOptions) setDefaults() {
	if o.Model == "" {
		o.Model = "models/blocks.onnx"
	}
	if len(o.LatencyMS) == 0 {
		o.LatencyMS = []int{200, 50, 0}
	}
	if o.LatencyWidth == 0 || o.LatencyHeight == 0 {
		o.LatencyWidth, o.LatencyHeight = 1280, 720
	}
	if o.LatencyDuration <= 0 {
		o.LatencyDuration = 15 * time.Second
	}
	if o.LatencyRounds <= 0 {
		o.LatencyRounds = 1
	}
	if len(o.CPUCases) == 0 {
		o.CPUCases = []CPUCase{{1, 640, 360}, {2, 640, 360}, {1, 1280, 720}}
	}
	if o.CPUDuration <= 0 {
		o.CPUDuration = 20 * time.Second
	}
	if o.CPURounds <= 0 {
		o.CPURounds = 1
	}
	if o.FanoutViewers <= 0 {
		o.FanoutViewers = 20
	}
	if o.FanoutWidth == 0 || o.FanoutHeight == 0 {
		o.FanoutWidth, o.FanoutHeight = 640, 360
	}
	if o.FanoutDuration <= 0 {
		o.FanoutDuration = 20 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = 5 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// ViewerReport is what RunViewers measured.
type ViewerReport struct {
	Date       string          `json:"date"`
	Host       string          `json:"host"`
	CPUModel   string          `json:"cpu_model"`
	CPUs       int             `json:"cpus"`
	GStreamer  string          `json:"gstreamer"`
	Encoder    string          `json:"encoder"`
	Model      string          `json:"model"`
	Clients    string          `json:"clients"` // where the CPU and fanout viewers ran
	LoadStart  [3]float64      `json:"load_avg_start"`
	LoadEnd    [3]float64      `json:"load_avg_end"`
	Latency    []LatencyResult `json:"latency,omitempty"`
	CPU        []CPUResult     `json:"cpu,omitempty"`
	Fanout     *FanoutResult   `json:"fanout,omitempty"`
	Wall       float64         `json:"wall_seconds"`
	Problems   []string        `json:"problems,omitempty"` // anything that makes a figure suspect
	problemsMu sync.Mutex
}

func (r *ViewerReport) problem(format string, args ...any) {
	r.problemsMu.Lock()
	defer r.problemsMu.Unlock()
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	Max float64 `json:"max_ms"`
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return Percentiles{N: len(s), P50: pct(s, 0.50), P95: pct(s, 0.95), Max: float64(s[len(s)-1]) / 1e6}
}

// LatencyResult is one latency_ms setting's glass-to-glass latency.
type LatencyResult struct {
	LatencyMS  int         `json:"latency_ms"`
	Size       string      `json:"size"`
	SimBFrames int         `json:"sim_bframes"`
	Rounds     int         `json:"rounds"`   // runs pooled
	Seconds    float64     `json:"seconds"`  // measured, all rounds
	Received   int         `json:"received"` // complete access units received in the window
	Decoded    int         `json:"decoded"`  // pictures the viewer decoded
	Matched    int         `json:"matched"`  // pictures identified as a simulator frame
	FPS        float64     `json:"fps"`      // received access units per second
	LostPkts   uint64      `json:"lost_packets"`
	ReceivedMs Percentiles `json:"produced_to_received"` // frame produced → its access unit received
	DecodedMs  Percentiles `json:"produced_to_decoded"`  // frame produced → decoded by the viewer
	// frame produced → its detections published by gstvision (no viewer path)
	DetectionsMs      Percentiles `json:"produced_to_detections"`
	DetectionsMatched float64     `json:"detections_matched"` // share of results matching the ground truth
	MatchDiff         float64     `json:"match_luma_diff"`    // mean luma difference of the matches
	MatchMargin       float64     `json:"match_margin"`       // mean next-best (≥ 3 frames away) / best difference
	CPUPercent        float64     `json:"cpu_percent"`        // whole process, viewer and its decoder included (mean of rounds)
	LoadAvg           float64     `json:"load_avg_1m"`        // at the end of each round, mean
}

// CPUResult is one CPU case: the process CPU with and without one viewer per camera.
type CPUResult struct {
	Cameras   int     `json:"cameras"`
	Size      string  `json:"size"`
	Seconds   float64 `json:"seconds"`            // per window
	Rounds    int     `json:"rounds"`             // viewer windows, each between two idle windows
	IdleCPU   float64 `json:"idle_cpu_percent"`   // mean of the idle windows
	ViewerCPU float64 `json:"viewer_cpu_percent"` // mean of the viewer windows
	// (viewer window − mean of the idle windows either side) / cameras, mean of the rounds:
	// drawing + encoding + sending; and its smallest and largest value
	PerCameraCPU  float64 `json:"per_camera_cpu_percent"`
	PerCameraMin  float64 `json:"per_camera_cpu_percent_min"`
	PerCameraMax  float64 `json:"per_camera_cpu_percent_max"`
	CameraFPSMin  float64 `json:"camera_fps_min"` // decoded frames/s of the slowest camera, viewer window
	ViewerFPSMin  float64 `json:"viewer_fps_min"`
	ViewerFPSMean float64 `json:"viewer_fps_mean"`
	Encoders      int     `json:"encoders_running_max"` // x264 encoders running at once, viewer window
	ClientCPU     float64 `json:"client_cpu_percent"`   // the viewers' process (not in the above), -1 unknown
	LostPkts      uint64  `json:"lost_packets"`
	LoadAvg       float64 `json:"load_avg_1m"`
}

// FanoutResult is the many-viewers-of-one-camera run.
type FanoutResult struct {
	Camera         string    `json:"camera"`
	Size           string    `json:"size"`
	Viewers        int       `json:"viewers"`
	Seconds        float64   `json:"seconds"` // per window
	IdleCPU        float64   `json:"idle_cpu_percent"`
	OneCPU         float64   `json:"one_viewer_cpu_percent"`
	ManyCPU        float64   `json:"many_viewers_cpu_percent"`
	PerExtraViewer float64   `json:"cpu_percent_per_extra_viewer"`
	OneFPS         float64   `json:"one_viewer_fps"`
	CameraFPS      float64   `json:"camera_fps"` // decoded frames/s of the camera, many-viewers window
	FPSMin         float64   `json:"viewer_fps_min"`
	FPSMean        float64   `json:"viewer_fps_mean"`
	ViewerFPS      []float64 `json:"viewer_fps"`
	ViewersWithout int       `json:"viewers_without_frames"`
	EncoderStarts  int       `json:"encoder_starts"`       // over the whole run
	EncodersMax    int       `json:"encoders_running_max"` // at once, many-viewers window
	EncodersNow    int       `json:"encoders_running_end"` // at the end of the many-viewers window
	ClientCPU      float64   `json:"client_cpu_percent"`   // the viewers' process, many window; -1 unknown
	LostPkts       uint64    `json:"lost_packets"`
	LoadAvg        float64   `json:"load_avg_1m"`
}

// RunViewers runs the selected viewer benchmarks one after the other, each on its own simulator
// and gstvision.
func RunViewers(ctx context.Context, o ViewerOptions) (*ViewerReport, error) {
	o.setDefaults()
	if !o.Latency && !o.CPU && !o.Fanout {
		return nil, fmt.Errorf("%w: nothing selected", ErrViewerBench)
	}
	t0 := time.Now()
	rep := &ViewerReport{Date: t0.UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), CPUModel: cpuModel(),
		LoadStart: loadAvg(), Clients: "in-process"}
	rep.Host, _ = os.Hostname()
	if len(o.ClientCommand) > 0 {
		rep.Clients = "separate process"
	}
	if o.Latency {
		// round-robin over the values, so that a change of the machine's load hits them alike
		pooled := make([]*latencySamples, len(o.LatencyMS))
		for round := 1; round <= o.LatencyRounds; round++ {
			for i, ms := range o.LatencyMS {
				fmt.Fprintf(o.Progress, "latency: round %d/%d, latency_ms=%d, %dx%d, %v\n", round, o.LatencyRounds, ms,
					o.LatencyWidth, o.LatencyHeight, o.LatencyDuration)
				smp, err := runLatency(ctx, &o, rep, ms)
				if err != nil {
					return rep, err
				}
				pooled[i] = pooled[i].merge(smp)
			}
		}
		for _, p := range pooled {
			rep.Latency = append(rep.Latency, p.result())
		}
	}
	if o.CPU {
		for _, c := range o.CPUCases {
			fmt.Fprintf(o.Progress, "cpu: %d camera(s) at %dx%d, %v windows\n", c.Cameras, c.Width, c.Height, o.CPUDuration)
			r, err := runCPUCase(ctx, &o, rep, c)
			if err != nil {
				return rep, err
			}
			rep.CPU = append(rep.CPU, *r)
		}
	}
	if o.Fanout {
		fmt.Fprintf(o.Progress, "fanout: %d viewers of cam1 at %dx%d, %v windows\n", o.FanoutViewers, o.FanoutWidth, o.FanoutHeight, o.FanoutDuration)
		r, err := runFanout(ctx, &o, rep)
		if err != nil {
			return rep, err
		}
		rep.Fanout = r
	}
	rep.LoadEnd = loadAvg()
	rep.Wall = time.Since(t0).Seconds()
	return rep, nil
}

// ---- the system under test: simulator + gstvision, in this process ----

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

func startStack(ctx context.Context, o *ViewerOptions, rep *ViewerReport, cams, w, h, latencyMS int, onFrame func(cam, n int, at time.Time)) (*stack, error) {
	sim, err := simulate.Start(ctx, simulate.Options{Cameras: cams, Listen: "127.0.0.1:0", Width: w, Height: h,
		BFrames: o.SimBFrames, Logger: o.Logger, OnFrame: onFrame})
	if err != nil {
		return nil, fmt.Errorf("%w: simulator: %w", ErrViewerBench, err)
	}
	cfg := config.Default()
	cfg.Device = "cpu"
	cfg.Server.Listen = "127.0.0.1:0"
	if cfg.Inference.Model, err = filepath.Abs(o.Model); err != nil {
		sim.Close()
		return nil, fmt.Errorf("%w: model path: %w", ErrViewerBench, err)
	}
	cfg.Inference.Labels = ""
	if o.Labels != "" {
		if cfg.Inference.Labels, err = filepath.Abs(o.Labels); err != nil {
			sim.Close()
			return nil, fmt.Errorf("%w: labels path: %w", ErrViewerBench, err)
		}
	}
	cfg.Inference.ONNXRuntimeLibrary = o.ORTLibrary
	cfg.Processing.StatsEveryFrames = 1 << 30 // quiet
	st := &stack{sim: sim, logs: newEncoderLog(o.Logger.Handler()), done: make(chan error, 1)}
	for i := 1; i <= cams; i++ {
		lat := latencyMS
		id := fmt.Sprintf("cam%d", i)
		st.cams = append(st.cams, id)
		cfg.Cameras = append(cfg.Cameras, config.Camera{ID: id, URL: sim.URL(i), Transport: "tcp", LatencyMS: &lat})
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
	deadline := time.Now().Add(15 * time.Second)
	for a.Server().Addr() == nil {
		select {
		case err := <-st.done:
			st.done <- err
			st.close()
			return nil, fmt.Errorf("%w: gstvision stopped before serving: %w", ErrViewerBench, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			st.close()
			return nil, fmt.Errorf("%w: gstvision did not listen within 15 s", ErrViewerBench)
		}
	}
	st.base = "http://" + a.Server().Addr().String()
	deadline = time.Now().Add(30 * time.Second)
	for _, id := range st.cams {
		for {
			s, ok := a.Cameras().Get(id)
			if ok && s.State == camera.StateRunning && s.Frames > 0 {
				break
			}
			if time.Now().After(deadline) {
				st.close()
				return nil, fmt.Errorf("%w: camera %s not running within 30 s (state %s, error %q)", ErrViewerBench, id, s.State, s.LastError)
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				st.close()
				return nil, err
			}
		}
	}
	return st, nil
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

// encoderLog is a slog.Handler that counts the viewer's "viewer encoding started/stopped"
// records per camera (one x264 pipeline each) and passes every record on to next.
type encoderLog struct {
	next  slog.Handler
	attrs []slog.Attr
	st    *encoderCounts
}

type encoderCounts struct {
	mu      sync.Mutex
	started map[string]int
	stopped map[string]int
	max     int // most encoders running at once since resetMax
}

func newEncoderLog(next slog.Handler) *encoderLog {
	return &encoderLog{next: next, st: &encoderCounts{started: map[string]int{}, stopped: map[string]int{}}}
}

func (l *encoderLog) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelInfo || l.next.Enabled(ctx, lv)
}

func (l *encoderLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "viewer encoding started" || r.Message == "viewer encoding stopped" {
		cam := ""
		for _, a := range l.attrs {
			if a.Key == "camera" {
				cam = a.Value.String()
			}
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "camera" {
				cam = a.Value.String()
			}
			return true
		})
		c := l.st
		c.mu.Lock()
		if r.Message == "viewer encoding started" {
			c.started[cam]++
		} else {
			c.stopped[cam]++
		}
		c.max = max(c.max, c.runningLocked())
		c.mu.Unlock()
	}
	if l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}

func (l *encoderLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &encoderLog{next: l.next.WithAttrs(attrs), attrs: append(append([]slog.Attr(nil), l.attrs...), attrs...), st: l.st}
}

func (l *encoderLog) WithGroup(name string) slog.Handler {
	return &encoderLog{next: l.next.WithGroup(name), attrs: l.attrs, st: l.st}
}

func (c *encoderCounts) runningLocked() int {
	n := 0
	for cam, s := range c.started {
		n += s - c.stopped[cam]
	}
	return n
}

func (l *encoderLog) runningAll() int {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	return l.st.runningLocked()
}

func (l *encoderLog) starts(cam string) int {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	return l.st.started[cam]
}

func (l *encoderLog) maxRunning() int {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	return l.st.max
}

func (l *encoderLog) resetMax() {
	l.st.mu.Lock()
	l.st.max = l.st.runningLocked()
	l.st.mu.Unlock()
}

// ---- 2. CPU per encoded camera ----

func runCPUCase(ctx context.Context, o *ViewerOptions, rep *ViewerReport, c CPUCase) (*CPUResult, error) {
	st, err := startStack(ctx, o, rep, c.Cameras, c.Width, c.Height, config.DefaultLatencyMS, nil)
	if err != nil {
		return nil, err
	}
	defer st.close()
	res := &CPUResult{Cameras: c.Cameras, Size: fmt.Sprintf("%dx%d", c.Width, c.Height), ClientCPU: -1, Rounds: o.CPURounds}
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return nil, err
	}
	// idle, viewers, idle, viewers, …, idle: each viewer window is compared with the idle
	// windows on either side of it, so that a drift of the machine's load cancels out
	idle, err := st.measure(ctx, nil, o.CPUDuration)
	if err != nil {
		return nil, err
	}
	idles := []float64{idle.cpu}
	var busies []*window
	res.PerCameraMin, res.PerCameraMax = math.Inf(1), math.Inf(-1)
	for round := 1; round <= o.CPURounds; round++ {
		busy, err := cpuViewerWindow(ctx, o, st)
		if err != nil {
			return nil, err
		}
		busies = append(busies, busy)
		if !st.waitEncoders(ctx, 0, 10*time.Second) {
			rep.problem("cpu %d×%s: encoders still running 10 s after the viewers left", c.Cameras, res.Size)
		}
		if err := sleepCtx(ctx, o.Settle); err != nil {
			return nil, err
		}
		after, err := st.measure(ctx, nil, o.CPUDuration)
		if err != nil {
			return nil, err
		}
		idles = append(idles, after.cpu)
		cost := (busy.cpu - (idles[round-1]+idles[round])/2) / float64(c.Cameras)
		res.PerCameraCPU += cost / float64(o.CPURounds)
		res.PerCameraMin, res.PerCameraMax = min(res.PerCameraMin, cost), max(res.PerCameraMax, cost)
		res.ViewerCPU += busy.cpu / float64(o.CPURounds)
	}
	for _, v := range idles {
		res.IdleCPU += v / float64(len(idles))
	}
	res.Seconds = busies[0].seconds
	res.CameraFPSMin, res.ViewerFPSMin, res.ClientCPU = math.Inf(1), math.Inf(1), 0
	for _, b := range busies {
		lo, mean := minMean(b.pool.fps())
		res.CameraFPSMin, res.ViewerFPSMin = min(res.CameraFPSMin, b.camFPSMin), min(res.ViewerFPSMin, lo)
		res.ViewerFPSMean += mean / float64(len(busies))
		res.Encoders = max(res.Encoders, b.encMax)
		res.LostPkts += b.pool.lost()
		res.LoadAvg += b.load / float64(len(busies))
		if b.pool.CPUPercent < 0 || res.ClientCPU < 0 {
			res.ClientCPU = -1
		} else {
			res.ClientCPU += b.pool.CPUPercent / float64(len(busies))
		}
	}
	if res.Encoders != c.Cameras {
		rep.problem("cpu %d×%s: %d encoders ran at once, want %d", c.Cameras, res.Size, res.Encoders, c.Cameras)
	}
	if res.ViewerFPSMin <= 0 {
		rep.problem("cpu %d×%s: a viewer received no frame", c.Cameras, res.Size)
	}
	return res, st.close()
}

// cpuViewerWindow connects one viewer to each camera, measures, and lets them go.
func cpuViewerWindow(ctx context.Context, o *ViewerOptions, st *stack) (*window, error) {
	pool, err := newPool(ctx, o)
	if err != nil {
		return nil, err
	}
	for _, id := range st.cams {
		if err := pool.add(ctx, st.base, id, 1); err != nil {
			pool.close()
			return nil, err
		}
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		pool.close()
		return nil, err
	}
	busy, err := st.measure(ctx, pool, o.CPUDuration)
	if cerr := pool.close(); err == nil && cerr != nil {
		err = cerr
	}
	return busy, err
}

// ---- 3. many viewers of one camera ----

func runFanout(ctx context.Context, o *ViewerOptions, rep *ViewerReport) (*FanoutResult, error) {
	st, err := startStack(ctx, o, rep, 1, o.FanoutWidth, o.FanoutHeight, config.DefaultLatencyMS, nil)
	if err != nil {
		return nil, err
	}
	defer st.close()
	cam := st.cams[0]
	res := &FanoutResult{Camera: cam, Size: fmt.Sprintf("%dx%d", o.FanoutWidth, o.FanoutHeight), Viewers: o.FanoutViewers,
		IdleCPU: -1, ClientCPU: -1}
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return nil, err
	}
	if !o.SkipIdle {
		idle, err := st.measure(ctx, nil, o.FanoutDuration)
		if err != nil {
			return nil, err
		}
		res.IdleCPU = idle.cpu
	}
	pool, err := newPool(ctx, o)
	if err != nil {
		return nil, err
	}
	defer pool.close()
	if err := pool.add(ctx, st.base, cam, 1); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		return nil, err
	}
	one, err := st.measure(ctx, pool, o.FanoutDuration)
	if err != nil {
		return nil, err
	}
	res.OneCPU = one.cpu
	if f := one.pool.fps(); len(f) > 0 {
		res.OneFPS = f[0]
	}
	if o.FanoutViewers > 1 {
		if err := pool.add(ctx, st.base, cam, o.FanoutViewers-1); err != nil {
			return nil, err
		}
		if err := sleepCtx(ctx, o.Settle); err != nil {
			return nil, err
		}
	}
	many, err := st.measure(ctx, pool, o.FanoutDuration)
	if err != nil {
		return nil, err
	}
	res.Seconds = many.seconds
	res.ManyCPU, res.CameraFPS = many.cpu, many.camFPSMin
	if o.FanoutViewers > 1 {
		res.PerExtraViewer = (many.cpu - one.cpu) / float64(o.FanoutViewers-1)
	}
	res.ViewerFPS = many.pool.fps()
	res.FPSMin, res.FPSMean = minMean(res.ViewerFPS)
	for _, v := range many.pool.Viewers {
		if v.AUs == 0 {
			res.ViewersWithout++
		}
	}
	res.EncoderStarts = st.logs.starts(cam)
	res.EncodersMax, res.EncodersNow = many.encMax, many.encNow
	res.ClientCPU, res.LostPkts, res.LoadAvg = many.pool.CPUPercent, many.pool.lost(), many.load
	if res.EncoderStarts != 1 || res.EncodersMax != 1 {
		rep.problem("fanout: %d encoder starts, %d running at once; want 1 and 1", res.EncoderStarts, res.EncodersMax)
	}
	if res.ViewersWithout > 0 || len(res.ViewerFPS) != o.FanoutViewers {
		rep.problem("fanout: %d of %d viewers received no frame", res.ViewersWithout+o.FanoutViewers-len(res.ViewerFPS), o.FanoutViewers)
	}
	if err := pool.close(); err != nil {
		return nil, err
	}
	return res, st.close()
}

func minMean(v []float64) (lo, mean float64) {
	if len(v) == 0 {
		return 0, 0
	}
	lo = v[0]
	for _, x := range v {
		lo = min(lo, x)
		mean += x
	}
	return lo, mean / float64(len(v))
}

// ---- WHEP viewers ----

// loopbackAPI is a pion API for viewers that use only 127.0.0.1.
func loopbackAPI() (*pion.API, error) {
	api, err := loopback.API()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrViewerBench, err)
	}
	return api, nil
}

// whepViewer is one WHEP session: a recvonly pion peer connection that counts complete access
// units (RTP packets with the marker bit) and, when onAU is set, reassembles them.
type whepViewer struct {
	camera   string
	base     string
	location string
	httpc    *http.Client
	pc       *pion.PeerConnection
	onAU     func(au []byte, at time.Time, damaged bool)

	aus, bytes, lost atomic.Uint64
	first            chan struct{}
	firstOnce        sync.Once
}

func dialViewer(ctx context.Context, api *pion.API, httpc *http.Client, base, cam string, onAU func([]byte, time.Time, bool)) (*whepViewer, error) {
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("%w: peer connection: %w", ErrViewerBench, err)
	}
	v := &whepViewer{camera: cam, base: base, httpc: httpc, pc: pc, onAU: onAU, first: make(chan struct{})}
	fail := func(err error) (*whepViewer, error) {
		_ = pc.Close()
		return nil, err
	}
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo,
		pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		return fail(fmt.Errorf("%w: transceiver: %w", ErrViewerBench, err))
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) { v.read(tr) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: offer: %w", ErrViewerBench, err))
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(fmt.Errorf("%w: local description: %w", ErrViewerBench, err))
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return fail(fmt.Errorf("%w: ICE gathering took over 10 s", ErrViewerBench))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/whep/"+cam, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(fmt.Errorf("%w: WHEP request: %w", ErrViewerBench, err))
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := httpc.Do(req)
	if err != nil {
		return fail(fmt.Errorf("%w: POST /whep/%s: %w", ErrViewerBench, cam, err))
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fail(fmt.Errorf("%w: POST /whep/%s: reading answer: %w", ErrViewerBench, cam, err))
	}
	if resp.StatusCode != http.StatusCreated {
		return fail(fmt.Errorf("%w: POST /whep/%s: %s: %s", ErrViewerBench, cam, resp.Status, strings.TrimSpace(string(body))))
	}
	v.location = resp.Header.Get("Location")
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return fail(fmt.Errorf("%w: applying the answer: %w", ErrViewerBench, err))
	}
	return v, nil
}

func (v *whepViewer) read(tr *pion.TrackRemote) {
	var depack codecs.H264Packet
	var cur []byte
	var lastSeq uint16
	started, damaged := false, false
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if started && pkt.SequenceNumber != lastSeq+1 {
			v.lost.Add(uint64(pkt.SequenceNumber - lastSeq - 1))
			damaged = true
		}
		started, lastSeq = true, pkt.SequenceNumber
		v.bytes.Add(uint64(len(pkt.Payload)))
		if v.onAU != nil {
			if data, err := depack.Unmarshal(pkt.Payload); err == nil {
				cur = append(cur, data...)
			}
		}
		if pkt.Marker {
			now := time.Now()
			v.aus.Add(1)
			v.firstOnce.Do(func() { close(v.first) })
			if v.onAU != nil && len(cur) > 0 {
				v.onAU(cur, now, damaged)
			}
			cur, damaged = nil, false
		}
	}
}

// close ends the session (DELETE) and the peer connection.
func (v *whepViewer) close() error {
	var err error
	if loc := v.location; loc != "" {
		v.location = ""
		req, rerr := http.NewRequest(http.MethodDelete, v.base+loc, nil)
		if rerr == nil {
			resp, derr := v.httpc.Do(req)
			if derr != nil {
				err = fmt.Errorf("%w: DELETE %s: %w", ErrViewerBench, loc, derr)
			} else {
				resp.Body.Close()
			}
		}
	}
	if cerr := v.pc.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("%w: closing peer connection: %w", ErrViewerBench, cerr)
	}
	return err
}

func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// ---- viewer pools: in this process, or in a separate one ----

// viewerPool is a set of WHEP viewers.
type viewerPool interface {
	// add connects n viewers of camera and returns once each has received an access unit.
	add(ctx context.Context, base, camera string, n int) error
	// begin starts a measuring window; end ends it and returns what each viewer received in it.
	begin(ctx context.Context) error
	end(ctx context.Context) (*poolStats, error)
	close() error
}

// poolStats is what a pool's viewers received in a window.
type poolStats struct {
	Seconds    float64       `json:"seconds"`
	CPUPercent float64       `json:"cpu_percent"` // the pool's process; -1 when it is this one
	Viewers    []viewerStats `json:"viewers"`
}

type viewerStats struct {
	Camera string `json:"camera"`
	AUs    uint64 `json:"aus"`
	Bytes  uint64 `json:"bytes"`
	Lost   uint64 `json:"lost"`
}

func (p *poolStats) fps() []float64 {
	out := make([]float64, len(p.Viewers))
	for i, v := range p.Viewers {
		out[i] = float64(v.AUs) / p.Seconds
	}
	return out
}

func (p *poolStats) lost() uint64 {
	var n uint64
	for _, v := range p.Viewers {
		n += v.Lost
	}
	return n
}

func newPool(ctx context.Context, o *ViewerOptions) (viewerPool, error) {
	if len(o.ClientCommand) == 0 {
		return newLocalPool(false)
	}
	return startProcPool(ctx, o)
}

type localPool struct {
	api     *pion.API
	httpc   *http.Client
	ownCPU  bool // the pool has its process to itself: report its CPU
	viewers []*whepViewer
	t0      time.Time
	cpu0    time.Duration
	base    []viewerStats
}

func newLocalPool(ownCPU bool) (*localPool, error) {
	api, err := loopbackAPI()
	if err != nil {
		return nil, err
	}
	return &localPool{api: api, httpc: newHTTPClient(), ownCPU: ownCPU}, nil
}

func (p *localPool) add(ctx context.Context, base, cam string, n int) error {
	var added []*whepViewer
	for range n {
		v, err := dialViewer(ctx, p.api, p.httpc, base, cam, nil)
		if err != nil {
			return err
		}
		p.viewers = append(p.viewers, v)
		added = append(added, v)
	}
	timeout := time.After(30 * time.Second)
	for i, v := range added {
		select {
		case <-v.first:
		case <-timeout:
			return fmt.Errorf("%w: viewer %d of %d on %s received nothing within 30 s (connection %s)", ErrViewerBench, i+1, n, cam, v.pc.ConnectionState())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (p *localPool) counts() []viewerStats {
	out := make([]viewerStats, len(p.viewers))
	for i, v := range p.viewers {
		out[i] = viewerStats{Camera: v.camera, AUs: v.aus.Load(), Bytes: v.bytes.Load(), Lost: v.lost.Load()}
	}
	return out
}

func (p *localPool) begin(context.Context) error {
	p.base = p.counts()
	p.t0, p.cpu0 = time.Now(), cpuTime()
	return nil
}

func (p *localPool) end(context.Context) (*poolStats, error) {
	secs := time.Since(p.t0).Seconds()
	st := &poolStats{Seconds: secs, CPUPercent: -1}
	if p.ownCPU {
		st.CPUPercent = 100 * (cpuTime() - p.cpu0).Seconds() / secs
	}
	now := p.counts()
	for i, c := range now {
		if i < len(p.base) {
			c.AUs -= p.base[i].AUs
			c.Bytes -= p.base[i].Bytes
			c.Lost -= p.base[i].Lost
		}
		st.Viewers = append(st.Viewers, c)
	}
	return st, nil
}

func (p *localPool) close() error {
	var errs []error
	for _, v := range p.viewers {
		if err := v.close(); err != nil {
			errs = append(errs, err)
		}
	}
	p.viewers = nil
	return errors.Join(errs...)
}

// clientRequest and clientResponse are the line protocol between a procPool and ClientsMain:
// one JSON object per line each way.
type clientRequest struct {
	Op     string `json:"op"` // add, begin, end, close
	Base   string `json:"base,omitempty"`
	Camera string `json:"camera,omitempty"`
	N      int    `json:"n,omitempty"`
}

type clientResponse struct {
	Error string     `json:"error,omitempty"`
	Stats *poolStats `json:"stats,omitempty"`
}

// ClientsMain runs WHEP viewers for a viewer benchmark in another process: it reads requests
// from in, one JSON object a line, and answers each on out, until in ends or a close request.
func ClientsMain(ctx context.Context, in io.Reader, out io.Writer) error {
	pool, err := newLocalPool(true)
	if err != nil {
		return err
	}
	defer pool.close()
	dec, enc := json.NewDecoder(bufio.NewReader(in)), json.NewEncoder(out)
	for {
		var req clientRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%w: clients: reading request: %w", ErrViewerBench, err)
		}
		var resp clientResponse
		var err error
		switch req.Op {
		case "add":
			err = pool.add(ctx, req.Base, req.Camera, req.N)
		case "begin":
			err = pool.begin(ctx)
		case "end":
			resp.Stats, err = pool.end(ctx)
		case "close":
			err = pool.close()
		default:
			err = fmt.Errorf("%w: clients: unknown op %q", ErrViewerBench, req.Op)
		}
		if err != nil {
			resp.Error = err.Error()
		}
		if err := enc.Encode(&resp); err != nil {
			return fmt.Errorf("%w: clients: writing response: %w", ErrViewerBench, err)
		}
		if req.Op == "close" {
			return nil
		}
	}
}

// procPool drives ClientsMain in a child process.
type procPool struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	closed bool
}

func startProcPool(_ context.Context, o *ViewerOptions) (*procPool, error) {
	cmd := exec.Command(o.ClientCommand[0], o.ClientCommand[1:]...)
	cmd.Env = append(os.Environ(), o.ClientEnv...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: viewer process: %w", ErrViewerBench, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: viewer process: %w", ErrViewerBench, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: starting the viewer process %s: %w", ErrViewerBench, o.ClientCommand[0], err)
	}
	return &procPool{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), dec: json.NewDecoder(stdout)}, nil
}

func (p *procPool) call(req clientRequest) (*clientResponse, error) {
	if p.closed {
		return nil, fmt.Errorf("%w: viewer process already closed", ErrViewerBench)
	}
	if err := p.enc.Encode(&req); err != nil {
		return nil, fmt.Errorf("%w: viewer process: sending %s: %w", ErrViewerBench, req.Op, err)
	}
	var resp clientResponse
	if err := p.dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("%w: viewer process: answer to %s: %w", ErrViewerBench, req.Op, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("%w: viewer process: %s", ErrViewerBench, resp.Error)
	}
	return &resp, nil
}

func (p *procPool) add(_ context.Context, base, cam string, n int) error {
	_, err := p.call(clientRequest{Op: "add", Base: base, Camera: cam, N: n})
	return err
}

func (p *procPool) begin(context.Context) error {
	_, err := p.call(clientRequest{Op: "begin"})
	return err
}

func (p *procPool) end(context.Context) (*poolStats, error) {
	resp, err := p.call(clientRequest{Op: "end"})
	if err != nil {
		return nil, err
	}
	if resp.Stats == nil {
		return nil, fmt.Errorf("%w: viewer process: end without stats", ErrViewerBench)
	}
	return resp.Stats, nil
}

func (p *procPool) close() error {
	if p.closed {
		return nil
	}
	_, err := p.call(clientRequest{Op: "close"})
	p.closed = true
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case werr := <-done:
		if werr != nil && err == nil {
			err = fmt.Errorf("%w: viewer process: %w", ErrViewerBench, werr)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		if err == nil {
			err = fmt.Errorf("%w: viewer process did not exit within 15 s; killed", ErrViewerBench)
		}
	}
	return err
}

// ---- 1. glass-to-glass latency ----

// timeline records when the simulator started producing each frame of each camera.
type timeline struct {
	mu       sync.Mutex
	times    map[int][]time.Time
	restarts map[int]int // a second client stream of the camera started (frame 0 again)
}

func newTimeline() *timeline {
	return &timeline{times: map[int][]time.Time{}, restarts: map[int]int{}}
}

func (t *timeline) record(cam, n int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.times[cam]
	if n == 0 && len(ts) > 0 {
		t.restarts[cam]++
		ts = ts[:0]
	}
	for len(ts) <= n {
		ts = append(ts, time.Time{})
	}
	ts[n] = at
	t.times[cam] = ts
}

func (t *timeline) snapshot(cam int) ([]time.Time, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), t.times[cam]...), t.restarts[cam]
}

// lastBefore is the last frame produced at or before at (-1 if none).
func lastBefore(ts []time.Time, at time.Time) int {
	i := sort.Search(len(ts), func(i int) bool { return ts[i].After(at) })
	return i - 1
}

// Pictures are compared on their luma sampled every matchStep pixels in both directions.
const matchStep = 4

// matchWindow is how many frames before the newest produced one a shown picture may be.
const matchWindow = 60

type decodedPicture struct {
	arrived time.Time // its access unit completed
	decoded time.Time
	luma    []byte // sampled, (w/matchStep)×(h/matchStep)
}

// latencyViewer is a WHEP viewer that decodes what it receives and keeps, for each picture,
// when its access unit arrived, when it was decoded and its sampled luma.
type latencyViewer struct {
	v     *whepViewer
	dec   *h264Decoder
	epoch time.Time
	w, h  int

	mu         sync.Mutex
	recording  bool
	t0, t1     time.Time
	received   int
	pictures   []decodedPicture
	decodedAll int
	err        error
}

func newLatencyViewer(ctx context.Context, base, cam string, w, h int) (*latencyViewer, error) {
	lv := &latencyViewer{epoch: time.Now(), w: w, h: h}
	dec, err := newH264Decoder(lv.onPicture)
	if err != nil {
		return nil, err
	}
	lv.dec = dec
	api, err := loopbackAPI()
	if err != nil {
		dec.close()
		return nil, err
	}
	v, err := dialViewer(ctx, api, newHTTPClient(), base, cam, lv.onAU)
	if err != nil {
		dec.close()
		return nil, err
	}
	lv.v = v
	return lv, nil
}

func (lv *latencyViewer) onAU(au []byte, at time.Time, damaged bool) {
	lv.mu.Lock()
	if lv.recording && !at.Before(lv.t0) && (lv.t1.IsZero() || !at.After(lv.t1)) {
		lv.received++
	}
	lv.mu.Unlock()
	if damaged {
		return // a decoder fed a partial access unit shows garbage until the next keyframe anyway
	}
	// the arrival time travels through the decoder as the buffer's PTS
	if err := lv.dec.push(au, at.Sub(lv.epoch)); err != nil {
		lv.mu.Lock()
		if lv.err == nil {
			lv.err = err
		}
		lv.mu.Unlock()
	}
}

func (lv *latencyViewer) onPicture(pts time.Duration, w, h int, y []byte, stride int) {
	now := time.Now()
	arrived := lv.epoch.Add(pts)
	lv.mu.Lock()
	defer lv.mu.Unlock()
	lv.decodedAll++
	if !lv.recording || arrived.Before(lv.t0) {
		return
	}
	if w != lv.w || h != lv.h {
		if lv.err == nil {
			lv.err = fmt.Errorf("%w: viewer picture is %dx%d, want %dx%d", ErrViewerBench, w, h, lv.w, lv.h)
		}
		return
	}
	lv.pictures = append(lv.pictures, decodedPicture{arrived: arrived, decoded: now, luma: sampleLuma(y, stride, w, h)})
}

func (lv *latencyViewer) start() {
	lv.mu.Lock()
	lv.recording, lv.t0 = true, time.Now()
	lv.mu.Unlock()
}

// stop ends recording; pictures whose access unit arrived after it are ignored.
func (lv *latencyViewer) stop() {
	lv.mu.Lock()
	lv.t1 = time.Now()
	lv.mu.Unlock()
}

func (lv *latencyViewer) decodedCount() int {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return lv.decodedAll
}

func (lv *latencyViewer) close() error {
	var err error
	if lv.v != nil {
		err = lv.v.close()
	}
	lv.dec.close()
	return err
}

func sampleLuma(y []byte, stride, w, h int) []byte {
	sw, sh := w/matchStep, h/matchStep
	out := make([]byte, sw*sh)
	for j := 0; j < sh; j++ {
		row := y[j*matchStep*stride:]
		for i := 0; i < sw; i++ {
			out[j*sw+i] = row[i*matchStep]
		}
	}
	return out
}

// refCache renders and samples the scene's frames, once each.
type refCache struct {
	sc   *simulate.Scene
	buf  []byte
	refs map[int][]byte
}

func (c *refCache) get(n int) []byte {
	if r, ok := c.refs[n]; ok {
		return r
	}
	if c.buf == nil {
		c.buf = make([]byte, c.sc.Width*c.sc.Height*3/2)
	}
	c.sc.RenderI420(n, c.buf)
	r := sampleLuma(c.buf, c.sc.Width, c.sc.Width, c.sc.Height)
	c.refs[n] = r
	return r
}

func meanAbsDiff(a, b []byte) float64 {
	var sum int
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += d
	}
	return float64(sum) / float64(len(a))
}

// match returns the frame in [lo, hi] closest to luma, its difference, and the smallest
// difference among frames at least 3 away from it.
func (c *refCache) match(luma []byte, lo, hi int) (best int, diff, other float64) {
	diffs := make(map[int]float64, hi-lo+1)
	diff, other, best = math.Inf(1), math.Inf(1), -1
	for n := max(lo, 0); n <= hi; n++ {
		d := meanAbsDiff(luma, c.get(n))
		diffs[n] = d
		if d < diff {
			diff, best = d, n
		}
	}
	for n, d := range diffs {
		if (n < best-2 || n > best+2) && d < other {
			other = d
		}
	}
	return best, diff, other
}

// latencySamples is what one or more latency runs of one setting measured.
type latencySamples struct {
	res                 LatencyResult
	rounds              int
	recv, decd, det     []time.Duration
	diffSum, marginSum  float64
	cpuSum, loadSum     float64
	detMatched, detSeen float64
}

// merge pools b into a (either may be nil).
func (a *latencySamples) merge(b *latencySamples) *latencySamples {
	if a == nil {
		return b
	}
	a.rounds += b.rounds
	a.res.Seconds += b.res.Seconds
	a.res.Received += b.res.Received
	a.res.Decoded += b.res.Decoded
	a.res.Matched += b.res.Matched
	a.res.LostPkts += b.res.LostPkts
	a.recv, a.decd, a.det = append(a.recv, b.recv...), append(a.decd, b.decd...), append(a.det, b.det...)
	a.diffSum, a.marginSum = a.diffSum+b.diffSum, a.marginSum+b.marginSum
	a.cpuSum, a.loadSum = a.cpuSum+b.cpuSum, a.loadSum+b.loadSum
	a.detMatched, a.detSeen = a.detMatched+b.detMatched, a.detSeen+b.detSeen
	return a
}

// result summarises the samples.
func (a *latencySamples) result() LatencyResult {
	r := a.res
	r.Rounds = a.rounds
	r.FPS = float64(r.Received) / r.Seconds
	r.ReceivedMs, r.DecodedMs, r.DetectionsMs = percentiles(a.recv), percentiles(a.decd), percentiles(a.det)
	if r.Matched > 0 {
		r.MatchDiff, r.MatchMargin = a.diffSum/float64(r.Matched), a.marginSum/float64(r.Matched)
	}
	if a.detSeen > 0 {
		r.DetectionsMatched = a.detMatched / a.detSeen
	}
	r.CPUPercent, r.LoadAvg = a.cpuSum/float64(a.rounds), a.loadSum/float64(a.rounds)
	return r
}

func runLatency(ctx context.Context, o *ViewerOptions, rep *ViewerReport, latencyMS int) (*latencySamples, error) {
	tl := newTimeline()
	w, h := o.LatencyWidth, o.LatencyHeight
	st, err := startStack(ctx, o, rep, 1, w, h, latencyMS, tl.record)
	if err != nil {
		return nil, err
	}
	defer st.close()
	cam := st.cams[0]
	res := &LatencyResult{LatencyMS: latencyMS, Size: fmt.Sprintf("%dx%d", w, h), SimBFrames: st.sim.Options().BFrames}
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return nil, err
	}
	lv, err := newLatencyViewer(ctx, st.base, cam, min(w, config.DefaultMaxWidth), h*min(w, config.DefaultMaxWidth)/w)
	if err != nil {
		return nil, err
	}
	defer lv.close()
	deadline := time.Now().Add(30 * time.Second)
	for lv.decodedCount() == 0 {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: latency viewer decoded nothing within 30 s (connection %s)", ErrViewerBench, lv.v.pc.ConnectionState())
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		return nil, err
	}
	// detections, for the glass-to-result part of the latency
	sub := st.app.Hub().Subscribe(cam, 4096)
	var dets []results.Result
	subStop, subDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(subDone)
		for {
			select {
			case r := <-sub.C():
				dets = append(dets, r)
			case <-subStop:
				return
			}
		}
	}()
	lv.start()
	cpu0, t0 := cpuTime(), time.Now()
	lost0 := lv.v.lost.Load()
	err = sleepCtx(ctx, o.LatencyDuration)
	lv.stop()
	res.Seconds = time.Since(t0).Seconds()
	res.CPUPercent = 100 * (cpuTime() - cpu0).Seconds() / res.Seconds
	res.LoadAvg = loadAvg()[0]
	res.LostPkts = lv.v.lost.Load() - lost0
	sub.Close()
	close(subStop)
	<-subDone
	if err != nil {
		return nil, err
	}
	// let the last pictures out of the decoder, then stop everything before the matching
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
		return nil, err
	}
	times, restarts := tl.snapshot(1)
	if err := lv.close(); err != nil {
		rep.problem("latency %d ms: closing the viewer: %v", latencyMS, err)
	}
	if err := st.close(); err != nil {
		return nil, err
	}
	// the subscription's channel is not closed by Close: drain what is queued
	for {
		r, ok := sub.TryRecv()
		if !ok {
			break
		}
		dets = append(dets, r)
	}
	if restarts > 0 {
		return nil, fmt.Errorf("%w: latency %d ms: the camera reconnected during the run: frame times are ambiguous", ErrViewerBench, latencyMS)
	}
	lv.mu.Lock()
	pics, t1, received, lerr := lv.pictures, lv.t1, lv.received, lv.err
	lv.mu.Unlock()
	if lerr != nil {
		return nil, lerr
	}
	res.Received = received
	if lv.w != w || lv.h != h {
		return nil, fmt.Errorf("%w: latency: the viewer video is scaled (%dx%d of %dx%d); matching needs the full size", ErrViewerBench, lv.w, lv.h, w, h)
	}
	smp := &latencySamples{rounds: 1, cpuSum: res.CPUPercent, loadSum: res.LoadAvg}
	refs := &refCache{sc: simulate.NewScene(w, h, st.sim.Options().FPS, 0), refs: map[int][]byte{}}
	for _, p := range pics {
		if p.arrived.After(t1) {
			continue
		}
		res.Decoded++
		hi := lastBefore(times, p.arrived)
		if hi < 0 {
			continue
		}
		n, diff, other := refs.match(p.luma, hi-matchWindow, hi)
		// a match must be clearly better than any frame 3 or more away, and not at the edge
		if n < 0 || n == hi-matchWindow || diff > 0.7*other {
			continue
		}
		res.Matched++
		smp.diffSum += diff
		smp.marginSum += other / math.Max(diff, 0.01)
		smp.recv = append(smp.recv, p.arrived.Sub(times[n]))
		smp.decd = append(smp.decd, p.decoded.Sub(times[n]))
	}
	if res.Decoded == 0 || float64(res.Matched) < 0.9*float64(res.Decoded) {
		rep.problem("latency %d ms: only %d of %d decoded pictures identified", latencyMS, res.Matched, res.Decoded)
	}
	share, n, detLat := detectionLatency(dets, times, simulate.NewScene(w, h, st.sim.Options().FPS, 0), t0, t1)
	smp.det, smp.detMatched, smp.detSeen = detLat, share*float64(n), float64(n)
	if n > 0 && share < 0.8 {
		rep.problem("latency %d ms: only %.0f%% of detections match the ground truth: the glass-to-detections figure is unreliable", latencyMS, 100*share)
	}
	smp.res = *res
	return smp, nil
}

// detectionLatency places the results published in [t0, t1] on the simulator's frames,
// returning the share that match the ground truth, their number, and the latency of each
// (frame produced → results published). A result's frame is n0 + its PTS offset in frames; n0 is the offset
// under which most results match their frame's ground truth.
func detectionLatency(rs []results.Result, times []time.Time, sc *simulate.Scene, t0, t1 time.Time) (share float64, n int, lat []time.Duration) {
	var in []results.Result
	for _, r := range rs {
		if !r.Time.Before(t0) && !r.Time.After(t1) {
			in = append(in, r)
		}
	}
	if len(in) == 0 {
		return 0, 0, nil
	}
	frameDur := time.Second / time.Duration(sc.FPS)
	rel := make([]int, len(in))
	for i, r := range in {
		rel[i] = int((r.PTS - in[0].PTS + frameDur/2) / frameDur)
	}
	hi := lastBefore(times, in[0].Time)
	best, bestN0 := -1, 0
	for n0 := max(hi-matchWindow, 0); n0 <= hi; n0++ {
		ok := 0
		for i, r := range in {
			if groundtruth.FrameMatches(r.Detections, sc.Objects(n0+rel[i])) {
				ok++
			}
		}
		if ok > best {
			best, bestN0 = ok, n0
		}
	}
	for i, r := range in {
		if n := bestN0 + rel[i]; n >= 0 && n < len(times) {
			lat = append(lat, r.Time.Sub(times[n]))
		}
	}
	return float64(best) / float64(len(in)), len(in), lat
}

// h264Decoder decodes access units in-process: appsrc → h264parse → avdec_h264 → appsink.
type h264Decoder struct {
	pipe *gogst.Pipeline
	src  *gstapp.Source
	sink *gstapp.Sink
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newH264Decoder(onPicture func(pts time.Duration, w, h int, y []byte, stride int)) (*h264Decoder, error) {
	launch := "appsrc name=src is-live=true format=time do-timestamp=false " +
		"caps=video/x-h264,stream-format=byte-stream,alignment=au ! h264parse ! avdec_h264 ! " +
		"videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false max-buffers=300 drop=false"
	pipe, err := gogst.NewPipelineFromString(launch)
	if err != nil {
		return nil, fmt.Errorf("%w: viewer decoder: %w", ErrViewerBench, err)
	}
	se, err := pipe.GetElementByName("sink")
	if err != nil {
		return nil, fmt.Errorf("%w: viewer decoder: %w", ErrViewerBench, err)
	}
	sr, err := pipe.GetElementByName("src")
	if err != nil {
		return nil, fmt.Errorf("%w: viewer decoder: %w", ErrViewerBench, err)
	}
	d := &h264Decoder{pipe: pipe, src: gstapp.SrcFromElement(sr), sink: gstapp.SinkFromElement(se),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := pipe.SetState(gogst.StatePlaying); err != nil {
		return nil, fmt.Errorf("%w: viewer decoder: %w", ErrViewerBench, err)
	}
	go d.pull(onPicture)
	return d, nil
}

func (d *h264Decoder) pull(onPicture func(pts time.Duration, w, h int, y []byte, stride int)) {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		smp := d.sink.TryPullSample(gogst.ClockTime(100 * time.Millisecond))
		if smp == nil {
			if d.sink.IsEOS() {
				return
			}
			continue
		}
		caps := smp.GetCaps()
		buf := smp.GetBuffer()
		if caps == nil || buf == nil || caps.GetSize() == 0 {
			continue
		}
		s := caps.GetStructureAt(0)
		wv, _ := s.GetValue("width")
		hv, _ := s.GetValue("height")
		w, _ := wv.(int)
		h, _ := hv.(int)
		stride := (w + 3) &^ 3 // GStreamer's default I420 layout
		mi := buf.Map(gogst.MapRead)
		if raw := mi.Bytes(); w > 0 && h > 0 && len(raw) >= stride*h {
			onPicture(time.Duration(buf.PresentationTimestamp()), w, h, raw, stride)
		}
		buf.Unmap()
	}
}

func (d *h264Decoder) push(au []byte, pts time.Duration) error {
	buf := gogst.NewBufferFromBytes(au)
	buf.SetPresentationTimestamp(gogst.ClockTime(pts))
	if ret := d.src.PushBuffer(buf); ret != gogst.FlowOK {
		return fmt.Errorf("%w: viewer decoder: push: %s", ErrViewerBench, ret.String())
	}
	return nil
}

func (d *h264Decoder) close() {
	d.once.Do(func() {
		close(d.stop)
		<-d.done
		_ = d.pipe.SetState(gogst.StateNull)
	})
}

// ---- helpers ----

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func loadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err == nil {
		fmt.Sscan(string(b), &l[0], &l[1], &l[2])
	}
	return l
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ---- output ----

// WriteTable prints the report as Markdown tables.
func (r *ViewerReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "date %s, host %s, %d × %s, GStreamer %s, viewer encoder %s, model %s\n",
		r.Date, r.Host, r.CPUs, r.CPUModel, r.GStreamer, r.Encoder, r.Model)
	fmt.Fprintf(w, "load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f; viewers of the CPU runs: %s; %.0f s\n\n",
		r.LoadStart[0], r.LoadStart[1], r.LoadStart[2], r.LoadEnd[0], r.LoadEnd[1], r.LoadEnd[2], r.Clients, r.Wall)
	if len(r.Latency) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "| latency_ms\t| size\t| sim B-frames\t| seconds (rounds)\t| received fps\t| identified\t| produced → received p50 / p95 / max\t| produced → decoded p50 / p95 / max\t| produced → detections p50 / p95 / max\t| lost pkts\t| CPU\t| load\t|")
		fmt.Fprintln(tw, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
		for _, l := range r.Latency {
			fmt.Fprintf(tw, "| %d\t| %s\t| %d\t| %.1f (%d×)\t| %.1f\t| %d / %d\t| %s\t| %s\t| %s\t| %d\t| %.0f %%\t| %.1f\t|\n",
				l.LatencyMS, l.Size, l.SimBFrames, l.Seconds, l.Rounds, l.FPS, l.Matched, l.Decoded, fmtP(l.ReceivedMs), fmtP(l.DecodedMs),
				fmtP(l.DetectionsMs), l.LostPkts, l.CPUPercent, l.LoadAvg)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(r.CPU) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "| cameras\t| size\t| rounds × window\t| CPU, no viewer\t| CPU, 1 viewer per camera\t| cost per encoded camera (min–max)\t| camera fps (min)\t| viewer fps min / mean\t| encoders\t| viewer process CPU\t| load\t|")
		fmt.Fprintln(tw, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
		for _, c := range r.CPU {
			fmt.Fprintf(tw, "| %d\t| %s\t| %d × %.0f s\t| %.0f %%\t| %.0f %%\t| **%.1f %%** (%.1f–%.1f)\t| %.1f\t| %.1f / %.1f\t| %d\t| %s\t| %.1f\t|\n",
				c.Cameras, c.Size, c.Rounds, c.Seconds, c.IdleCPU, c.ViewerCPU, c.PerCameraCPU, c.PerCameraMin, c.PerCameraMax,
				c.CameraFPSMin, c.ViewerFPSMin, c.ViewerFPSMean, c.Encoders, fmtCPU(c.ClientCPU), c.LoadAvg)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if f := r.Fanout; f != nil {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "| viewers of cam1\t| size\t| CPU\t| viewer fps min / mean\t| camera fps\t| encoder starts / running at once\t| viewer process CPU\t| lost pkts\t| load\t|")
		fmt.Fprintln(tw, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
		if f.IdleCPU >= 0 {
			fmt.Fprintf(tw, "| 0\t| %s\t| %.0f %%\t| —\t| —\t| —\t| —\t| —\t| —\t|\n", f.Size, f.IdleCPU)
		}
		fmt.Fprintf(tw, "| 1\t| %s\t| %.0f %%\t| %.1f\t| —\t| —\t| —\t| —\t| —\t|\n", f.Size, f.OneCPU, f.OneFPS)
		fmt.Fprintf(tw, "| %d\t| %s\t| %.0f %% (%+.1f %% per extra viewer)\t| %.1f / %.1f\t| %.1f\t| %d / %d\t| %s\t| %d\t| %.1f\t|\n",
			f.Viewers, f.Size, f.ManyCPU, f.PerExtraViewer, f.FPSMin, f.FPSMean, f.CameraFPS, f.EncoderStarts, f.EncodersMax,
			fmtCPU(f.ClientCPU), f.LostPkts, f.LoadAvg)
		tw.Flush()
		fmt.Fprintln(w)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
}

func fmtP(p Percentiles) string {
	if p.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f / %.0f / %.0f ms", p.P50, p.P95, p.Max)
}

func fmtCPU(v float64) string {
	if v < 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f %%", v)
}

// WriteJSON prints the report as one JSON object.
func (r *ViewerReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("%w: writing JSON: %w", ErrViewerBench, err)
	}
	return nil
}
