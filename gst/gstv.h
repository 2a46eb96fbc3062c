// Declarations of the C helpers in gstv.c, shared by the Go files of package gst.
#ifndef GSTV_H
#define GSTV_H
#include <gst/gst.h>
#include <gst/video/video.h>

#define GSTV_TIMES 4096
// count: frames decoded; last_ns: monotonic time of the latest; times: decode time of frame i at i % GSTV_TIMES
typedef struct { guint64 count; gint64 last_ns; gint64 times[GSTV_TIMES]; } gstv_counter;
gint64 gstv_counter_time(gstv_counter *c, guint64 index);
gulong gstv_add_stamp_probe(GstPad *pad, gstv_counter *c);
guint64 gstv_counter_get(gstv_counter *c);
gint64 gstv_counter_last(gstv_counter *c);

GstContext *gstv_cuda_context(guintptr handle, int dev, char **err);
void gstv_share_cuda_context(GstElement *pipeline, GstContext *ctx);
void gstv_context_unref(GstContext *c);

typedef struct { GstVideoFrame frame; } gstv_mapped;
GstVideoInfo *gstv_info_from_caps(GstCaps *caps);
void gstv_info_free(GstVideoInfo *i);
int gstv_info_width(GstVideoInfo *i);
int gstv_info_height(GstVideoInfo *i);
const char *gstv_info_format(GstVideoInfo *i);
int gstv_caps_is_cuda(GstCaps *caps);
gstv_mapped *gstv_map(GstBuffer *buf, GstVideoInfo *info, int cuda, const char **why);
void gstv_unmap(gstv_mapped *m);
int gstv_n_planes(gstv_mapped *m);
void *gstv_plane(gstv_mapped *m, int i);
int gstv_stride(gstv_mapped *m, int i);
int gstv_comp_height(gstv_mapped *m, int i);
guint64 gstv_buf_index(GstBuffer *b);
guint64 gstv_buf_pts(GstBuffer *b);
void gstv_tune_malloc(void);
void gstv_trim_malloc(void);
#endif

int gstv_push_frame(GstElement *appsrc, const guint8 *data, gsize size, guint64 pts);
gssize gstv_pull_au(GstElement *appsink, guint64 timeout_ns, guint8 *dst, gsize cap, guint64 *pts, int *eos);
void gstv_force_key_unit(GstElement *encoder);
