// The timestamp guard of an RTSP camera's depayloader (see ptsguard.go).
#ifndef GSTV_PTSGUARD_H
#define GSTV_PTSGUARD_H
#include <gst/gst.h>

gulong gstv_add_pts_guard(GstPad *pad, guint64 headroom);

#endif
