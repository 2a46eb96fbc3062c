package app

import (
	"log/slog"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/inference"
)

// cudaState is the GPU side of the engine: the device's primary context, shared by every
// decoder (through GStreamer) and by ONNX Runtime.
type cudaState struct {
	ctx *cuda.Context
}

// openCUDA fails hard, naming what is missing: driver/GPU, NVDEC, NVRTC (checked when the
// first backend compiles its kernels) or the CUDA execution provider (checked by the first
// backend). There is no CPU fallback.
func (e *Engine) openCUDA(log *slog.Logger) error {
	ctx, err := cuda.Open(0)
	if err != nil {
		return err
	}
	e.cuda = &cudaState{ctx: ctx}
	nvdec, _ := gst.Decoder(gst.CodecH264, true)
	if err := nvdec.Missing(); err != nil {
		return err
	}
	gctx, err := gst.WrapCUDAContext(ctx.Handle(), ctx.Device())
	if err != nil {
		return err
	}
	e.GstCUDA = gctx
	free, total, _ := ctx.MemInfo()
	log.Info("GPU ready", "gpu", ctx.Name(), "driver", ctx.DriverVersion(),
		"memory_used_mb", (total-free)>>20, "memory_total_mb", total>>20)
	return nil
}

func (c *cudaState) newBackend(info inference.ModelInfo, maxBatch int, graph bool) (inference.Backend, error) {
	return inference.NewCUDABackend(info, maxBatch, c.ctx, inference.CUDAOptions{Graph: graph})
}

func (c *cudaState) close() { c.ctx.Close() }

// MemInfo reports GPU memory (free, total) or ok=false outside cuda mode.
func (e *Engine) MemInfo() (free, total uint64, ok bool) {
	if e.cuda == nil {
		return 0, 0, false
	}
	f, t, err := e.cuda.ctx.MemInfo()
	return f, t, err == nil
}
