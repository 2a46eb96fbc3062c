/* clip.c: the clip mode's C half; see clip.h and clip.go. */
#include "clip.h"

#include <gst/app/gstappsink.h>
#include <string.h>

struct SimClip
{
  gint refs;
  GstCaps *caps;
  GPtrArray *aus;               /* GstBuffer*, decode order */
  GArray *dts;                  /* GstClockTime, from 0 */
  GArray *pts;                  /* GstClockTime, dts + the reordering delay */
  GArray *dur;                  /* GstClockTime */
  GstClockTime frame;           /* nominal frame duration */
  GstClockTime loop;            /* one pass of the clip */
  GstClockTime shift;           /* added to every timestamp so that none is negative */
  gboolean h265;
};

typedef struct
{
  SimServer *s;
  SimClip *clip;
  int cam;
  int offset;
  gint64 t0_us;
} SimClipMount;

/* One media's position in the clip. */
typedef struct
{
  SimClip *clip;
  guint64 start;                /* clip index of the first access unit sent */
  guint64 next;                 /* start + access units sent */
} SimClipFeed;

static SimClip *
sim_clip_ref (SimClip * c)
{
  g_atomic_int_inc (&c->refs);
  return c;
}

void
sim_clip_unref (SimClip * c)
{
  if (c == NULL || !g_atomic_int_dec_and_test (&c->refs))
    return;
  if (c->caps != NULL)
    gst_caps_unref (c->caps);
  g_ptr_array_unref (c->aus);
  g_array_unref (c->dts);
  g_array_unref (c->pts);
  g_array_unref (c->dur);
  g_free (c);
}

static char *
bus_error (GstElement * pipe)
{
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  char *msg = NULL;

  if (m != NULL) {
    GError *err = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (m, &err, &dbg);
    msg = g_strdup_printf ("%s (%s)", err != NULL ? err->message : "error",
        dbg != NULL ? dbg : "");
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (m);
  }
  gst_object_unref (bus);
  return msg;
}

SimClip *
sim_clip_load (const char *path, int mp4, int h265, double fallback_fps,
    char **err_msg)
{
  const char *codec = h265 ? "h265" : "h264";
  const char *fmt = h265 ? "hvc1" : "avc";
  gchar *launch;
  GstElement *pipe, *src, *sink;
  GError *err = NULL;
  SimClip *c;
  GstStructure *st;
  gint fn = 0, fd = 1;
  guint idle = 0;
  GstClockTime first_dts = GST_CLOCK_TIME_NONE;

  *err_msg = NULL;
  /* avc/hvc1: the parameter sets travel in the caps' codec_data, so the payloader can put
   * them in the SDP and before every keyframe whatever access unit a media starts at */
  /* config-interval=-1: the parameter sets in-band before every keyframe, as cameras send
   * them (rtph265pay repeats them before IDR pictures only, not before a CRA) */
  launch = g_strdup_printf ("filesrc name=f ! %s%sparse config-interval=-1 ! "
      "video/x-%s,stream-format=%s,alignment=au ! "
      "appsink name=sink sync=false max-buffers=0 emit-signals=false",
      mp4 ? "qtdemux ! " : "", codec, codec, fmt);
  pipe = gst_parse_launch_full (launch, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  g_free (launch);
  if (pipe == NULL) {
    *err_msg = g_strdup (err != NULL ? err->message : "cannot build the parser");
    g_clear_error (&err);
    return NULL;
  }
  g_clear_error (&err);
  src = gst_bin_get_by_name (GST_BIN (pipe), "f");
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  g_object_set (src, "location", path, NULL);
  gst_object_unref (src);

  c = g_new0 (SimClip, 1);
  c->refs = 1;
  c->h265 = h265;
  c->aus = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  c->dts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  c->pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  c->dur = g_array_new (FALSE, FALSE, sizeof (GstClockTime));

  if (gst_element_set_state (pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    *err_msg = bus_error (pipe);
    if (*err_msg == NULL)
      *err_msg = g_strdup ("cannot start the parser");
    goto fail;
  }
  for (;;) {
    GstSample *smp = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        100 * GST_MSECOND);
    GstBuffer *b;
    GstClockTime dts, pts;

    if (smp == NULL) {
      if ((*err_msg = bus_error (pipe)) != NULL)
        goto fail;
      if (gst_app_sink_is_eos (GST_APP_SINK (sink)))
        break;
      if (++idle > 300) {       /* 30 s without an access unit */
        *err_msg = g_strdup ("no access unit within 30 s");
        goto fail;
      }
      continue;
    }
    idle = 0;
    if (c->caps == NULL && gst_sample_get_caps (smp) != NULL)
      c->caps = gst_caps_copy (gst_sample_get_caps (smp));
    b = gst_sample_get_buffer (smp);
    if (b != NULL) {
      dts = GST_BUFFER_DTS (b);
      pts = GST_BUFFER_PTS (b);
      if (!GST_CLOCK_TIME_IS_VALID (dts))
        dts = pts;
      if (!mp4 || !GST_CLOCK_TIME_IS_VALID (dts)) {
        /* a byte stream has no timestamps of its own: frame k at k frames */
        dts = pts = GST_CLOCK_TIME_NONE;
      } else {
        if (!GST_CLOCK_TIME_IS_VALID (first_dts))
          first_dts = dts;
        dts = dts >= first_dts ? dts - first_dts : 0;
        pts = GST_CLOCK_TIME_IS_VALID (pts) ? pts - MIN (pts, first_dts) : dts;
      }
      g_ptr_array_add (c->aus, gst_buffer_ref (b));
      g_array_append_val (c->dts, dts);
      g_array_append_val (c->pts, pts);
    }
    gst_sample_unref (smp);
  }
  if (c->aus->len == 0 || c->caps == NULL) {
    *err_msg = g_strdup ("the file has no access unit");
    goto fail;
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);

  st = gst_caps_get_structure (c->caps, 0);
  if (!gst_structure_get_fraction (st, "framerate", &fn, &fd) || fn <= 0
      || fd <= 0) {
    fn = (gint) (fallback_fps * 1000 + 0.5);
    fd = 1000;
  }
  c->frame = gst_util_uint64_scale_int (GST_SECOND, fd, fn);
  {
    guint k, n = c->aus->len;
    GstClockTime *dts = (GstClockTime *) c->dts->data;
    GstClockTime *pts = (GstClockTime *) c->pts->data;
    gboolean timed = GST_CLOCK_TIME_IS_VALID (dts[0]);

    for (k = 0; k < n; k++) {
      GstClockTime d;

      if (!timed || !GST_CLOCK_TIME_IS_VALID (dts[k])) {
        /* exact, not k * the rounded frame duration: no drift against the RTP clock */
        dts[k] = pts[k] = gst_util_uint64_scale (k, GST_SECOND * (guint64) fd, fn);
      }
      if (pts[k] + c->shift < dts[k])
        c->shift = dts[k] - pts[k];
      d = gst_util_uint64_scale (k + 1, GST_SECOND * (guint64) fd, fn) -
          gst_util_uint64_scale (k, GST_SECOND * (guint64) fd, fn);
      if (timed && k + 1 < n && GST_CLOCK_TIME_IS_VALID (dts[k + 1])
          && dts[k + 1] > dts[k])
        d = dts[k + 1] - dts[k];
      g_array_append_val (c->dur, d);
    }
    c->loop = dts[n - 1] + ((GstClockTime *) c->dur->data)[n - 1];
  }
  /* the caps say what the stream is, not where it came from */
  gst_caps_set_simple (c->caps, "framerate", GST_TYPE_FRACTION, fn, fd, NULL);
  return c;

fail:
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);
  sim_clip_unref (c);
  return NULL;
}

int
sim_clip_frames (SimClip * c)
{
  return (int) c->aus->len;
}

int
sim_clip_keyframe (SimClip * c, int k)
{
  GstBuffer *b = g_ptr_array_index (c->aus, k);

  return !GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
}

guint64
sim_clip_frame_ns (SimClip * c)
{
  return c->frame;
}

guint64
sim_clip_loop_ns (SimClip * c)
{
  return c->loop;
}

gsize
sim_clip_au_size (SimClip * c, int k)
{
  return gst_buffer_get_size (g_ptr_array_index (c->aus, k));
}

void
sim_clip_au_copy (SimClip * c, int k, guint8 * dst)
{
  GstBuffer *b = g_ptr_array_index (c->aus, k);

  gst_buffer_extract (b, 0, dst, gst_buffer_get_size (b));
}

char *
sim_clip_caps (SimClip * c)
{
  return gst_caps_to_string (c->caps);
}

/* ---- feeding a media ---- */

static void
feed_free (gpointer p)
{
  SimClipFeed *f = p;

  sim_clip_unref (f->clip);
  g_free (f);
}

/* clip_need_data pushes the next access unit: the clip's buffer with its memory shared, and
 * timestamps continued across the loops. It runs on the appsrc's streaming thread. The pacing
 * is the server's: with rate control its sinks wait for each packet's time, and the queue
 * before them holds the streaming thread back (the appsrc does not wait on the clock; without
 * rate control the clip would stream as fast as the clients read). */
static void
clip_need_data (GstAppSrc * src, guint length, gpointer user_data)
{
  SimClipFeed *f = user_data;
  SimClip *c = f->clip;
  guint n = c->aus->len;
  guint64 k = f->next % n, loop = f->next / n;
  GstClockTime *dts = (GstClockTime *) c->dts->data;
  GstClockTime *pts = (GstClockTime *) c->pts->data;
  GstClockTime base = loop * c->loop + c->shift;
  GstClockTime from = dts[f->start];
  GstBuffer *b;

  (void) length;
  b = gst_buffer_copy_region (g_ptr_array_index (c->aus, k),
      GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_MEMORY, 0, -1);
  if (b == NULL)
    return;
  /* base + dts[k] >= from: k >= start in the first pass, and a loop is longer than any dts */
  GST_BUFFER_DTS (b) = base + dts[k] - from;
  GST_BUFFER_PTS (b) = base + pts[k] - from;
  GST_BUFFER_DURATION (b) = g_array_index (c->dur, GstClockTime, k);
  GST_BUFFER_OFFSET (b) = GST_BUFFER_OFFSET_NONE;
  GST_BUFFER_OFFSET_END (b) = GST_BUFFER_OFFSET_NONE;
  if (f->next == f->start)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
  else
    GST_BUFFER_FLAG_UNSET (b, GST_BUFFER_FLAG_DISCONT);
  f->next++;
  gst_app_src_push_buffer (src, b);
}

static void
on_clip_media_configure (GstRTSPMediaFactory * factory, GstRTSPMedia * media,
    gpointer user_data)
{
  SimClipMount *m = user_data;
  GstElement *bin, *src = NULL;
  GstAppSrcCallbacks cbs;
  SimClipFeed *f;
  gint64 elapsed_ns;
  guint n = m->clip->aus->len;

  (void) factory;
  bin = gst_rtsp_media_get_element (media);
  if (bin != NULL) {
    src = gst_bin_get_by_name_recurse_up (GST_BIN (bin), "src");
    gst_object_unref (bin);
  }
  if (src == NULL) {
    GST_WARNING ("simulate: clip media of camera %d has no element named src",
        m->cam);
    return;
  }
  sim_server_adopt_media (m->s, media, m->cam);
  g_object_set (src, "caps", m->clip->caps, NULL);

  f = g_new0 (SimClipFeed, 1);
  f->clip = sim_clip_ref (m->clip);
  /* t0_us < 0: no clock, the stream begins at the offset (tests) */
  elapsed_ns = m->t0_us < 0 ? 0 : (g_get_monotonic_time () - m->t0_us) * 1000;
  f->start = ((guint64) m->offset + (guint64) (MAX (elapsed_ns, 0) /
          (gint64) m->clip->frame)) % n;
  f->next = f->start;
  memset (&cbs, 0, sizeof (cbs));
  cbs.need_data = clip_need_data;
  /* the appsrc owns the feed: it outlives every callback */
  gst_app_src_set_callbacks (GST_APP_SRC (src), &cbs, f, feed_free);
  gst_object_unref (src);
}

static void
mount_free (gpointer p, GClosure * closure)
{
  SimClipMount *m = p;

  (void) closure;
  sim_clip_unref (m->clip);
  g_free (m);
}

void
sim_clip_mount (SimServer * s, SimClip * c, int cam, const char *path,
    int offset, gint64 t0_us)
{
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  SimClipMount *m = g_new0 (SimClipMount, 1);
  gchar *launch;

  /* max-buffers=2: the clip is already in memory; the streaming thread asks for each
   * access unit when it has sent the one before */
  launch = g_strdup_printf ("( appsrc name=src is-live=true do-timestamp=false "
      "format=time block=false max-buffers=2 max-bytes=0 max-time=0 "
      "! rtph%spay name=pay0 pt=96 config-interval=-1 )", c->h265 ? "265" : "264");
  gst_rtsp_media_factory_set_launch (factory, launch);
  g_free (launch);
  /* one media per camera, as a camera sends one stream to all its clients */
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  m->s = s;
  m->clip = sim_clip_ref (c);
  m->cam = cam;
  m->offset = offset;
  m->t0_us = t0_us;
  g_signal_connect_data (factory, "media-configure",
      G_CALLBACK (on_clip_media_configure), m, mount_free, 0);
  sim_server_add_factory (s, path, factory);
}
