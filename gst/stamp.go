package gst

// #include "gstv.h"
// #include <stdlib.h>
import "C"

import (
	"time"
	"unsafe"

	gogst "github.com/go-gst/go-gst/gst"
)

// frameStamper numbers the frames that leave a pad (the decoder's source pad, before any queue
// may drop them) and remembers when each was produced. Its counter lives in C memory, written
// by the pad probe on the streaming thread; call free once nothing reads it any more.
type frameStamper struct {
	c *C.gstv_counter
}

func newFrameStamper() *frameStamper {
	return &frameStamper{c: (*C.gstv_counter)(C.calloc(1, C.sizeof_gstv_counter))}
}

// attach stamps every buffer that leaves pad with the next index (see BufferIndex). The buffer
// itself is never copied or made writable, so the decoder's pool always gets it back.
func (s *frameStamper) attach(pad *gogst.Pad) {
	C.gstv_add_stamp_probe((*C.GstPad)(unsafe.Pointer(pad.Instance())), s.c)
}

// count is the number of frames stamped.
func (s *frameStamper) count() uint64 { return uint64(C.gstv_counter_get(s.c)) }

// lastAge is the time since the latest frame, or -1 before the first.
func (s *frameStamper) lastAge() time.Duration {
	last := int64(C.gstv_counter_last(s.c))
	if last == 0 {
		return -1
	}
	return time.Duration(int64(C.g_get_monotonic_time())*1000 - last)
}

// ago is how long ago frame index was stamped (0 when it is too old to know).
func (s *frameStamper) ago(index uint64) time.Duration {
	t := int64(C.gstv_counter_time(s.c, C.guint64(index)))
	if t == 0 {
		return 0
	}
	return time.Duration(int64(C.g_get_monotonic_time())*1000 - t)
}

func (s *frameStamper) free() {
	if s.c != nil {
		C.free(unsafe.Pointer(s.c))
		s.c = nil
	}
}
