package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/webrtc"
)

// CPUCase is one configuration of the CPU benchmark.
type CPUCase struct {
	Cameras       int `json:"cameras"`
	Width, Height int
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
	// Join is each viewer's time from its POST to its first access unit (the IDR, with the
	// passthrough view the cached GOP's), all rounds.
	Join Percentiles `json:"join"`
}

// runCPUCase measures one CPU case: idle windows alternating with windows with one viewer per
// camera.
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
	var allJoins []time.Duration
	res.PerCameraMin, res.PerCameraMax = math.Inf(1), math.Inf(-1)
	for round := 1; round <= o.CPURounds; round++ {
		busy, joins, err := cpuViewerWindow(ctx, o, st)
		if err != nil {
			return nil, err
		}
		allJoins = append(allJoins, joins...)
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
	res.Join = percentiles(allJoins)
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
	if want := encodersWanted(o, c.Cameras); res.Encoders != want {
		rep.problem("cpu %d×%s: %d encoders ran at once, want %d", c.Cameras, res.Size, res.Encoders, want)
	}
	if res.ViewerFPSMin <= 0 {
		rep.problem("cpu %d×%s: a viewer received no frame", c.Cameras, res.Size)
	}
	return res, st.close()
}

// encodersWanted is how many encoders viewers of cameras cameras start: one a camera for the
// annotated view, none for the passthrough view.
func encodersWanted(o *ViewerOptions, cameras int) int {
	if o.View == string(webrtc.ViewPassthrough) {
		return 0
	}
	return cameras
}

// cpuViewerWindow connects one viewer to each camera, measures, and lets them go. It returns
// the window and the viewers' join times.
func cpuViewerWindow(ctx context.Context, o *ViewerOptions, st *stack) (*window, []time.Duration, error) {
	pool, err := newPool(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	var joins []time.Duration
	for _, id := range st.cams {
		j, err := pool.add(ctx, st.base, id, o.View, 1)
		if err != nil {
			pool.close()
			return nil, nil, err
		}
		joins = append(joins, j...)
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		pool.close()
		return nil, nil, err
	}
	busy, err := st.measure(ctx, pool, o.CPUDuration)
	if cerr := pool.close(); err == nil && cerr != nil {
		err = cerr
	}
	return busy, joins, err
}

// minMean is the smallest value of v and the mean (zeros when v is empty).
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
