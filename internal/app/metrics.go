package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gstvision/gstvision/internal/metrics"
)

// opsState is the operations side of the App: the metrics registry, the extra result
// observers and the WebRTC viewer hook. It lives in its own struct so that app.go only
// carries one field for it.
type opsState struct {
	api     *CameraAPI
	metrics *metrics.Metrics

	mu            sync.Mutex                       // guards writers of observers, and webrtcViewers
	observers     atomic.Pointer[[]ResultObserver] // copy on write: read on every result
	webrtcViewers func() map[string]int            // set by SetWebRTCViewers; read at scrape time
}

// AddObserver registers f to be told of every result, in addition to the observer of
// [App.Observe] and those added before. Observers run on the inference path: keep them
// cheap (an atomic add, a histogram observation).
func (a *App) AddObserver(f ResultObserver) {
	if f == nil {
		return
	}
	a.ops.mu.Lock()
	defer a.ops.mu.Unlock()
	var list []ResultObserver
	if old := a.ops.observers.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, f)
	a.ops.observers.Store(&list)
}

// notifyObservers calls the observers added with AddObserver.
func (a *App) notifyObservers(cam string, lat time.Duration, err error) {
	if list := a.ops.observers.Load(); list != nil {
		for _, f := range *list {
			f(cam, lat, err)
		}
	}
}

// SetWebRTCViewers sets the function /metrics calls for the number of WebRTC viewers per
// camera (gstvision_webrtc_viewers). Safe to call at any time; nil removes it.
func (a *App) SetWebRTCViewers(f func() map[string]int) {
	a.ops.mu.Lock()
	defer a.ops.mu.Unlock()
	a.ops.webrtcViewers = f
}

func (a *App) webrtcViewers() map[string]int {
	a.ops.mu.Lock()
	f := a.ops.webrtcViewers
	a.ops.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}

// initOps builds the camera API, the metrics and their routes. New calls it once the
// stage, hub, manager and server exist.
func (a *App) initOps() error {
	m, err := metrics.New(metrics.Sources{
		Cameras: a.metricCameras,
		Batch: func() (metrics.Batch, bool) {
			s, ok := a.BatchStats()
			return metrics.Batch{MaxBatch: s.MaxBatch, Batches: s.Batches, Frames: s.Frames,
				FillErrors: s.FillErrors, RunErrors: s.RunErrors, SizeHist: s.SizeHist, TotalRun: s.TotalRun}, ok
		},
		GPUMemory: a.gpuMemory,
		GPULoads: func() map[int]int {
			out := map[int]int{}
			for g, l := range a.GPULoads() {
				out[g] = l.Cameras
			}
			return out
		},
		Hub: func() metrics.Hub {
			s := a.hub.Stats()
			return metrics.Hub{Published: s.Published, Dropped: s.Dropped}
		},
		WebSocket: func() metrics.WebSocket {
			n, q := a.server.WSClients()
			return metrics.WebSocket{Clients: n, Queued: q}
		},
		WebRTCViewers: a.webrtcViewers,
		Info:          map[string]string{"device": a.cfg.Device, "mode": a.engine.plan.Mode()},
	})
	if err != nil {
		return err
	}
	a.ops.metrics = m
	a.AddObserver(m.ObserveResult)
	// Not public: the token guards metrics like the rest of the API.
	if err := a.server.Handle("GET /metrics", m.Handler(), false); err != nil {
		return fmt.Errorf("metrics route: %w", err)
	}
	if err := a.server.HandleFunc("GET /api/gpus", a.handleGPUs, false); err != nil { // lanes.go
		return fmt.Errorf("gpus route: %w", err)
	}
	return a.initPprof()
}

// metricCameras adapts the camera list (disabled cameras included) for the collector.
func (a *App) metricCameras() []metrics.Camera {
	var list []metrics.Camera
	for _, st := range a.ops.api.List() {
		list = append(list, metrics.Camera{ID: st.ID, State: string(st.State), FPS: st.FPS,
			Decoded: st.Frames, Inferred: st.Inferred, Dropped: st.Dropped, Reconnects: st.Reconnects,
			DropRatio: st.DropRate, GPU: st.GPU})
	}
	return list
}

// gpuMemory is each GPU's memory, for /metrics.
func (a *App) gpuMemory() []metrics.GPUMemory {
	var out []metrics.GPUMemory
	for _, g := range a.engine.GPUs() {
		if free, total, ok := a.engine.GPUMemInfo(g); ok {
			out = append(out, metrics.GPUMemory{GPU: g, Used: total - free, Total: total})
		}
	}
	return out
}

// watchGPU, once a second, tells the placer each GPU's analysed frames/s, takes a GPU whose
// context fails out of service (failGPU), and logs each GPU's memory every
// processing.stats_every_frames decoded frames of its cameras, as a warning above
// processing.gpu_memory_warn_mb. It does nothing outside cuda mode, and returns when ctx ends.
func (a *App) watchGPU(ctx context.Context) {
	gpus := a.engine.GPUs()
	if len(gpus) == 0 {
		return
	}
	logs := map[int]*gpuLog{}
	for _, g := range gpus {
		memInfo := func() (uint64, uint64, bool) { return a.engine.GPUMemInfo(g) }
		logs[g] = newGPULog(a.log.With("gpu", g), a.cfg.Processing.StatsEveryFrames, a.cfg.Processing.GPUMemoryWarnMB, memInfo)
	}
	failed := map[int]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		frames, fps := map[int]uint64{}, map[int]float64{}
		for _, st := range a.cameras.List() {
			if st.GPU != nil {
				frames[*st.GPU] += st.Frames
				fps[*st.GPU] += st.FPS
			}
		}
		for _, g := range gpus {
			if failed[g] {
				continue
			}
			if err := a.engine.gpuError(g); err != nil {
				failed[g] = true
				a.failGPU(g, err)
				continue
			}
			a.placer.SetFPS(g, fps[g])
			logs[g].step(frames[g])
		}
	}
}

// gpuLog writes the periodic GPU memory line. Frames are counted from the cameras' decoded
// counters, read once a second (not on the frame path).
type gpuLog struct {
	log     *slog.Logger
	every   uint64
	warnMB  uint64 // 0: never warn
	memInfo func() (free, total uint64, ok bool)
	next    uint64 // log when the frame total reaches this
	last    uint64
}

func newGPULog(log *slog.Logger, every, warnMB int, memInfo func() (uint64, uint64, bool)) *gpuLog {
	e := uint64(max(1, every))
	return &gpuLog{log: log, every: e, warnMB: uint64(max(0, warnMB)), memInfo: memInfo, next: e}
}

// step takes the current frame total and logs if another `every` frames went by. It reports
// whether it logged.
func (g *gpuLog) step(frames uint64) bool {
	if frames < g.last {
		g.next = frames + g.every // a removed camera took its frames with it: count from here
	}
	g.last = frames
	if frames < g.next {
		return false
	}
	g.next = frames + g.every
	free, total, ok := g.memInfo()
	if !ok {
		return false
	}
	usedMB := (total - free) >> 20
	if g.warnMB > 0 && usedMB > g.warnMB {
		g.log.Warn("gpu memory high", "used_mb", usedMB, "total_mb", total>>20, "warn_mb", g.warnMB, "frames", frames)
	} else {
		g.log.Info("gpu memory", "used_mb", usedMB, "total_mb", total>>20, "frames", frames)
	}
	return true
}
