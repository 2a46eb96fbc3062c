/* csim.c: the C half of package simulate; see csim.h and sim.go. */
#include "csim.h"
#include "_cgo_export.h"

#include <stdio.h>
#include <string.h>

/* Object-data key on a GstRTSPMedia: the 1-based camera it was built for. */
#define SIM_MEDIA_CAM_KEY "gstvision-sim-cam"
/* Object-data key on a GstRTSPClient: bit c set when it asked for /cam<c>. */
#define SIM_CLIENT_CAMS_KEY "gstvision-sim-cams"
/* How far timestamps jump (Options.JumpEverySec); keep equal to JumpStep in Go. */
#define SIM_JUMP_STEP (10 * GST_SECOND)

struct SimServer
{
  GMainContext *ctx;
  GMainLoop *loop;
  GstRTSPServer *server;
  GstRTSPMountPoints *mounts;
  GstRTSPSessionPool *pool;
  GSource *listen_src;
  GSource *cleanup_src;
  guintptr id;
  gboolean rate_control;
  int fps;
  int jump_frames;
  int skip_frames;
  GMutex media_lock;
  GPtrArray *medias;            /* GWeakRef* of every media built, guarded by media_lock */
  gboolean auth;                /* basic auth required (sim_server_set_auth) */
};

/* The role a client that sent the right credentials gets (sim_server_set_auth). */
#define SIM_AUTH_ROLE "viewer"

typedef struct
{
  int fps;
  int every;
} SimJump;

typedef struct
{
  SimServer *s;
  int cam;
} SimCamData;

/* ---- running a function on the server's main context and waiting for it ---- */

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean done;
  void (*func) (SimServer * s, gpointer data);
  SimServer *s;
  gpointer data;
} SimCall;

static gboolean
sim_call_dispatch (gpointer p)
{
  SimCall *c = p;

  if (c->func)
    c->func (c->s, c->data);
  g_mutex_lock (&c->lock);
  c->done = TRUE;
  g_cond_signal (&c->cond);
  g_mutex_unlock (&c->lock);
  return G_SOURCE_REMOVE;
}

/* sim_call runs func on the main loop thread. The loop must be running (Go guarantees it:
 * every call happens between the start of sim_server_run and sim_server_shutdown). */
static void
sim_call (SimServer * s, void (*func) (SimServer *, gpointer), gpointer data)
{
  SimCall c;
  GSource *src;

  g_mutex_init (&c.lock);
  g_cond_init (&c.cond);
  c.done = FALSE;
  c.func = func;
  c.s = s;
  c.data = data;

  src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_HIGH);
  g_source_set_callback (src, sim_call_dispatch, &c, NULL);
  g_source_attach (src, s->ctx);
  g_source_unref (src);

  g_mutex_lock (&c.lock);
  while (!c.done)
    g_cond_wait (&c.cond, &c.lock);
  g_mutex_unlock (&c.lock);
  g_cond_clear (&c.cond);
  g_mutex_clear (&c.lock);
}

/* ---- per-client bookkeeping ---- */

/* path_cam returns c when abspath is /cam<c> or /cam<c>/..., else 0. */
static int
path_cam (const char *abspath)
{
  int cam = 0, n = 0;

  if (abspath == NULL)
    return 0;
  if (sscanf (abspath, "/cam%d%n", &cam, &n) != 1 || cam <= 0 || cam > 63)
    return 0;
  if (abspath[n] != '\0' && abspath[n] != '/')
    return 0;
  return cam;
}

static void
on_client_request (GstRTSPClient * client, GstRTSPContext * rctx,
    gpointer user_data)
{
  int cam;
  guintptr mask;

  (void) user_data;
  if (rctx == NULL || rctx->uri == NULL)
    return;
  cam = path_cam (rctx->uri->abspath);
  if (cam == 0)
    return;
  mask = (guintptr) g_object_get_data (G_OBJECT (client), SIM_CLIENT_CAMS_KEY);
  mask |= ((guintptr) 1) << cam;
  g_object_set_data (G_OBJECT (client), SIM_CLIENT_CAMS_KEY, (gpointer) mask);
}

/* A PLAY with a Range header turns the media's rate control back on (rtsp-client does so
 * for ONVIF replay); put it back off when the server runs without it. */
static void
on_client_play (GstRTSPClient * client, GstRTSPContext * rctx,
    gpointer user_data)
{
  SimServer *s = user_data;

  (void) client;
  if (s->rate_control || rctx == NULL || rctx->media == NULL)
    return;
  if (g_object_get_data (G_OBJECT (rctx->media), SIM_MEDIA_CAM_KEY) != NULL)
    gst_rtsp_media_set_rate_control (rctx->media, FALSE);
}

static void
on_client_connected (GstRTSPServer * server, GstRTSPClient * client,
    gpointer user_data)
{
  (void) server;
  g_signal_connect (client, "play-request", G_CALLBACK (on_client_play),
      user_data);
  g_signal_connect (client, "describe-request",
      G_CALLBACK (on_client_request), user_data);
  g_signal_connect (client, "setup-request", G_CALLBACK (on_client_request),
      user_data);
}

/* ---- media life ---- */

static void
on_need_data (GstAppSrc * src, guint length, gpointer user_data)
{
  (void) src;
  (void) length;
  goSimNeedData ((guintptr) user_data);
}

static void
on_media_unprepared (GstRTSPMedia * media, gpointer user_data)
{
  (void) media;
  goSimMediaUnprepared ((guintptr) user_data);
}

static void
on_media_finalized (gpointer user_data, GObject * where_the_object_was)
{
  (void) where_the_object_was;
  goSimMediaFinalized ((guintptr) user_data);
}

static void
free_weak_ref (gpointer p)
{
  g_weak_ref_clear (p);
  g_free (p);
}

/* track_media remembers media (weakly) for unprepare_cam, forgetting destroyed ones. */
static void
track_media (SimServer * s, GstRTSPMedia * media)
{
  GWeakRef *wr = g_new0 (GWeakRef, 1);
  guint i;

  g_weak_ref_init (wr, media);
  g_mutex_lock (&s->media_lock);
  for (i = 0; i < s->medias->len;) {
    GObject *m = g_weak_ref_get (g_ptr_array_index (s->medias, i));

    if (m == NULL) {
      g_ptr_array_remove_index_fast (s->medias, i);
      continue;
    }
    g_object_unref (m);
    i++;
  }
  g_ptr_array_add (s->medias, wr);
  g_mutex_unlock (&s->media_lock);
}

/* jump_probe moves the timestamps of frame n forward by SIM_JUMP_STEP for every
 * `every` frames before it. It sits after appsrc, which as a live source waits for each
 * buffer's running time: jumping before it would stall the stream for the jump. */
static GstPadProbeReturn
jump_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  SimJump *j = user_data;
  GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER (info);
  guint64 n, jumps;

  (void) pad;
  if (b == NULL || !GST_BUFFER_PTS_IS_VALID (b))
    return GST_PAD_PROBE_OK;
  n = gst_util_uint64_scale_round (GST_BUFFER_PTS (b), j->fps, GST_SECOND);
  jumps = n / j->every;
  if (jumps == 0)
    return GST_PAD_PROBE_OK;
  b = gst_buffer_make_writable (b);
  GST_BUFFER_PTS (b) += jumps * SIM_JUMP_STEP;
  GST_PAD_PROBE_INFO_DATA (info) = b;
  return GST_PAD_PROBE_OK;
}

/* skip_probe drops the first *left pictures (decode order): the client joins
 * the stream mid-GOP, as a client of a camera that is already running does. */
static GstPadProbeReturn
skip_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  int *left = user_data;

  (void) pad;
  if (*left <= 0)
    return GST_PAD_PROBE_REMOVE;
  (*left)--;
  return GST_PAD_PROBE_DROP;
}

/* add_skip_probe makes the media built from bin skip its first n encoded pictures, at the
 * output of the parser named join (which has seen the parameter sets by then). */
static void
add_skip_probe (GstElement * bin, int n)
{
  GstElement *join = gst_bin_get_by_name (GST_BIN (bin), "join");
  GstPad *pad;
  int *left;

  if (join == NULL) {
    GST_WARNING ("simulate: media has no element named join");
    return;
  }
  pad = gst_element_get_static_pad (join, "src");
  left = g_new (int, 1);
  *left = n;
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, skip_probe, left, g_free);
  gst_object_unref (pad);
  gst_object_unref (join);
}

static void
on_media_configure (GstRTSPMediaFactory * factory, GstRTSPMedia * media,
    gpointer user_data)
{
  SimCamData *cd = user_data;
  GstElement *bin, *src = NULL;
  GstAppSrcCallbacks cbs;
  guintptr fid;

  (void) factory;
  bin = gst_rtsp_media_get_element (media);
  if (bin != NULL) {
    src = gst_bin_get_by_name_recurse_up (GST_BIN (bin), "src");
    if (cd->s->skip_frames > 0)
      add_skip_probe (bin, cd->s->skip_frames);
    gst_object_unref (bin);
  }
  if (src == NULL) {
    GST_WARNING ("simulate: media of camera %d has no element named src",
        cd->cam);
    return;
  }

  g_object_set_data (G_OBJECT (media), SIM_MEDIA_CAM_KEY,
      GINT_TO_POINTER (cd->cam));
  if (!cd->s->rate_control)
    gst_rtsp_media_set_rate_control (media, FALSE);
  if (cd->s->jump_frames > 0) {
    SimJump *j = g_new0 (SimJump, 1);
    GstPad *pad = gst_element_get_static_pad (src, "src");

    j->fps = cd->s->fps;
    j->every = cd->s->jump_frames;
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, jump_probe, j, g_free);
    gst_object_unref (pad);
  }

  track_media (cd->s, media);

  fid = goSimMediaConfigure (cd->s->id, cd->cam, src);
  if (fid != 0) {
    memset (&cbs, 0, sizeof (cbs));
    cbs.need_data = on_need_data;
    gst_app_src_set_callbacks (GST_APP_SRC (src), &cbs, (gpointer) fid, NULL);
    g_signal_connect (media, "unprepared", G_CALLBACK (on_media_unprepared),
        (gpointer) fid);
    g_object_weak_ref (G_OBJECT (media), on_media_finalized, (gpointer) fid);
  }
  gst_object_unref (src);
}

/* ---- removing what belongs to a camera ---- */

static GstRTSPFilterResult
sessmedia_is_cam (GstRTSPSession * sess, GstRTSPSessionMedia * sm,
    gpointer user_data)
{
  GstRTSPMedia *media;
  int cam = GPOINTER_TO_INT (user_data);

  (void) sess;
  media = gst_rtsp_session_media_get_media (sm);
  if (media != NULL
      && GPOINTER_TO_INT (g_object_get_data (G_OBJECT (media),
              SIM_MEDIA_CAM_KEY)) == cam)
    return GST_RTSP_FILTER_REF;
  return GST_RTSP_FILTER_KEEP;
}

/* session_has_cam: cam < 0 matches every session. */
static gboolean
session_has_cam (GstRTSPSession * sess, int cam)
{
  GList *hits;

  if (cam < 0)
    return TRUE;
  hits = gst_rtsp_session_filter (sess, sessmedia_is_cam, GINT_TO_POINTER (cam));
  if (hits == NULL)
    return FALSE;
  g_list_free_full (hits, g_object_unref);
  return TRUE;
}

static GstRTSPFilterResult
client_session_is_cam (GstRTSPClient * client, GstRTSPSession * sess,
    gpointer user_data)
{
  (void) client;
  return session_has_cam (sess, GPOINTER_TO_INT (user_data)) ?
      GST_RTSP_FILTER_REF : GST_RTSP_FILTER_KEEP;
}

static GstRTSPFilterResult
client_is_cam (GstRTSPServer * server, GstRTSPClient * client,
    gpointer user_data)
{
  int cam = GPOINTER_TO_INT (user_data);
  guintptr mask;
  GList *hits;

  (void) server;
  if (cam < 0)
    return GST_RTSP_FILTER_REMOVE;
  mask = (guintptr) g_object_get_data (G_OBJECT (client), SIM_CLIENT_CAMS_KEY);
  /* the mask covers cameras 1..63; the clip mode's higher ones are found by session */
  if (cam < 64 && (mask & (((guintptr) 1) << cam)))
    return GST_RTSP_FILTER_REMOVE;
  hits = gst_rtsp_client_session_filter (client, client_session_is_cam,
      user_data);
  if (hits != NULL) {
    g_list_free_full (hits, g_object_unref);
    return GST_RTSP_FILTER_REMOVE;
  }
  return GST_RTSP_FILTER_KEEP;
}

static GstRTSPFilterResult
pool_session_is_cam (GstRTSPSessionPool * pool, GstRTSPSession * sess,
    gpointer user_data)
{
  (void) pool;
  return session_has_cam (sess, GPOINTER_TO_INT (user_data)) ?
      GST_RTSP_FILTER_REMOVE : GST_RTSP_FILTER_KEEP;
}

/* unprepare_cam stops the pipelines of camera cam (all when cam < 0) that are still
 * prepared, e.g. one a client DESCRIBEd but never SETUP: the client object may keep such a
 * media for a while after its connection is closed. */
static void
unprepare_cam (SimServer * s, int cam)
{
  GList *todo = NULL, *l;
  guint i;

  g_mutex_lock (&s->media_lock);
  for (i = 0; i < s->medias->len;) {
    GstRTSPMedia *m = g_weak_ref_get (g_ptr_array_index (s->medias, i));

    if (m == NULL) {
      g_ptr_array_remove_index_fast (s->medias, i);
      continue;
    }
    if (cam < 0 || GPOINTER_TO_INT (g_object_get_data (G_OBJECT (m),
                SIM_MEDIA_CAM_KEY)) == cam)
      todo = g_list_prepend (todo, m);
    else
      g_object_unref (m);
    i++;
  }
  g_mutex_unlock (&s->media_lock);

  for (l = todo; l != NULL; l = l->next) {
    GstRTSPMedia *m = l->data;

    if (gst_rtsp_media_get_status (m) != GST_RTSP_MEDIA_STATUS_UNPREPARED)
      gst_rtsp_media_unprepare (m);
  }
  g_list_free_full (todo, g_object_unref);
}

/* drop_cam closes the clients, removes the sessions and stops the pipelines of camera cam
 * (all when cam < 0). */
static void
drop_cam (SimServer * s, int cam)
{
  GList *l;

  l = gst_rtsp_server_client_filter (s->server, client_is_cam,
      GINT_TO_POINTER (cam));
  g_list_free_full (l, g_object_unref);
  l = gst_rtsp_session_pool_filter (s->pool, pool_session_is_cam,
      GINT_TO_POINTER (cam));
  g_list_free_full (l, g_object_unref);
  unprepare_cam (s, cam);
}

typedef struct
{
  int cam;
  const char *path;
} SimUnmount;

static void
do_unmount (SimServer * s, gpointer data)
{
  SimUnmount *u = data;

  gst_rtsp_mount_points_remove_factory (s->mounts, u->path);
  drop_cam (s, u->cam);
}

static void
do_shutdown (SimServer * s, gpointer data)
{
  (void) data;
  if (s->listen_src != NULL)
    g_source_destroy (s->listen_src);
  if (s->cleanup_src != NULL)
    g_source_destroy (s->cleanup_src);
  drop_cam (s, -1);
  g_main_loop_quit (s->loop);
}

static gboolean
cleanup_sessions (gpointer data)
{
  SimServer *s = data;

  gst_rtsp_session_pool_cleanup (s->pool);
  return G_SOURCE_CONTINUE;
}

/* ---- server ---- */

SimServer *
sim_server_new (const char *address, const char *service, guintptr server_id,
    int fps, int jump_frames, char **err_msg, int *err_code)
{
  SimServer *s;
  GError *err = NULL;

  *err_msg = NULL;
  *err_code = -1;

  s = g_new0 (SimServer, 1);
  s->id = server_id;
  /* rate control makes the server's sinks sync on timestamps, which would stall the
   * stream for the length of each jump; frames are paced upstream anyway */
  s->rate_control = jump_frames <= 0;
  s->fps = fps;
  s->jump_frames = jump_frames;
  g_mutex_init (&s->media_lock);
  s->medias = g_ptr_array_new_with_free_func (free_weak_ref);
  s->ctx = g_main_context_new ();
  s->loop = g_main_loop_new (s->ctx, FALSE);
  s->server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (s->server, address);
  gst_rtsp_server_set_service (s->server, service);
  s->mounts = gst_rtsp_server_get_mount_points (s->server);
  s->pool = gst_rtsp_server_get_session_pool (s->server);

  s->listen_src = gst_rtsp_server_create_source (s->server, NULL, &err);
  if (s->listen_src == NULL) {
    if (err != NULL) {
      *err_msg = g_strdup (err->message);
      if (err->domain == G_IO_ERROR)
        *err_code = err->code;
      g_error_free (err);
    } else {
      *err_msg = g_strdup ("could not create the listening socket");
    }
    sim_server_free (s);
    return NULL;
  }
  g_source_attach (s->listen_src, s->ctx);

  g_signal_connect (s->server, "client-connected",
      G_CALLBACK (on_client_connected), s);

  /* expire sessions of clients that vanished without TEARDOWN */
  s->cleanup_src = g_timeout_source_new_seconds (2);
  g_source_set_callback (s->cleanup_src, cleanup_sessions, s, NULL);
  g_source_attach (s->cleanup_src, s->ctx);
  return s;
}

void
sim_server_set_skip (SimServer * s, int skip_frames)
{
  s->skip_frames = skip_frames;
}

int
sim_server_port (SimServer * s)
{
  return gst_rtsp_server_get_bound_port (s->server);
}

void
sim_server_run (SimServer * s)
{
  g_main_context_push_thread_default (s->ctx);
  g_main_loop_run (s->loop);
  /* let the closing clients finish (their watches notify on this context) */
  while (g_main_context_iteration (s->ctx, FALSE)) {
  }
  g_main_context_pop_thread_default (s->ctx);
}

void
sim_server_sync (SimServer * s)
{
  sim_call (s, NULL, NULL);
}

/* ---- basic authentication (Options.User, Options.Password) ---- */

/* sim_factory_allow lets clients with SIM_AUTH_ROLE see and play factory's media. */
static void
sim_factory_allow (GstRTSPMediaFactory * factory)
{
  gst_rtsp_media_factory_add_role (factory, SIM_AUTH_ROLE,
      GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
      GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
}

void
sim_server_set_auth (SimServer * s, const char *user, const char *password)
{
  GstRTSPAuth *auth = gst_rtsp_auth_new ();
  GstRTSPToken *token;
  gchar *basic;

  token = gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING,
      SIM_AUTH_ROLE, NULL);
  basic = gst_rtsp_auth_make_basic (user, password);
  gst_rtsp_auth_add_basic (auth, basic, token);
  g_free (basic);
  gst_rtsp_token_unref (token);
  gst_rtsp_server_set_auth (s->server, auth);
  g_object_unref (auth);
  s->auth = TRUE;
}

void
sim_server_mount (SimServer * s, int cam, const char *path, const char *launch)
{
  GstRTSPMediaFactory *factory;
  SimCamData *cd;

  factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, launch);
  /* one media per client: each client's stream starts at frame 0 */
  gst_rtsp_media_factory_set_shared (factory, FALSE);
  cd = g_new0 (SimCamData, 1);
  cd->s = s;
  cd->cam = cam;
  g_signal_connect_data (factory, "media-configure",
      G_CALLBACK (on_media_configure), cd, (GClosureNotify) g_free, 0);
  sim_server_add_factory (s, path, factory);
}

void
sim_server_add_factory (SimServer * s, const char *path,
    GstRTSPMediaFactory * factory)
{
  if (s->auth)
    sim_factory_allow (factory);
  gst_rtsp_mount_points_add_factory (s->mounts, path, factory);
}

void
sim_server_adopt_media (SimServer * s, GstRTSPMedia * media, int cam)
{
  g_object_set_data (G_OBJECT (media), SIM_MEDIA_CAM_KEY, GINT_TO_POINTER (cam));
  if (!s->rate_control)
    gst_rtsp_media_set_rate_control (media, FALSE);
  track_media (s, media);
}

void
sim_server_unmount (SimServer * s, int cam, const char *path)
{
  SimUnmount u;

  u.cam = cam;
  u.path = path;
  sim_call (s, do_unmount, &u);
}

void
sim_server_shutdown (SimServer * s)
{
  sim_call (s, do_shutdown, NULL);
}

void
sim_server_free (SimServer * s)
{
  if (s == NULL)
    return;
  if (s->listen_src != NULL) {
    g_source_destroy (s->listen_src);
    g_source_unref (s->listen_src);
  }
  if (s->cleanup_src != NULL) {
    g_source_destroy (s->cleanup_src);
    g_source_unref (s->cleanup_src);
  }
  if (s->server != NULL)
    g_signal_handlers_disconnect_by_data (s->server, s);
  g_clear_object (&s->mounts);
  g_clear_object (&s->pool);
  g_clear_object (&s->server);
  g_main_loop_unref (s->loop);
  g_main_context_unref (s->ctx);
  g_ptr_array_unref (s->medias);
  g_mutex_clear (&s->media_lock);
  g_free (s);
}

char *
sim_check_launch (const char *launch)
{
  GError *err = NULL;
  GstElement *e;
  char *msg;

  e = gst_parse_launch_full (launch, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (e == NULL) {
    msg = g_strdup (err != NULL ? err->message : "unknown parse error");
    g_clear_error (&err);
    return msg;
  }
  g_clear_error (&err);
  gst_object_ref_sink (e);
  gst_object_unref (e);
  return NULL;
}

/* ---- frame source ---- */

struct SimFrameSrc
{
  GstElement *appsrc;
  GstBufferPool *pool;
  gsize size;
  int width, height;
  gboolean meta;
  gsize offset[GST_VIDEO_MAX_PLANES];
  gint stride[GST_VIDEO_MAX_PLANES];
  GstBuffer *cur;
  GstMapInfo map;
};

SimFrameSrc *
sim_frame_src_new (GstElement * appsrc, int width, int height)
{
  SimFrameSrc *f;
  GstStructure *cfg;
  GstVideoInfo vi;
  int cw = width / 2, ch = height / 2;

  f = g_new0 (SimFrameSrc, 1);
  f->appsrc = gst_object_ref (appsrc);
  f->width = width;
  f->height = height;
  /* the packed layout RenderI420 writes: Y, then U, then V, no row padding */
  f->stride[0] = width;
  f->stride[1] = cw;
  f->stride[2] = cw;
  f->offset[0] = 0;
  f->offset[1] = (gsize) width *height;
  f->offset[2] = f->offset[1] + (gsize) cw *ch;
  f->size = f->offset[2] + (gsize) cw *ch;

  /* GStreamer's default I420 layout pads rows to 4 bytes; when it differs from the
   * packed one (widths not a multiple of 8) a GstVideoMeta tells the encoder. */
  gst_video_info_set_format (&vi, GST_VIDEO_FORMAT_I420, width, height);
  f->meta = vi.stride[0] != f->stride[0] || vi.stride[1] != f->stride[1]
      || vi.stride[2] != f->stride[2] || vi.offset[1] != f->offset[1]
      || vi.offset[2] != f->offset[2];

  f->pool = gst_buffer_pool_new ();
  cfg = gst_buffer_pool_get_config (f->pool);
  /* no upper bound: the encoder holds a few frames (B-frames); the pool settles at the
   * pipeline's depth and then only recycles */
  gst_buffer_pool_config_set_params (cfg, NULL, f->size, 4, 0);
  if (!gst_buffer_pool_set_config (f->pool, cfg)
      || !gst_buffer_pool_set_active (f->pool, TRUE)) {
    sim_frame_src_free (f);
    return NULL;
  }
  return f;
}

guint8 *
sim_frame_src_begin (SimFrameSrc * f)
{
  if (f->cur != NULL) {
    gst_buffer_unmap (f->cur, &f->map);
    gst_buffer_unref (f->cur);
    f->cur = NULL;
  }
  if (gst_buffer_pool_acquire_buffer (f->pool, &f->cur, NULL) != GST_FLOW_OK) {
    f->cur = NULL;
    return NULL;
  }
  if (!gst_buffer_map (f->cur, &f->map, GST_MAP_WRITE)) {
    gst_buffer_unref (f->cur);
    f->cur = NULL;
    return NULL;
  }
  return f->map.data;
}

int
sim_frame_src_push (SimFrameSrc * f, guint64 pts, guint64 duration)
{
  GstBuffer *b = f->cur;

  if (b == NULL)
    return GST_FLOW_ERROR;
  f->cur = NULL;
  gst_buffer_unmap (b, &f->map);
  if (f->meta)
    gst_buffer_add_video_meta_full (b, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_FORMAT_I420, f->width, f->height, 3, f->offset, f->stride);
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DTS (b) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (b) = duration;
  /* takes ownership; the buffer returns to the pool once the encoder is done with it */
  return gst_app_src_push_buffer (GST_APP_SRC (f->appsrc), b);
}

void
sim_frame_src_unblock (SimFrameSrc * f)
{
  gst_element_send_event (f->appsrc, gst_event_new_flush_start ());
}

gboolean
sim_frame_src_uses_meta (SimFrameSrc * f)
{
  return f->meta;
}

void
sim_frame_src_free (SimFrameSrc * f)
{
  if (f == NULL)
    return;
  if (f->cur != NULL) {
    gst_buffer_unmap (f->cur, &f->map);
    gst_buffer_unref (f->cur);
  }
  if (f->pool != NULL) {
    gst_buffer_pool_set_active (f->pool, FALSE);
    gst_object_unref (f->pool);
  }
  gst_object_unref (f->appsrc);
  g_free (f);
}
