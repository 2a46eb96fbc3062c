package app

import (
	"fmt"
	"net/http"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/analytics"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/placement"
	"github.com/gstvision/gstvision/internal/server"
)

// lane is one device's share of the analysis: a GPU with its own inference stage (sessions,
// batch sets, CUDA graph), or the CPU in cpu mode. A camera placed on a lane decodes in that
// GPU's context and its frames go to that lane's stage only.
type lane struct {
	dev   *gpuDevice // nil: the CPU
	stage *analytics.Stage
}

// gpu is the lane's CUDA ordinal, nil for the CPU.
func (l *lane) gpu() *int {
	if l.dev == nil {
		return nil
	}
	i := l.dev.index
	return &i
}

// newLanes makes one stage per device, each with opts and that device's detectors. In cuda
// mode it also makes the placer that spreads cameras over the GPUs.
func (a *App) newLanes(opts analytics.Options) error {
	for _, d := range a.engine.devices() {
		o := opts
		o.NewDetector, o.NewBatchDetector = a.engine.detectorFactories(d)
		s, err := analytics.New(o)
		if err != nil {
			a.closeLanes()
			if d != nil {
				err = fmt.Errorf("GPU %d: %w", d.index, err)
			}
			return err
		}
		a.lanes = append(a.lanes, &lane{dev: d, stage: s})
	}
	a.stage = a.lanes[0].stage
	if gpus := a.engine.GPUs(); len(gpus) > 0 {
		p, err := placement.New(gpus)
		if err != nil {
			a.closeLanes()
			return err
		}
		a.placer = p
	}
	return nil
}

func (a *App) closeLanes() {
	for _, l := range a.lanes {
		l.stage.Close()
	}
}

// place decides the lane of camera c: its pinned gpu, else the GPU it runs on already, else
// the least-loaded GPU. Errors wrap placement's (a gpu not in use, a failed GPU).
func (a *App) place(c config.Camera) (*lane, error) {
	if a.placer == nil {
		return a.lanes[0], nil
	}
	g, err := a.placer.Place(c.ID, c.GPU)
	if err != nil {
		return nil, fmt.Errorf("camera %q: gpu: %w", c.ID, err)
	}
	for _, l := range a.lanes {
		if l.dev.index == g {
			return l, nil
		}
	}
	return nil, fmt.Errorf("camera %q: %w: GPU %d", c.ID, placement.ErrUnknownGPU, g)
}

// placeCamera fills in cc the lane that camera c runs on.
func (a *App) placeCamera(c config.Camera, cc *camera.Config) error {
	l, err := a.place(c)
	if err != nil {
		return err
	}
	cc.GPU, cc.Analyzer = l.gpu(), l.stage
	if l.dev != nil {
		cc.CUDA = l.dev.gst
	}
	return nil
}

// unplace forgets a removed or disabled camera's place.
func (a *App) unplace(id string) {
	if a.placer != nil {
		a.placer.Remove(id)
	}
	for _, l := range a.lanes {
		l.stage.Forget(id)
	}
}

// cudaFor is the CUDA context of the GPU camera id runs on: the placer's, or the first GPU's
// for a camera added to the manager without a place (it decodes in the manager's default
// context). Nil in cpu mode.
func (a *App) cudaFor(id string) *cuda.Context {
	if a.placer == nil {
		return nil
	}
	if g, ok := a.placer.GPU(id); ok {
		if d := a.engine.device(g); d != nil {
			return d.ctx
		}
	}
	return a.lanes[0].dev.ctx
}

// Stages lists the inference stages, one per GPU (one in cpu mode).
func (a *App) Stages() []*analytics.Stage {
	out := make([]*analytics.Stage, len(a.lanes))
	for i, l := range a.lanes {
		out[i] = l.stage
	}
	return out
}

// BatchStats sums the decoupled stages' batcher stats over the GPUs; ok is false in the
// unified mode.
func (a *App) BatchStats() (inference.BatcherStats, bool) {
	var sum inference.BatcherStats
	ok := false
	for _, l := range a.lanes {
		if b := l.stage.Batcher(); b != nil {
			sum, ok = sum.Add(b.Stats()), true
		}
	}
	return sum, ok
}

// GPULoads is each GPU's cameras and analysed frames/s (nil in cpu mode).
func (a *App) GPULoads() map[int]placement.Load {
	if a.placer == nil {
		return nil
	}
	return a.placer.Loads()
}

// failGPU takes GPU gpu out of service after its context failed with cause: the cameras the
// placer put there restart on the other GPUs; those pinned to it (cameras[].gpu), or all when
// no GPU is left, stay down with an error naming the GPU. Cameras on other GPUs go on.
func (a *App) failGPU(gpu int, cause error) {
	moved, stranded := a.placer.Fail(gpu)
	a.log.Error("GPU failed: its cameras move to the other GPUs or stop", "gpu", gpu, "err", cause,
		"moved", len(moved), "stopped", len(stranded))
	for id := range moved {
		a.restartCamera(id, nil)
	}
	for _, id := range stranded {
		a.restartCamera(id, fmt.Errorf("%w: GPU %d: %w", placement.ErrGPUFailed, gpu, cause))
	}
}

// restartCamera stops camera id and starts it again where the placer now puts it, or, with
// fault set, as a camera whose every attempt fails with fault.
func (a *App) restartCamera(id string, fault error) {
	c, ok := a.ops.api.Camera(id)
	if !ok {
		return
	}
	if err := a.cameras.Remove(id); err != nil {
		a.log.Warn("stopping camera", "camera", id, "err", err)
	}
	cc, err := a.cameraConfig(c) // placed anew: on a working GPU, or an error saying why not
	if fault == nil {
		fault = err
	}
	if fault != nil {
		cc.NewPipeline = func(camera.PipelineSpec) (camera.Pipeline, error) { return nil, fault }
	}
	if err := a.cameras.Add(cc); err != nil {
		a.log.Error("restarting camera", "camera", id, "err", err)
	}
}

// GPUs lists the GPUs in use with their load and memory (empty in cpu mode): GET /api/gpus.
func (a *App) GPUs() []defs.GPUStatus {
	out := []defs.GPUStatus{}
	loads := a.GPULoads()
	for _, l := range a.lanes {
		if l.dev == nil {
			continue
		}
		g := l.dev.index
		st := defs.GPUStatus{GPU: g, Cameras: loads[g].Cameras, FPS: loads[g].FPS, Failed: loads[g].Failed}
		if l.dev.ctx != nil {
			st.Name = l.dev.ctx.Name()
		}
		if free, total, ok := a.engine.GPUMemInfo(g); ok {
			st.MemoryUsedMB, st.MemoryTotalMB = (total-free)>>20, total>>20
		}
		out = append(out, st)
	}
	return out
}

func (a *App) handleGPUs(w http.ResponseWriter, _ *http.Request) {
	server.WriteJSON(w, http.StatusOK, a.GPUs())
}
