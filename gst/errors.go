package gst

import "errors"

// Sentinel errors of the GStreamer glue; wrapped with details where they are returned.
var (
	ErrMissingElement = errors.New("GStreamer element not available")
	ErrCaps           = errors.New("unsupported caps")
	ErrMap            = errors.New("cannot map video frame")
	ErrCodec          = errors.New("unsupported stream")
	ErrCUDAContext    = errors.New("cannot share the CUDA context with GStreamer")
	ErrPipeline       = errors.New("pipeline error")
	ErrEOS            = errors.New("end of stream")
	ErrStall          = errors.New("no frames")
	ErrOptions        = errors.New("invalid pipeline options")
)
