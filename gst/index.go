package gst

// #include "gstv.h"
import "C"

// NumberFrom makes the pipeline number its decoded frames from first on instead of 0, so
// that a camera's frame numbers (results' frame, the viewer's matching of frames with their
// detections) keep increasing across the pipelines it rebuilds. Decoded then counts from
// first too. Call it before Start: the decoder's probe is the only writer afterwards.
func (p *CameraPipeline) NumberFrom(first uint64) {
	p.frames.c.count = C.guint64(first)
}
