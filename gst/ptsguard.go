package gst

// #include "ptsguard.h"
import "C"

import (
	"time"
	"unsafe"

	gogst "github.com/go-gst/go-gst/gst"
)

// ptsHeadroom is how far before an RTSP stream's first packet a picture may be shown and
// still keep a valid timestamp. It covers the deepest reordering a camera can send (16
// pictures: over 3 s at 5 fps, 8 s at 2 fps). The PTS that results carry start at
// ptsHeadroom instead of 0; the spacing of frames, the camera's own timing, is unchanged.
const ptsHeadroom = 10 * time.Second

// guardTimestamps lifts the timestamps leaving pad (an RTP depayloader's) by ptsHeadroom.
//
// With buffer-mode=none, rtpjitterbuffer gives the first packet PTS 0 and every later one its
// RTP-time distance from that packet, in an unsigned GstClockTime. A picture sent after the
// first one but shown before it gets a negative distance, which wraps to about 2^64: the
// B-pictures after the P- or I-picture that a client joining mid-GOP (any reconnect) gets
// first, or the leading pictures after the CRA/IDR a stream starts with. The decoder outputs
// that picture with the wrapped PTS, and from then on stamps every picture with it ("decreasing
// timestamp"); where PTS + duration overflows, it drops them all as outside the segment, and
// the camera decodes one frame then none. Lifted by the headroom, the wrapped times land back
// in order, just before the first packet's. A picture more than the headroom before it (an
// RTP clock stepping far back) is dropped rather than given a time out of order.
func guardTimestamps(pad *gogst.Pad) {
	C.gstv_add_pts_guard((*C.GstPad)(unsafe.Pointer(pad.Instance())), C.guint64(ptsHeadroom))
}
