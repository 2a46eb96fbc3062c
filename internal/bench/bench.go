// Package bench measures gstvision. Run measures analytics throughput: N cameras (a looped
// H.264 file or simulated RTSP cameras) → decode → preprocess → infer → detections, no
// encoding; it reports total and per-camera frames/s, frame-to-result latency percentiles, the
// batch-size histogram, GPU memory at start and end, and CPU use. RunViewers measures the
// viewer path (viewers*.go).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/trace"
	"slices"
	"sort"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/procstat"
	"github.com/gstvision/gstvision/internal/simulate"
)

// Options select what to measure.
type Options struct {
	Clip      string // H.264/H.265 byte-stream file played in a loop by every camera
	Simulate  bool   // use simulated RTSP cameras instead of Clip
	SimWidth  int    // simulated picture size (default 640x360)
	SimHeight int    //
	Cameras   int    // how many cameras
	Device    string // cpu or cuda
	Decoupled bool   // decoupled (shared batching stage) or unified mode
	// Auto leaves the mode, the batch (unless MaxBatch is set) and the CUDA graph to the
	// config's automatic choice for this many cameras, as serve makes it (config.Plan).
	Auto     bool
	MaxBatch int           // decoupled: batch size
	MaxWait  time.Duration // decoupled: max wait to fill a batch
	Model    string        // ONNX model
	Labels   string        // labels file ("" = COCO or classN)
	Duration time.Duration // measured time, after Warmup
	Warmup   time.Duration // after every camera decodes, before measuring
	// StartTimeout bounds the wait for every camera's first decoded frame (default 60 s).
	// Opening many decoders at once takes seconds (see BENCHMARKS.md, start-up), so the
	// warm-up starts only once all decode: the measurement sees the steady state.
	StartTimeout time.Duration
	Pace         bool // play the clip at its frame rate (latency at full rate) instead of flat out
	// Stagger, with Pace, delays the cameras' frames by amounts spread evenly over this span.
	// Cameras playing the same clip from the same instant send their keyframes at the same
	// instant, which real cameras do not; a span of one GOP gives them independent phases.
	Stagger    time.Duration
	QueueSize  int     // frames between decoder and inference per camera
	Sets       int     // decoupled: batch sets (0: the device's default)
	CUDAGraph  bool    // decoupled on cuda: runs replay a CUDA graph (processing.cuda_graph)
	Confidence float64 // score threshold (0: the config default)
	// Timeline, when positive, also reports the decoupled stage interval by interval: where
	// time goes when the mean hides stalls.
	Timeline time.Duration
	// Trace, when set, writes a Go execution trace of the first seconds of the measurement
	// there (go tool trace): which goroutines wait, and for what.
	Trace      string
	ORTLibrary string
	Logger     *slog.Logger

	// RTSP serves Clip over RTSP (the clip simulator, simulate.Options.Clip: no re-encoding,
	// looped, keyframes spread over one GOP) and runs the cameras as serve does (rtspsrc over
	// TCP → depay → parse → decoder …) instead of reading the file.
	RTSP bool
	// RTSPURL, instead, takes the cameras from these URLs: a template with %d for the
	// camera's number (1..Cameras), e.g. rtsp://host:8554/cam%d.
	RTSPURL string
	// SimCommand starts the clip simulator in a child process (with RTSP): the command line
	// of `gstvision simulate`, to which --clip, --cameras and --listen are added; its CPU is
	// then measured apart from the analysis. Empty runs it in this process, where its CPU
	// counts in the report's (the per-thread table tells them apart).
	SimCommand []string
	SimEnv     []string // extra environment of SimCommand

	// Viewers, when "passthrough" or "annotated", adds a second window after the measurement
	// with one WHEP viewer of that view per camera (pion clients in the ViewerCommand
	// process): the viewers' received frames/s and the CPU with them against without.
	Viewers       string
	ViewerCommand []string // runs ClientsMain; empty runs the viewers in this process
	ViewerEnv     []string
	// ViewerSettle is the time from the last viewer joining to its window [3 s].
	ViewerSettle time.Duration

	// EveryN analyses one decoded frame in N (inference.every_n_frames; 0: the default, 1):
	// a large N leaves the ingest path (RTSP, depayloading, parsing, decoding, the hand-off
	// to Go) to be measured alone.
	EveryN int
	// NoTracking turns tracking, zones and events off (tracking.enabled false): the host work
	// after inference is then only the results' delivery.
	NoTracking bool
	// GPUs spreads the cameras over these CUDA devices (config gpus; empty: every GPU the
	// driver sees), one inference stage each.
	GPUs []int
	// CPUProfile, when set, writes a Go CPU profile of the measured window there.
	CPUProfile string
	// MemProfile, when set, writes the Go allocation profile (since start) there at the end of
	// the window: where the per-frame garbage comes from (go tool pprof -sample_index=alloc_space).
	MemProfile string
}

// Report is what a run measured.
type Report struct {
	Device        string         `json:"device"`
	Mode          string         `json:"mode"`
	MaxBatch      int            `json:"max_batch,omitempty"` // decoupled mode
	CUDAGraph     bool           `json:"cuda_graph,omitempty"`
	Cameras       int            `json:"cameras"`
	Source        string         `json:"source"`
	Model         string         `json:"model"`
	Seconds       float64        `json:"seconds"`
	Frames        uint64         `json:"frames"` // results that reached the hub
	FPS           float64        `json:"fps"`    // total
	PerCameraFPS  []float64      `json:"per_camera_fps"`
	MinCameraFPS  float64        `json:"min_camera_fps"`
	LatencyP50ms  float64        `json:"latency_p50_ms"`
	LatencyP95ms  float64        `json:"latency_p95_ms"`
	LatencyP99ms  float64        `json:"latency_p99_ms"`
	BatchHist     map[int]uint64 `json:"batch_hist,omitempty"`
	MeanBatch     float64        `json:"mean_batch,omitempty"`
	DeviceHalfMS  float64        `json:"device_half_ms,omitempty"` // mean per batch: model run and copy back
	HostHalfMS    float64        `json:"host_half_ms,omitempty"`   // mean per batch: decoding, NMS, results
	Errors        uint64         `json:"errors"`
	Dropped       uint64         `json:"dropped"` // frames dropped by the leaky queues
	GPUMemStartMB float64        `json:"gpu_mem_start_mb,omitempty"`
	GPUMemEndMB   float64        `json:"gpu_mem_end_mb,omitempty"`
	CPUPercent    float64        `json:"cpu_percent"` // process CPU time / wall time, 100 = one core
	RSSStartMB    float64        `json:"rss_start_mb"`
	RSSEndMB      float64        `json:"rss_end_mb"`
	Timeline      []TimelineRow  `json:"timeline,omitempty"`
	Started       time.Time      `json:"started"`       // when the measurement began
	StartSeconds  float64        `json:"start_seconds"` // from the last camera added until all decoded
	// MinDecodedFPS is the slowest camera's decoded frames/s (all frames, analysed or not).
	MinDecodedFPS float64 `json:"min_decoded_fps"`
	// GoAllocKBPerFrame is the Go heap allocated in the window per decoded frame (all
	// cameras), and GCs the Go collections in it: the Go side's per-frame garbage.
	GoAllocKBPerFrame float64 `json:"go_alloc_kb_per_frame"`
	GCs               uint32  `json:"gc_cycles"`
	// CPUPerCamera is CPUPercent / Cameras: % of a core per camera.
	CPUPerCamera float64 `json:"cpu_per_camera_percent"`
	// SimCPUPercent is the child simulator's CPU over the same window (-1: none, or not
	// apart from this process).
	SimCPUPercent float64 `json:"sim_cpu_percent"`
	// Threads is the window's CPU by kind of thread of this process (best effort: threads
	// named after their element and pad by GStreamer, Go's named after the executable).
	Threads []ThreadCPU `json:"threads,omitempty"`
	// Viewers is the window with one viewer per camera (Options.Viewers).
	Viewers *ViewerWindow `json:"viewers,omitempty"`
	// GPUs is each GPU's share (cuda mode), in order of ordinal.
	GPUs []GPUShare `json:"gpus,omitempty"`
}

// GPUShare is one GPU's cameras and their analysed frames/s in the window.
type GPUShare struct {
	GPU          int     `json:"gpu"`
	Cameras      int     `json:"cameras"`
	FPS          float64 `json:"fps"`
	MinCameraFPS float64 `json:"min_camera_fps"`
	MemStartMB   float64 `json:"gpu_mem_start_mb"` // the GPU's memory in use at the window's start
	MemEndMB     float64 `json:"gpu_mem_end_mb"`
}

// addGPU counts a camera analysed at fps on gpu.
func (r *Report) addGPU(gpu int, fps float64) {
	i := slices.IndexFunc(r.GPUs, func(g GPUShare) bool { return g.GPU == gpu })
	if i < 0 {
		r.GPUs = append(r.GPUs, GPUShare{GPU: gpu, MinCameraFPS: fps})
		slices.SortFunc(r.GPUs, func(a, b GPUShare) int { return a.GPU - b.GPU })
		i = slices.IndexFunc(r.GPUs, func(g GPUShare) bool { return g.GPU == gpu })
	}
	g := &r.GPUs[i]
	g.Cameras++
	g.FPS += fps
	g.MinCameraFPS = min(g.MinCameraFPS, fps)
}

// ThreadCPU is the CPU of one kind of thread in a window.
type ThreadCPU struct {
	Name       string  `json:"name"`
	Threads    int     `json:"threads"`
	CPUPercent float64 `json:"cpu_percent"` // 100 = one core
}

// TimelineRow is one interval of the measurement (see Options.Timeline).
type TimelineRow struct {
	At           time.Duration `json:"at"`
	FPS          float64       `json:"fps"`                  // results that reached the hub
	DroppedFPS   float64       `json:"dropped_fps"`          // frames the leaky queues dropped
	Batches      uint64        `json:"batches"`              // batches delivered
	DeviceHalfMS float64       `json:"device_half_ms"`       // mean over those batches
	HostHalfMS   float64       `json:"host_half_ms"`         //
	OrderWaitMS  float64       `json:"order_wait_ms"`        // mean wait for earlier batches' delivery
	Waiting      float64       `json:"submit_waiting"`       // cameras blocked for a free slot, on average
	FillMS       float64       `json:"fill_ms"`              // mean time to write a frame into its slot
	CPUPercent   float64       `json:"cpu_percent"`          // 100 = one core
	GCs          uint32        `json:"gc_cycles"`            // Go garbage collections
	GCPauseMS    float64       `json:"gc_pause_ms"`          // their stop-the-world pauses, summed
	GPUMemMB     float64       `json:"gpu_mem_mb,omitempty"` // GPU memory used on the device at the end
}

type recorder struct {
	mu        sync.Mutex
	measuring bool
	perCam    map[string]uint64
	lat       []time.Duration
	errors    uint64
}

func (r *recorder) observe(cam string, lat time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.measuring {
		return
	}
	if err != nil {
		r.errors++
		return
	}
	r.perCam[cam]++
	if len(r.lat) < 2_000_000 {
		r.lat = append(r.lat, lat)
	}
}

// Run runs one measurement.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Cameras < 1 {
		return nil, fmt.Errorf("bench: --cameras must be >= 1")
	}
	cfg := config.Default()
	cfg.Device = o.Device
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Inference.Model, _ = filepath.Abs(o.Model)
	if o.Labels != "" {
		cfg.Inference.Labels, _ = filepath.Abs(o.Labels)
	} else {
		cfg.Inference.Labels = ""
	}
	cfg.Inference.ONNXRuntimeLibrary = o.ORTLibrary
	if !o.Auto {
		cfg.Processing.EnableDecoupledPipeline = &o.Decoupled
		cfg.Processing.CUDAGraph = &o.CUDAGraph
	}
	if o.MaxBatch > 0 {
		cfg.Processing.MaxBatch = &o.MaxBatch
	}
	if o.MaxWait > 0 {
		cfg.Processing.MaxWaitMS = int(o.MaxWait / time.Millisecond)
	}
	if o.QueueSize > 0 {
		cfg.Processing.QueueFrames = o.QueueSize
	}
	cfg.Processing.BatchSets = o.Sets
	cfg.Processing.StatsEveryFrames = 1 << 30 // quiet
	if o.Confidence > 0 {
		cfg.Inference.Confidence = o.Confidence
	}
	cfg.GPUs = o.GPUs
	if o.NoTracking {
		off := false
		cfg.Tracking.Enabled = &off
	}
	if o.EveryN > 0 {
		cfg.Inference.EveryNFrames = o.EveryN
	}
	var urls []string
	source := o.Clip
	rtsp := o.RTSP || o.RTSPURL != ""
	var rsrc *rtspSource
	if rtsp {
		var err error
		if rsrc, err = startRTSPSource(ctx, o); err != nil {
			return nil, err
		}
		defer func() {
			if err := rsrc.close(); err != nil {
				o.Logger.Warn("bench: closing the simulator", "err", err)
			}
		}()
		urls, source = rsrc.urls, rsrc.desc
	} else if o.Simulate {
		sim, err := simulate.Start(ctx, simulate.Options{Cameras: o.Cameras, Listen: "127.0.0.1:0", Width: o.SimWidth, Height: o.SimHeight})
		if err != nil {
			return nil, err
		}
		defer sim.Close()
		for i := 1; i <= o.Cameras; i++ {
			urls = append(urls, sim.URL(i))
		}
		w, h := sim.Options().Width, sim.Options().Height
		source = fmt.Sprintf("simulated RTSP %dx%d@%d", w, h, sim.Options().FPS)
	} else {
		abs, err := filepath.Abs(o.Clip)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("bench: clip: %w", err)
		}
		for i := 0; i < o.Cameras; i++ {
			urls = append(urls, "file://"+abs)
		}
	}
	// The cameras are the config's, as serve's are: its automatic choices count them.
	for i, u := range urls {
		cfg.Cameras = append(cfg.Cameras, config.Camera{ID: fmt.Sprintf("cam%d", i+1), URL: u, Transport: config.TransportTCP})
	}
	a, err := app.New(cfg, o.Logger)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	rec := &recorder{perCam: map[string]uint64{}}
	a.Observe(rec.observe)
	for i, cam := range cfg.Cameras {
		cc, err := a.PlacedCameraConfig(cam)
		if err != nil {
			return nil, err
		}
		if !o.Simulate && !rtsp { // the clip's cameras: file pipelines, paced as asked
			cc.NewPipeline = ClipPipeline(o.Pace, o.Stagger*time.Duration(i)/time.Duration(len(urls)))
		}
		if err := a.Cameras().Add(cc); err != nil {
			return nil, err
		}
	}
	plan := a.Engine().Plan()
	rep := &Report{Device: o.Device, Mode: plan.Mode(), MaxBatch: plan.MaxBatch, CUDAGraph: plan.CUDAGraph,
		Cameras: o.Cameras, Source: source, Model: cfg.Inference.Model}
	t := time.Now()
	if err := waitAllDecoding(ctx, a.Cameras(), o.StartTimeout); err != nil {
		return nil, err
	}
	rep.StartSeconds = time.Since(t).Seconds()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.Warmup):
	}
	gpuStart, gpuStartPer := gpuUsedMB(a), gpuUsedPerGPU(a)
	rep.RSSStartMB = procstat.RSSMB("self")
	droppedStart := totalDropped(a)
	var batchStart []uint64
	var statsStart inference.BatcherStats
	if st, ok := a.BatchStats(); ok {
		statsStart = st
		batchStart = slices.Clone(statsStart.SizeHist)
	}
	var srv *httpServer
	if o.Viewers != "" { // listening costs nothing until the viewers come
		if srv, err = startHTTP(a); err != nil {
			return nil, err
		}
		defer srv.stop()
	}
	decodedStart := decodedFrames(a)
	stopProfile := func() {}
	if o.CPUProfile != "" {
		if stopProfile, err = startCPUProfile(o.CPUProfile); err != nil {
			return nil, err
		}
		defer stopProfile()
	}
	var msStart runtime.MemStats
	runtime.ReadMemStats(&msStart)
	threadsStart := procstat.Threads("self")
	simStart, simOK := rsrc.childCPU()
	cpuStart := cpuTime()
	rec.mu.Lock()
	rec.measuring = true
	rec.mu.Unlock()
	if o.Trace != "" {
		stop, err := startTrace(o.Trace, 3*time.Second)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	t0 := time.Now()
	rep.Started = t0
	if _, batched := a.BatchStats(); o.Timeline > 0 && batched {
		rep.Timeline = recordTimeline(ctx, a, rec, o.Timeline, o.Duration)
	} else {
		select {
		case <-ctx.Done():
		case <-time.After(o.Duration):
		}
	}
	rec.mu.Lock()
	rec.measuring = false
	rec.mu.Unlock()
	wall := time.Since(t0).Seconds()
	stopProfile()
	if o.MemProfile != "" {
		if err := writeAllocProfile(o.MemProfile); err != nil {
			return nil, err
		}
	}
	rep.Seconds = wall
	rep.CPUPercent = 100 * (cpuTime() - cpuStart).Seconds() / wall
	rep.CPUPerCamera = rep.CPUPercent / float64(o.Cameras)
	decodedEnd := decodedFrames(a)
	rep.MinDecodedFPS = minDecodedFPS(decodedStart, decodedEnd, wall)
	var msEnd runtime.MemStats
	runtime.ReadMemStats(&msEnd)
	var decoded uint64
	for id, n := range decodedEnd {
		decoded += n - decodedStart[id]
	}
	if decoded > 0 {
		rep.GoAllocKBPerFrame = float64(msEnd.TotalAlloc-msStart.TotalAlloc) / 1024 / float64(decoded)
	}
	rep.GCs = msEnd.NumGC - msStart.NumGC
	rep.Threads = threadTable(threadsStart, procstat.Threads("self"), wall)
	rep.SimCPUPercent = -1
	if simEnd, ok := rsrc.childCPU(); ok && simOK {
		rep.SimCPUPercent = 100 * (simEnd - simStart).Seconds() / wall
	}
	rep.GPUMemStartMB, rep.GPUMemEndMB = gpuStart, gpuUsedMB(a)
	rep.RSSEndMB = procstat.RSSMB("self")
	if d := totalDropped(a); d > droppedStart {
		rep.Dropped = d - droppedStart
	}
	rep.Errors = rec.errors
	rep.MinCameraFPS = -1
	for i := range urls {
		n := rec.perCam[fmt.Sprintf("cam%d", i+1)]
		rep.Frames += n
		fps := float64(n) / wall
		rep.PerCameraFPS = append(rep.PerCameraFPS, fps)
		if rep.MinCameraFPS < 0 || fps < rep.MinCameraFPS {
			rep.MinCameraFPS = fps
		}
		if st, ok := a.Cameras().Get(fmt.Sprintf("cam%d", i+1)); ok && st.GPU != nil {
			rep.addGPU(*st.GPU, fps)
		}
	}
	end := gpuUsedPerGPU(a)
	for i := range rep.GPUs {
		g := &rep.GPUs[i]
		g.MemStartMB, g.MemEndMB = gpuStartPer[g.GPU], end[g.GPU]
	}
	rep.FPS = float64(rep.Frames) / wall
	sort.Slice(rec.lat, func(i, j int) bool { return rec.lat[i] < rec.lat[j] })
	rep.LatencyP50ms, rep.LatencyP95ms, rep.LatencyP99ms = pct(rec.lat, 0.50), pct(rec.lat, 0.95), pct(rec.lat, 0.99)
	if st, ok := a.BatchStats(); ok {
		if n := st.Batches - statsStart.Batches; n > 0 {
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
			rep.DeviceHalfMS, rep.HostHalfMS = ms(st.DeviceTime-statsStart.DeviceTime), ms(st.HostTime-statsStart.HostTime)
		}
		hist := st.SizeHist
		rep.BatchHist = map[int]uint64{}
		var n, sum uint64
		for k, v := range hist {
			if k < len(batchStart) {
				v -= batchStart[k]
			}
			if v > 0 {
				rep.BatchHist[k] = v
				n += v
				sum += uint64(k) * v
			}
		}
		if n > 0 {
			rep.MeanBatch = float64(sum) / float64(n)
		}
	}
	if o.Viewers != "" {
		if rep.Viewers, err = viewerWindow(ctx, o, a, srv, rec, cfg.Cameras, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// startTrace writes a Go execution trace to path for d (or until stop is called).
func startTrace(path string, d time.Duration) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: trace: %w", err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: trace: %w", err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { trace.Stop(); f.Close() }) }
	time.AfterFunc(d, stop)
	return stop, nil
}

// recordTimeline samples the stage every interval for total, until ctx ends.
func recordTimeline(ctx context.Context, a *app.App, rec *recorder, interval, total time.Duration) []TimelineRow {
	type sample struct {
		at      time.Time
		frames  uint64
		dropped uint64
		st      inference.BatcherStats
		cpu     time.Duration
		ms      runtime.MemStats
	}
	take := func() sample {
		s := sample{at: time.Now(), dropped: totalDropped(a), st: batchStats(a), cpu: cpuTime()}
		rec.mu.Lock()
		for _, n := range rec.perCam {
			s.frames += n
		}
		rec.mu.Unlock()
		runtime.ReadMemStats(&s.ms)
		return s
	}
	start := take()
	prev := start
	var rows []TimelineRow
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for prev.at.Sub(start.at) < total-interval/2 {
		select {
		case <-ctx.Done():
			return rows
		case <-tick.C:
		}
		cur := take()
		dt := cur.at.Sub(prev.at).Seconds()
		row := TimelineRow{
			At:         cur.at.Sub(start.at).Round(time.Millisecond),
			FPS:        float64(cur.frames-prev.frames) / dt,
			DroppedFPS: float64(cur.dropped-prev.dropped) / dt,
			Batches:    cur.st.Batches - prev.st.Batches,
			Waiting:    (cur.st.SubmitWait - prev.st.SubmitWait).Seconds() / dt,
			CPUPercent: 100 * (cur.cpu - prev.cpu).Seconds() / dt,
			GCs:        cur.ms.NumGC - prev.ms.NumGC,
			GCPauseMS:  float64(cur.ms.PauseTotalNs-prev.ms.PauseTotalNs) / 1e6,
			GPUMemMB:   gpuUsedMB(a),
		}
		if n := cur.st.Fills - prev.st.Fills; n > 0 {
			row.FillMS = (cur.st.FillTime - prev.st.FillTime).Seconds() * 1000 / float64(n)
		}
		if n := float64(row.Batches); n > 0 {
			per := func(d time.Duration) float64 { return d.Seconds() * 1000 / n }
			row.DeviceHalfMS = per(cur.st.DeviceTime - prev.st.DeviceTime)
			row.HostHalfMS = per(cur.st.HostTime - prev.st.HostTime)
			row.OrderWaitMS = per(cur.st.OrderWait - prev.st.OrderWait)
		}
		rows = append(rows, row)
		prev = cur
	}
	return rows
}

func pct(s []time.Duration, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	return float64(s[int(q*float64(len(s)-1))]) / 1e6
}

func totalDropped(a *app.App) uint64 {
	var n uint64
	for _, st := range a.Cameras().List() {
		n += st.Dropped
	}
	return n
}

// gpuUsedPerGPU is each GPU's memory in use, in MB (empty outside cuda mode).
func gpuUsedPerGPU(a *app.App) map[int]float64 {
	out := map[int]float64{}
	for _, g := range a.Engine().GPUs() {
		if free, total, ok := a.Engine().GPUMemInfo(g); ok {
			out[g] = float64(total-free) / (1 << 20)
		}
	}
	return out
}

func gpuUsedMB(a *app.App) float64 {
	free, total, ok := a.Engine().MemInfo()
	if !ok {
		return 0
	}
	return float64(total-free) / (1 << 20)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitAllDecoding waits until every camera has decoded a frame, or names the first one that
// has not when the timeout (default 60 s) passes.
func waitAllDecoding(ctx context.Context, cams *camera.Manager, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = time.Minute
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		list := cams.List()
		idle := slices.IndexFunc(list, func(st defs.Status) bool { return st.Frames == 0 })
		if idle < 0 {
			return nil
		}
		if time.Now().After(deadline) {
			st := list[idle]
			return fmt.Errorf("bench: camera %s decoded no frame within %s of starting (state %s, error %q)", st.ID, timeout, st.State, st.LastError)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := r.Mode
	if r.Mode == config.ModeDecoupled {
		mode = fmt.Sprintf("%s (max_batch %d, cuda_graph %v)", r.Mode, r.MaxBatch, r.CUDAGraph)
	}
	fmt.Fprintf(tw, "device\t%s\nmode\t%s\ncameras\t%d\nsource\t%s\nmodel\t%s\n", r.Device, mode, r.Cameras, r.Source, filepath.Base(r.Model))
	fmt.Fprintf(tw, "all cameras decoding after\t%.1f s\n", r.StartSeconds)
	fmt.Fprintf(tw, "measured\t%.1f s\nframes with results\t%d\ntotal fps\t%.1f\n", r.Seconds, r.Frames, r.FPS)
	fmt.Fprintf(tw, "per-camera fps (min)\t%.1f\n", r.MinCameraFPS)
	fmt.Fprintf(tw, "per-camera decoded fps (min)\t%.1f\n", r.MinDecodedFPS)
	if n := len(r.PerCameraFPS); n > 1 {
		fps := slices.Sorted(slices.Values(r.PerCameraFPS))
		fmt.Fprintf(tw, "per-camera fps median / max\t%.1f / %.1f\n", fps[n/2], fps[n-1])
	}
	if len(r.GPUs) > 1 {
		for _, g := range r.GPUs {
			fmt.Fprintf(tw, "GPU %d: cameras, fps (min camera), memory\t%d, %.1f (%.1f), %.0f → %.0f MB\n", g.GPU, g.Cameras, g.FPS, g.MinCameraFPS, g.MemStartMB, g.MemEndMB)
		}
	}
	fmt.Fprintf(tw, "latency p50 / p95 / p99\t%.1f / %.1f / %.1f ms\n", r.LatencyP50ms, r.LatencyP95ms, r.LatencyP99ms)
	if len(r.BatchHist) > 0 {
		keys := make([]int, 0, len(r.BatchHist))
		for k := range r.BatchHist {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		fmt.Fprintf(tw, "batch: device / host half\t%.1f / %.1f ms (mean)\n", r.DeviceHalfMS, r.HostHalfMS)
		fmt.Fprintf(tw, "mean batch\t%.1f\nbatch sizes\t", r.MeanBatch)
		for _, k := range keys {
			fmt.Fprintf(tw, "%d:%d ", k, r.BatchHist[k])
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "dropped before inference\t%d\nerrors\t%d\nCPU\t%.0f%%\nRSS start / end\t%.0f / %.0f MB\n", r.Dropped, r.Errors, r.CPUPercent, r.RSSStartMB, r.RSSEndMB)
	fmt.Fprintf(tw, "CPU per camera\t%.2f%% of a core\n", r.CPUPerCamera)
	fmt.Fprintf(tw, "Go heap allocated per decoded frame\t%.1f KB (%d GCs)\n", r.GoAllocKBPerFrame, r.GCs)
	if r.SimCPUPercent >= 0 {
		fmt.Fprintf(tw, "simulator CPU (child process, not above)\t%.0f%% (%.2f%% a camera)\n", r.SimCPUPercent, r.SimCPUPercent/float64(max(r.Cameras, 1)))
	}
	if r.Device == config.DeviceCUDA {
		fmt.Fprintf(tw, "GPU memory used start / end\t%.0f / %.0f MB\n", r.GPUMemStartMB, r.GPUMemEndMB)
	}
	tw.Flush()
	writeThreads(w, "CPU by thread kind (this process, measured window)", r.Threads, r.Cameras)
	if r.Viewers != nil {
		r.Viewers.write(w, r)
	}
	if len(r.Timeline) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "timeline (from %s UTC)\n", r.Started.UTC().Format("15:04:05.000"))
		fmt.Fprintln(tw, "at\tfps\tdropped/s\tbatches\tdevice ms\thost ms\torder wait ms\tcameras waiting\tfill ms\tCPU %\tGCs\tGC pause ms\tGPU MB\t")
		for _, x := range r.Timeline {
			fmt.Fprintf(tw, "%.1fs\t%.0f\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.0f\t%d\t%.2f\t%.0f\t\n", x.At.Seconds(), x.FPS, x.DroppedFPS,
				x.Batches, x.DeviceHalfMS, x.HostHalfMS, x.OrderWaitMS, x.Waiting, x.FillMS, x.CPUPercent, x.GCs, x.GCPauseMS, x.GPUMemMB)
		}
		tw.Flush()
	}
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// batchStats is the decoupled stages' stats, summed over the GPUs.
func batchStats(a *app.App) inference.BatcherStats {
	st, _ := a.BatchStats()
	return st
}
