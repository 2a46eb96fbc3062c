// C side of the GStreamer glue: frame stamping, CUDA context sharing, frame mapping.
#include "gstv.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

// gstv_tune_malloc sets malloc's process-wide tuning for pipelines that are rebuilt again and
// again (gst.TuneMalloc says why); the MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ environment
// variables, where set, win.
void gstv_tune_malloc(void) {
	if (getenv("MALLOC_ARENA_MAX") == NULL) mallopt(M_ARENA_MAX, 2);
	if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

// gstv_trim_malloc hands the free pages inside malloc's arenas back to the system. A torn-down
// pipeline frees megabytes of small blocks (caps, events, parser state) in the middle of an
// arena, where glibc keeps them resident until the same sizes come again.
void gstv_trim_malloc(void) { malloc_trim(0); }

// The few GStreamer CUDA calls are declared here: the gst/cuda headers include cuda.h, which
// this build deliberately does not need (CUDA is loaded at run time).
typedef struct _GstCudaContext GstCudaContext;
gboolean gst_cuda_load_library(void);
GstCudaContext *gst_cuda_context_new_wrapped(void *ctx, int dev);
GstContext *gst_context_new_cuda_context(GstCudaContext *c);
gboolean gst_is_cuda_memory(GstMemory *m);
#define GSTV_MAP_CUDA (GST_MAP_FLAG_LAST << 1)

// ---- frame index stamping -------------------------------------------------------------------
// A probe on the decoder's source pad numbers every decoded frame before any queue may drop it,
// so results carry the frame's index in the camera's stream. The index travels as qdata on the
// buffer's first memory, which GStreamer lets anyone set on a shared buffer and which shallow
// copies of the buffer downstream (made by elements that need it writable) share, where qdata
// on the buffer itself would be lost. Writing GST_BUFFER_OFFSET would
// need gst_buffer_make_writable, which copies the buffer whenever the decoder still holds a
// reference (with nvh264dec, every camera at every keyframe): the copy shares the CUDA memory,
// so the decoder's pool discards the original, frees the memory later (cuMemFree) and allocates
// anew (cuMemAllocPitch), and both synchronise the whole GPU: on the H100 that stalled
// inference for tens of milliseconds several times a second with 85 cameras.
static GQuark gstv_index_quark(void) {
	static gsize q;
	if (g_once_init_enter(&q)) g_once_init_leave(&q, (gsize)g_quark_from_static_string("gstvision-frame-index"));
	return (GQuark)q;
}

// gstv_stamp_target is what carries a buffer's index: its first memory, else the buffer.
static GstMiniObject *gstv_stamp_target(GstBuffer *buf) {
	if (gst_buffer_n_memory(buf) > 0) return GST_MINI_OBJECT_CAST(gst_buffer_peek_memory(buf, 0));
	return GST_MINI_OBJECT_CAST(buf);
}

static GstPadProbeReturn gstv_stamp(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	gstv_counter *c = (gstv_counter *)user;
	GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
	if (!buf) return GST_PAD_PROBE_OK;
	guint64 n = __atomic_fetch_add(&c->count, 1, __ATOMIC_RELAXED);
	gint64 now = g_get_monotonic_time() * 1000;
	// stored as n+1: no qdata (NULL) means not stamped
	gst_mini_object_set_qdata(gstv_stamp_target(buf), gstv_index_quark(), (gpointer)(guintptr)(n + 1), NULL);
	__atomic_store_n(&c->times[n % GSTV_TIMES], now, __ATOMIC_RELAXED);
	__atomic_store_n(&c->last_ns, now, __ATOMIC_RELAXED);
	return GST_PAD_PROBE_OK;
}
gulong gstv_add_stamp_probe(GstPad *pad, gstv_counter *c) {
	return gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, gstv_stamp, c, NULL);
}
guint64 gstv_counter_get(gstv_counter *c) { return __atomic_load_n(&c->count, __ATOMIC_RELAXED); }
gint64 gstv_counter_last(gstv_counter *c) { return __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED); }
gint64 gstv_counter_time(gstv_counter *c, guint64 index) { return __atomic_load_n(&c->times[index % GSTV_TIMES], __ATOMIC_RELAXED); }

// ---- CUDA context sharing -------------------------------------------------------------------
GstContext *gstv_cuda_context(guintptr handle, int dev, char **err) {
	if (!gst_cuda_load_library()) { *err = strdup("GStreamer could not load the CUDA library (libcuda.so.1)"); return NULL; }
	GstCudaContext *c = gst_cuda_context_new_wrapped((void *)handle, dev);
	if (!c) { *err = strdup("gst_cuda_context_new_wrapped failed"); return NULL; }
	GstContext *gc = gst_context_new_cuda_context(c);
	gst_object_unref(c);
	return gc;
}
// Answers decoders' need-context with the shared context; everything else goes to the bus.
static GstBusSyncReply gstv_bus_sync(GstBus *bus, GstMessage *m, gpointer user) {
	if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_NEED_CONTEXT) {
		const gchar *t = NULL;
		if (gst_message_parse_context_type(m, &t) && t && strcmp(t, "gst.cuda.context") == 0)
			gst_element_set_context(GST_ELEMENT(GST_MESSAGE_SRC(m)), (GstContext *)user);
	}
	return GST_BUS_PASS;
}
void gstv_share_cuda_context(GstElement *pipeline, GstContext *ctx) {
	gst_element_set_context(pipeline, ctx);
	GstBus *bus = gst_element_get_bus(pipeline);
	gst_bus_set_sync_handler(bus, gstv_bus_sync, gst_context_ref(ctx), (GDestroyNotify)gst_context_unref);
	gst_object_unref(bus);
}
void gstv_context_unref(GstContext *c) { gst_context_unref(c); }

// ---- frame mapping --------------------------------------------------------------------------


GstVideoInfo *gstv_info_from_caps(GstCaps *caps) { return gst_video_info_new_from_caps(caps); }
void gstv_info_free(GstVideoInfo *i) { gst_video_info_free(i); }
int gstv_info_width(GstVideoInfo *i) { return GST_VIDEO_INFO_WIDTH(i); }
int gstv_info_height(GstVideoInfo *i) { return GST_VIDEO_INFO_HEIGHT(i); }
const char *gstv_info_format(GstVideoInfo *i) { return gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(i)); }
int gstv_caps_is_cuda(GstCaps *caps) {
	GstCapsFeatures *f = gst_caps_get_features(caps, 0);
	return f && gst_caps_features_contains(f, "memory:CUDAMemory");
}

// gstv_map maps buf for reading (in CUDA memory when cuda is set); the frame holds a reference
// to the buffer until gstv_unmap. Returns NULL with *why set when it cannot.
gstv_mapped *gstv_map(GstBuffer *buf, GstVideoInfo *info, int cuda, const char **why) {
	if (cuda && !gst_is_cuda_memory(gst_buffer_peek_memory(buf, 0))) { *why = "buffer is not in CUDA memory"; return NULL; }
	gstv_mapped *m = g_new0(gstv_mapped, 1);
	GstMapFlags flags = GST_MAP_READ | (cuda ? GSTV_MAP_CUDA : 0);
	if (!gst_video_frame_map(&m->frame, info, buf, flags)) { g_free(m); *why = "gst_video_frame_map failed"; return NULL; }
	return m;
}
void gstv_unmap(gstv_mapped *m) { gst_video_frame_unmap(&m->frame); g_free(m); }
int gstv_n_planes(gstv_mapped *m) { return GST_VIDEO_FRAME_N_PLANES(&m->frame); }
void *gstv_plane(gstv_mapped *m, int i) { return GST_VIDEO_FRAME_PLANE_DATA(&m->frame, i); }
int gstv_stride(gstv_mapped *m, int i) { return GST_VIDEO_FRAME_PLANE_STRIDE(&m->frame, i); }
int gstv_comp_height(gstv_mapped *m, int i) { return GST_VIDEO_FRAME_COMP_HEIGHT(&m->frame, i); }
guint64 gstv_buf_index(GstBuffer *b) {
	guintptr v = (guintptr)gst_mini_object_get_qdata(gstv_stamp_target(b), gstv_index_quark());
	return v == 0 ? GST_BUFFER_OFFSET_NONE : (guint64)(v - 1);
}
guint64 gstv_buf_pts(GstBuffer *b) { return GST_BUFFER_PTS(b); }

// ---- viewer encoder I/O -----------------------------------------------------------------------
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>

// gstv_push_frame copies data into a new buffer and hands it to appsrc (which owns it then).
int gstv_push_frame(GstElement *appsrc, const guint8 *data, gsize size, guint64 pts) {
	GstBuffer *b = gst_buffer_new_allocate(NULL, size, NULL);
	if (!b) return GST_FLOW_ERROR;
	gst_buffer_fill(b, 0, data, size);
	GST_BUFFER_PTS(b) = pts;
	return gst_app_src_push_buffer(GST_APP_SRC(appsrc), b);
}

// gstv_pull_au copies the next encoded access unit into dst and releases the sample at once.
// Returns its size, 0 on timeout, -1 at EOS, -2 when dst is too small.
gssize gstv_pull_au(GstElement *appsink, guint64 timeout_ns, guint8 *dst, gsize cap, guint64 *pts, int *eos) {
	GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(appsink), timeout_ns);
	if (!s) { *eos = gst_app_sink_is_eos(GST_APP_SINK(appsink)); return *eos ? -1 : 0; }
	GstBuffer *b = gst_sample_get_buffer(s);
	gsize n = gst_buffer_get_size(b);
	gssize ret = -2;
	if (n <= cap) { gst_buffer_extract(b, 0, dst, n); ret = (gssize)n; }
	*pts = GST_BUFFER_PTS(b);
	gst_sample_unref(s);
	return ret;
}

// gstv_force_key_unit asks the encoder for an IDR (with SPS/PPS) as soon as possible.
void gstv_force_key_unit(GstElement *encoder) {
	GstPad *src = gst_element_get_static_pad(encoder, "src");
	if (!src) return;
	gst_pad_send_event(src, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
	gst_object_unref(src);
}
