package app

import (
	"fmt"
	"log/slog"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/inference"
)

// gpuDevice is one GPU's side of the engine: its primary context, shared by the decoders of
// the cameras placed on it (through GStreamer) and by ONNX Runtime's sessions on it. Nothing
// made in one GPU's context is used on another: no frame crosses GPUs.
type gpuDevice struct {
	index int
	ctx   *cuda.Context
	gst   *gst.CUDAContext
}

// openGPUs opens every GPU of the config's gpus (all the driver sees when empty), failing
// hard and naming what is missing: driver/GPU, NVDEC (per GPU), NVRTC (checked when the
// first backend compiles its kernels) or the CUDA execution provider (checked by the first
// backend). There is no CPU fallback.
func (e *Engine) openGPUs(log *slog.Logger) error {
	indices := e.cfg.GPUs
	if len(indices) == 0 {
		var err error
		if indices, err = cuda.Ordinals(); err != nil {
			return err
		}
	}
	for _, i := range indices {
		d, err := openGPU(i)
		if err != nil {
			return fmt.Errorf("gpus: GPU %d: %w", i, err)
		}
		e.gpus = append(e.gpus, d)
		free, total, _ := d.ctx.MemInfo()
		log.Info("GPU ready", "gpu", i, "name", d.ctx.Name(), "driver", d.ctx.DriverVersion(),
			"memory_used_mb", (total-free)>>20, "memory_total_mb", total>>20)
	}
	return nil
}

// openGPU retains GPU index's primary context, checks that GStreamer has an NVDEC H.264
// decoder bound to it, and wraps the context for GStreamer's need-context.
func openGPU(index int) (*gpuDevice, error) {
	ctx, err := cuda.Open(index)
	if err != nil {
		return nil, err
	}
	nvdec, _ := gst.Decoder(gst.CodecH264, true)
	if err := nvdec.Missing(); err != nil {
		ctx.Close()
		return nil, err
	}
	if _, err := gst.NVDecoderFor(gst.CodecH264, index); err != nil {
		ctx.Close()
		return nil, err
	}
	gctx, err := gst.WrapCUDAContext(ctx.Handle(), ctx.Device())
	if err != nil {
		ctx.Close()
		return nil, err
	}
	return &gpuDevice{index: index, ctx: ctx, gst: gctx}, nil
}

func (d *gpuDevice) newBackend(info inference.ModelInfo, maxBatch int, graph bool) (inference.Backend, error) {
	return inference.NewCUDABackend(info, maxBatch, d.ctx, inference.CUDAOptions{Graph: graph})
}

func (d *gpuDevice) close() {
	d.gst.Close()
	d.ctx.Close()
}

// GPUs lists the CUDA device ordinals in use (none outside cuda mode).
func (e *Engine) GPUs() []int {
	out := make([]int, 0, len(e.gpus))
	for _, d := range e.gpus {
		out = append(out, d.index)
	}
	return out
}

// MemInfo reports the GPU memory (free, total) summed over the GPUs in use, or ok=false
// outside cuda mode.
func (e *Engine) MemInfo() (free, total uint64, ok bool) {
	for _, d := range e.gpus {
		f, t, err := d.ctx.MemInfo()
		if err != nil {
			return 0, 0, false
		}
		free, total, ok = free+f, total+t, true
	}
	return free, total, ok
}

// GPUMemInfo reports one GPU's memory (free, total); ok is false for a GPU not in use.
func (e *Engine) GPUMemInfo(gpu int) (free, total uint64, ok bool) {
	d := e.device(gpu)
	if d == nil {
		return 0, 0, false
	}
	f, t, err := d.ctx.MemInfo()
	return f, t, err == nil
}

// device returns the GPU of ordinal gpu, nil outside cuda mode or for a GPU not in use.
func (e *Engine) device(gpu int) *gpuDevice {
	for _, d := range e.gpus {
		if d.index == gpu {
			return d
		}
	}
	return nil
}

// gpuError is the error GPU gpu's context answers a query with, nil while it works.
func (e *Engine) gpuError(gpu int) error {
	d := e.device(gpu)
	if d == nil {
		return nil
	}
	_, _, err := d.ctx.MemInfo()
	return err
}
