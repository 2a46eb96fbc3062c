package simulate

// #cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0 gstreamer-app-1.0 gstreamer-rtsp-server-1.0
// #include <stdlib.h>
// #include "csim.h"
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// errFlushing is returned by frameSource.push when the pipeline is shutting down.
var errFlushing = errors.New("simulate: appsrc is flushing")

// frameSource feeds rendered frames into one appsrc. Buffers come from a GStreamer buffer
// pool owned by the source (C memory, recycled, released deterministically: the pool
// returns each buffer when the encoder unrefs it), so a frame costs no Go allocation
// beyond what Scene.RenderI420 does itself.
type frameSource struct {
	c    *C.SimFrameSrc
	size int
}

// newFrameSource wraps appsrc (a *GstElement; the source takes its own reference) for
// frames of width x height.
func newFrameSource(appsrc unsafe.Pointer, width, height int) (*frameSource, error) {
	c := C.sim_frame_src_new((*C.GstElement)(appsrc), C.int(width), C.int(height))
	if c == nil {
		return nil, fmt.Errorf("simulate: cannot set up a %dx%d buffer pool", width, height)
	}
	return &frameSource{c: c, size: width * height * 3 / 2}, nil
}

// push renders frame n of scene into a pooled buffer and pushes it with the given
// timestamps. It blocks while the appsrc queue is full.
func (f *frameSource) push(scene *Scene, n int, pts, duration time.Duration) error {
	p := C.sim_frame_src_begin(f.c)
	if p == nil {
		return errors.New("simulate: cannot acquire a frame buffer")
	}
	scene.RenderI420(n, unsafe.Slice((*byte)(unsafe.Pointer(p)), f.size))
	switch ret := C.sim_frame_src_push(f.c, C.guint64(pts), C.guint64(duration)); ret {
	case C.GST_FLOW_OK:
		return nil
	case C.GST_FLOW_FLUSHING:
		return errFlushing
	default:
		return fmt.Errorf("simulate: appsrc push: flow %s", C.GoString(C.gst_flow_get_name(C.GstFlowReturn(ret))))
	}
}

// usesMeta reports whether buffers carry a GstVideoMeta (sizes whose packed layout is not
// GStreamer's default one).
func (f *frameSource) usesMeta() bool { return C.sim_frame_src_uses_meta(f.c) != 0 }

// unblock makes a push that is blocked on a full queue return (last resort at shutdown).
func (f *frameSource) unblock() { C.sim_frame_src_unblock(f.c) }

// close releases the pool and the appsrc reference.
func (f *frameSource) close() {
	if f.c != nil {
		C.sim_frame_src_free(f.c)
		f.c = nil
	}
}

// checkLaunch parses a pipeline description, returning an error naming what is wrong.
func checkLaunch(launch string) error {
	cl := C.CString(launch)
	defer C.free(unsafe.Pointer(cl))
	if msg := C.sim_check_launch(cl); msg != nil {
		defer C.g_free(C.gpointer(msg))
		return fmt.Errorf("simulate: media pipeline: %s", C.GoString(msg))
	}
	return nil
}

// frameTime is the start time of frame n at fps, exact in integer nanoseconds.
func frameTime(n, fps int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(fps))
}
