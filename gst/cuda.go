package gst

// #include "gstv.h"
// #include <stdlib.h>
import "C"

import (
	"fmt"
	"unsafe"

	gogst "github.com/go-gst/go-gst/gst"
)

// CUDAContext is the application's CUDA context (the device's primary context) wrapped for
// GStreamer, so that every decoder of every camera decodes into it: one context for all
// pipelines and for ONNX Runtime (separate contexts cost 5.5x in NVDEC throughput).
type CUDAContext struct {
	ctx    *C.GstContext
	device int
}

// WrapCUDAContext wraps handle (a CUcontext, e.g. the primary context) of device.
func WrapCUDAContext(handle uintptr, device int) (*CUDAContext, error) {
	var cerr *C.char
	c := C.gstv_cuda_context(C.guintptr(handle), C.int(device), &cerr)
	if c == nil {
		msg := C.GoString(cerr)
		C.free(unsafe.Pointer(cerr))
		return nil, fmt.Errorf("%w: %s", ErrCUDAContext, msg)
	}
	return &CUDAContext{ctx: c, device: device}, nil
}

// Device is the CUDA device ordinal of the context: its pipelines decode with that GPU's
// NVDEC element (NVDecoderFor).
func (c *CUDAContext) Device() int { return c.device }

// Apply sets the context on the pipeline and answers its elements' need-context messages.
func (c *CUDAContext) Apply(p *gogst.Pipeline) {
	C.gstv_share_cuda_context((*C.GstElement)(unsafe.Pointer(p.Instance())), c.ctx)
}

// Close drops the application's reference (pipelines keep their own).
func (c *CUDAContext) Close() {
	if c.ctx != nil {
		C.gstv_context_unref(c.ctx)
		c.ctx = nil
	}
}
