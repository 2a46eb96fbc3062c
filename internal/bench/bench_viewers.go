package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/procstat"
	"github.com/gstvision/gstvision/webrtc"
)

// ViewerWindow is Run's second window (Options.Viewers): the same cameras, analysed as
// before, each with one WHEP viewer.
type ViewerWindow struct {
	View    string  `json:"view"`
	Viewers int     `json:"viewers"`
	Seconds float64 `json:"seconds"`
	// CPUPercent is this process's CPU in the window; IdleAfterCPU the same, in a window as
	// long once the viewers have left; CPUPerViewer is (CPUPercent − the mean of the run's
	// CPU without viewers before and IdleAfterCPU) / Viewers, in % of a core: comparing with
	// the windows on either side cancels a drift of the machine's load.
	CPUPercent   float64 `json:"cpu_percent"`
	IdleAfterCPU float64 `json:"idle_after_cpu_percent"`
	CPUPerViewer float64 `json:"cpu_per_viewer_percent"`
	// PerCameraFPS are the analysed frames/s of each camera in the window (results that
	// reached the hub), ViewerFPS the access units/s each camera's viewer received.
	PerCameraFPS  []float64 `json:"per_camera_fps"`
	MinCameraFPS  float64   `json:"min_camera_fps"`
	ViewerFPS     []float64 `json:"viewer_fps"`
	MinViewerFPS  float64   `json:"min_viewer_fps"`
	MeanViewerFPS float64   `json:"mean_viewer_fps"`
	LostPackets   uint64    `json:"lost_packets"`
	Dropped       uint64    `json:"dropped"` // frames dropped before inference in the window
	LatencyP95ms  float64   `json:"latency_p95_ms"`
	// ClientCPU is the viewers' own process (not in CPUPercent); -1 when they ran here.
	ClientCPU float64 `json:"client_cpu_percent"`
	// Join is each viewer's time from its POST to its first access unit.
	Join    Percentiles `json:"join"`
	Threads []ThreadCPU `json:"threads,omitempty"`
}

// httpServer is the app's HTTP server (WHEP) run by a benchmark.
type httpServer struct {
	base   string
	cancel context.CancelFunc
	done   chan error
}

// startHTTP serves the app's routes (WHEP among them) on its loopback listen address.
func startHTTP(a *app.App) (*httpServer, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &httpServer{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Server().ListenAndServe(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for a.Server().Addr() == nil {
		select {
		case err := <-s.done:
			cancel()
			return nil, fmt.Errorf("%w: the HTTP server stopped: %w", ErrViewerBench, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%w: the HTTP server did not listen within 15 s", ErrViewerBench)
		}
	}
	s.base = "http://" + a.Server().Addr().String()
	return s, nil
}

func (s *httpServer) stop() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
	}
}

// viewerWindow connects one viewer of o.Viewers to each camera, lets them settle and measures
// a window as long as the first one.
func viewerWindow(ctx context.Context, o Options, a *app.App, srv *httpServer, rec *recorder, cams []config.Camera, rep *Report) (*ViewerWindow, error) {
	vo := &ViewerOptions{ClientCommand: o.ViewerCommand, ClientEnv: o.ViewerEnv}
	pool, err := newPool(ctx, vo)
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if closed {
			return
		}
		if err := pool.close(); err != nil {
			o.Logger.Warn("bench: closing the viewers", "err", err)
		}
	}()
	var joins []time.Duration
	for _, c := range cams {
		j, err := pool.add(ctx, srv.base, c.ID, o.Viewers, 1)
		if err != nil {
			return nil, err
		}
		joins = append(joins, j...)
	}
	settle := o.ViewerSettle
	if settle <= 0 {
		settle = 3 * time.Second
	}
	if err := sleepCtx(ctx, settle); err != nil {
		return nil, err
	}
	w := &ViewerWindow{View: o.Viewers, Viewers: len(cams), Join: percentiles(joins)}
	rec.mu.Lock()
	rec.perCam, rec.lat, rec.measuring = map[string]uint64{}, nil, true
	rec.mu.Unlock()
	dropped0 := totalDropped(a)
	if err := pool.begin(ctx); err != nil {
		return nil, err
	}
	threads0 := procstat.Threads("self")
	cpu0, t0 := cpuTime(), time.Now()
	err = sleepCtx(ctx, o.Duration)
	cpu1, t1 := cpuTime(), time.Now()
	threads1 := procstat.Threads("self")
	rec.mu.Lock()
	rec.measuring = false
	rec.mu.Unlock()
	ps, perr := pool.end(ctx)
	if err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, perr
	}
	w.Seconds = t1.Sub(t0).Seconds()
	w.CPUPercent = 100 * (cpu1 - cpu0).Seconds() / w.Seconds
	// the idle window after: the viewers gone (their sessions closed), as long as the others
	closed = true
	if err := pool.close(); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, settle); err != nil {
		return nil, err
	}
	cpu2, t2 := cpuTime(), time.Now()
	if err := sleepCtx(ctx, o.Duration); err != nil {
		return nil, err
	}
	w.IdleAfterCPU = 100 * (cpuTime() - cpu2).Seconds() / time.Since(t2).Seconds()
	w.CPUPerViewer = (w.CPUPercent - (rep.CPUPercent+w.IdleAfterCPU)/2) / float64(max(len(cams), 1))
	w.Threads = threadTable(threads0, threads1, w.Seconds)
	if d := totalDropped(a); d > dropped0 {
		w.Dropped = d - dropped0
	}
	w.MinCameraFPS = -1
	for _, c := range cams {
		fps := float64(rec.perCam[c.ID]) / w.Seconds
		w.PerCameraFPS = append(w.PerCameraFPS, fps)
		if w.MinCameraFPS < 0 || fps < w.MinCameraFPS {
			w.MinCameraFPS = fps
		}
	}
	sort.Slice(rec.lat, func(i, j int) bool { return rec.lat[i] < rec.lat[j] })
	w.LatencyP95ms = pct(rec.lat, 0.95)
	w.ViewerFPS = ps.fps()
	w.MinViewerFPS, w.MeanViewerFPS = minMean(w.ViewerFPS)
	w.LostPackets = ps.lost()
	w.ClientCPU = ps.CPUPercent
	return w, nil
}

func (v *ViewerWindow) write(w io.Writer, r *Report) {
	fmt.Fprintf(w, "with one %s viewer per camera (%d viewers, WHEP, pion clients in %s)\n", v.View, v.Viewers,
		map[bool]string{true: "another process", false: "this process"}[v.ClientCPU >= 0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  measured\t%.1f s\n", v.Seconds)
	fmt.Fprintf(tw, "  per-camera analysed fps (min / median)\t%.1f / %.1f\n", v.MinCameraFPS, median(v.PerCameraFPS))
	fmt.Fprintf(tw, "  per-viewer received fps (min / mean)\t%.1f / %.1f\n", v.MinViewerFPS, v.MeanViewerFPS)
	fmt.Fprintf(tw, "  packets lost\t%d\n  dropped before inference\t%d\n  latency p95\t%.1f ms\n", v.LostPackets, v.Dropped, v.LatencyP95ms)
	fmt.Fprintf(tw, "  time to first picture p50 / p95 / max\t%.0f / %.0f / %.0f ms\n", v.Join.P50, v.Join.P95, v.Join.Max)
	fmt.Fprintf(tw, "  CPU without → with viewers → without again\t%.0f%% → %.0f%% → %.0f%%\n", r.CPUPercent, v.CPUPercent, v.IdleAfterCPU)
	fmt.Fprintf(tw, "  CPU per viewer\t%.2f%% of a core\n", v.CPUPerViewer)
	if v.ClientCPU >= 0 {
		fmt.Fprintf(tw, "  viewers' process CPU (not above)\t%.0f%%\n", v.ClientCPU)
	}
	tw.Flush()
	writeThreads(w, "  CPU by thread kind (this process, viewer window)", v.Threads, r.Cameras)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// threadTable turns two samples of this process's threads into CPU by kind over secs.
func threadTable(before, after []procstat.Thread, secs float64) []ThreadCPU {
	var out []ThreadCPU
	for _, g := range procstat.GroupDelta(before, after) {
		out = append(out, ThreadCPU{Name: g.Name, Threads: g.Threads, CPUPercent: 100 * g.CPU.Seconds() / secs})
	}
	return out
}

// writeThreads prints the kinds of thread that used at least 0.5 % of a core, the rest summed.
func writeThreads(w io.Writer, title string, rows []ThreadCPU, cameras int) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  thread\tthreads\tCPU %\t% a camera\t")
	var rest float64
	restN := 0
	for _, r := range rows {
		if r.CPUPercent < 0.5 {
			rest += r.CPUPercent
			restN += r.Threads
			continue
		}
		fmt.Fprintf(tw, "  %s\t%d\t%.1f\t%.2f\t\n", r.Name, r.Threads, r.CPUPercent, r.CPUPercent/float64(max(cameras, 1)))
	}
	fmt.Fprintf(tw, "  (others)\t%d\t%.1f\t%.2f\t\n", restN, rest, rest/float64(max(cameras, 1)))
	tw.Flush()
}

// ViewsForBench are the views Options.Viewers takes.
var ViewsForBench = []string{string(webrtc.ViewPassthrough), string(webrtc.ViewAnnotated)}
