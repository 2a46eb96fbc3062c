// ptsguard.c: lifts an RTSP camera's timestamps by a fixed headroom, so that pictures shown
// before the first packet's time keep a valid, increasing PTS (the mechanism: ptsguard.go).
#include "ptsguard.h"

// gstv_lift moves t forward by headroom. A time before the first packet's arrives wrapped
// below zero (2^64 minus a few frames): read as signed it is that small negative number, and
// the unsigned sum wraps back to its true place. *lost is set when t lies more than headroom
// before the first packet: no valid time can carry it.
static GstClockTime gstv_lift(GstClockTime t, guint64 headroom, gboolean *lost) {
	if (!GST_CLOCK_TIME_IS_VALID(t)) return t;
	if ((gint64)t < -(gint64)headroom) {
		*lost = TRUE;
		return t;
	}
	return t + headroom;
}

// gstv_lift_buffer lifts one buffer's PTS and DTS in place (buf must be writable); FALSE when
// the buffer cannot be given a valid time.
static gboolean gstv_lift_buffer(GstBuffer *buf, guint64 headroom) {
	gboolean lost = FALSE;
	GST_BUFFER_PTS(buf) = gstv_lift(GST_BUFFER_PTS(buf), headroom, &lost);
	GST_BUFFER_DTS(buf) = gstv_lift(GST_BUFFER_DTS(buf), headroom, &lost);
	return !lost;
}

static gboolean gstv_lift_in_list(GstBuffer **buf, guint idx, gpointer user) {
	guint64 headroom = *(guint64 *)user;
	(void)idx;
	*buf = gst_buffer_make_writable(*buf);
	if (!gstv_lift_buffer(*buf, headroom)) {
		gst_buffer_unref(*buf);
		*buf = NULL; // removed from the list
	}
	return TRUE;
}

static GstPadProbeReturn gstv_pts_guard(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	guint64 headroom = *(guint64 *)user;
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
		GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
		gst_buffer_list_foreach(list, gstv_lift_in_list, user);
		GST_PAD_PROBE_INFO_DATA(info) = list;
		return GST_PAD_PROBE_OK;
	}
	GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
	if (!buf) return GST_PAD_PROBE_OK;
	// the depayloader's own output: writable without a copy
	buf = gst_buffer_make_writable(buf);
	GST_PAD_PROBE_INFO_DATA(info) = buf;
	if (!gstv_lift_buffer(buf, headroom)) {
		GST_WARNING_OBJECT(pad, "dropping a picture timed more than %" GST_TIME_FORMAT " before the stream's first packet",
			GST_TIME_ARGS(headroom));
		return GST_PAD_PROBE_DROP;
	}
	return GST_PAD_PROBE_OK;
}

gulong gstv_add_pts_guard(GstPad *pad, guint64 headroom) {
	guint64 *h = g_new(guint64, 1);
	*h = headroom;
	return gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, gstv_pts_guard, h, g_free);
}
