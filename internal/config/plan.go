package config

import (
	"fmt"
	"math/bits"
	"strings"
)

// Automatic processing choices, used for the fields the config leaves out: the unified mode
// while one GPU carries every camera at full rate inline, the decoupled stage with a CUDA graph
// beyond. BENCHMARKS.md has the runs behind the numbers.
const (
	// UnifiedMaxCameras is the most enabled cameras for which the unified mode is chosen: half
	// what the unified mode carries at full rate on one GPU, and few enough for a CPU's cores
	// to serve a session per camera.
	UnifiedMaxCameras = 8
	// AutoMaxBatchCUDA and AutoMaxBatchCPU cap the batch sized from the camera count: 32 is
	// where the GPU's throughput levels off (and each of the 6 batch sets holds 32 frames of
	// GPU memory); on a CPU a larger batch only holds more input memory.
	AutoMaxBatchCUDA = 32
	AutoMaxBatchCPU  = 8
)

// Plan is how the inference stage runs once the automatic choices are made.
type Plan struct {
	Decoupled bool // the shared batching stage, else inference inline per camera
	MaxBatch  int  // the decoupled stage's batch size
	CUDAGraph bool // the decoupled stage replays a CUDA graph
	// Why lists the choices made automatically and their reasons, one clause each; empty
	// when the config set every field.
	Why []string
}

// Mode is ModeDecoupled or ModeUnified.
func (p Plan) Mode() string {
	if p.Decoupled {
		return ModeDecoupled
	}
	return ModeUnified
}

// Reason joins Why for a log line.
func (p Plan) Reason() string { return strings.Join(p.Why, "; ") }

// EnabledCameras counts the cameras that run at start.
func (c *Config) EnabledCameras() int {
	n := 0
	for _, cam := range c.Cameras {
		if cam.IsEnabled() {
			n++
		}
	}
	return n
}

// Plan resolves processing.ENABLE_DECOUPLED_PIPELINE, max_batch and cuda_graph: an explicit
// value (file or environment) is always honoured; an absent one is chosen so that the enabled
// cameras are carried on the configured device. Cameras added later through the API do not
// change the plan of a running server.
func (c *Config) Plan() Plan { return c.PlanFor(max(1, len(c.GPUs))) }

// PlanFor is Plan for cameras spread over gpus GPUs, each with its own stage: the choices are
// made for one GPU's share of the enabled cameras (rounded up).
func (c *Config) PlanFor(gpus int) Plan {
	p := c.Processing
	n := c.EnabledCameras()
	var plan Plan
	if gpus > 1 && c.Device == DeviceCUDA {
		n = (n + gpus - 1) / gpus
		plan.Why = append(plan.Why, fmt.Sprintf("%d GPUs: each stage sized for its share, %d cameras", gpus, n))
	}
	switch {
	case p.EnableDecoupledPipeline != nil:
		plan.Decoupled = *p.EnableDecoupledPipeline
	case isTrue(p.CUDAGraph):
		plan.Decoupled = true
		plan.Why = append(plan.Why, "decoupled mode: processing.cuda_graph needs it")
	case n > UnifiedMaxCameras:
		plan.Decoupled = true
		plan.Why = append(plan.Why, fmt.Sprintf(
			"decoupled mode: %d cameras, more than the %d unified mode is chosen for (each camera's inline inference falls behind)",
			n, UnifiedMaxCameras))
	default:
		plan.Why = append(plan.Why, fmt.Sprintf(
			"unified mode: %d cameras, at most the %d it is chosen for (lowest latency)", n, UnifiedMaxCameras))
	}
	if p.MaxBatch != nil {
		plan.MaxBatch = *p.MaxBatch
	} else {
		plan.MaxBatch = autoMaxBatch(n, c.Device)
		switch {
		case !plan.Decoupled:
		case n == 0:
			plan.Why = append(plan.Why, fmt.Sprintf("max_batch %d: no camera configured yet", plan.MaxBatch))
		default:
			plan.Why = append(plan.Why, fmt.Sprintf("max_batch %d: sized for %d cameras", plan.MaxBatch, n))
		}
	}
	if p.CUDAGraph != nil {
		plan.CUDAGraph = *p.CUDAGraph
	} else if plan.Decoupled && c.Device == DeviceCUDA {
		plan.CUDAGraph = true
		plan.Why = append(plan.Why, "cuda_graph on: decoupled mode on cuda runs each batch as one graph launch")
	}
	return plan
}

// DropRemedy is what to change when cameras drop frames before the detector under this plan
// on device: the camera's drop warning ends with it.
func (p Plan) DropRemedy(device string) string {
	switch {
	case !p.Decoupled && device == DeviceCUDA:
		return "each camera's inline inference is slower than its frame rate: set processing.ENABLE_DECOUPLED_PIPELINE to true (one batched stage for all cameras), or raise inference.every_n_frames"
	case !p.Decoupled:
		return "the CPU cannot run the detector at every camera's frame rate: raise inference.every_n_frames, use fewer cameras, or use device cuda"
	case device == DeviceCUDA && !p.CUDAGraph:
		return "the shared inference stage is saturated: set processing.cuda_graph to true, raise inference.every_n_frames, or use a smaller model"
	case device == DeviceCUDA:
		return "the shared inference stage is saturated: raise inference.every_n_frames or use a smaller model"
	default:
		return "the shared inference stage is saturated: raise inference.every_n_frames, use fewer cameras, or use device cuda"
	}
}

// autoMaxBatch is the batch for n cameras: the power of two that holds one frame of each
// (a captured graph always runs every slot, so a larger batch is wasted work), capped per
// device. With no camera configured yet (cameras come through the API) it is DefaultMaxBatch.
func autoMaxBatch(n int, device string) int {
	if n <= 0 {
		return DefaultMaxBatch
	}
	limit := AutoMaxBatchCPU
	if device == DeviceCUDA {
		limit = AutoMaxBatchCUDA
	}
	pow := 1 << bits.Len(uint(n-1)) // smallest power of two ≥ n
	return min(pow, limit)
}

func isTrue(p *bool) bool  { return p != nil && *p }
func isFalse(p *bool) bool { return p != nil && !*p }
