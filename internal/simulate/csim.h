/* csim.h: the C half of package simulate. An RTSP server (gst-rtsp-server) whose mounts
 * /cam1../camN each build a fresh media per client, and a pooled appsrc frame source that
 * Go renders into. Only package simulate includes this; Go sees it through sim.go. */
#ifndef GSTVISION_SIMULATE_CSIM_H
#define GSTVISION_SIMULATE_CSIM_H

#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <gst/rtsp-server/rtsp-server.h>

typedef struct SimServer SimServer;
typedef struct SimFrameSrc SimFrameSrc;

/* Server: created bound and listening, served by sim_server_run on a thread of Go's. */
SimServer *sim_server_new (const char *address, const char *service,
    guintptr server_id, int fps, int jump_frames, char **err_msg,
    int *err_code);
/* Call before the first sim_server_mount: every client's first skip_frames encoded
 * pictures are not sent. */
void sim_server_set_skip (SimServer * s, int skip_frames);
int sim_server_port (SimServer * s);
void sim_server_run (SimServer * s);
void sim_server_sync (SimServer * s);
void sim_server_mount (SimServer * s, int cam, const char *path,
    const char *launch);
/* Requires HTTP basic credentials from every client; call before the first mount. */
void sim_server_set_auth (SimServer * s, const char *user,
    const char *password);
/* Publishes factory at path (taking it), with the server's authentication (clip mode). */
void sim_server_add_factory (SimServer * s, const char *path,
    GstRTSPMediaFactory * factory);
/* Marks media as camera cam's, so that unmounting the camera stops it (clip mode). */
void sim_server_adopt_media (SimServer * s, GstRTSPMedia * media, int cam);
void sim_server_unmount (SimServer * s, int cam, const char *path);
void sim_server_shutdown (SimServer * s);
void sim_server_free (SimServer * s);

/* Returns NULL when launch parses and every element exists, else a g_malloc'd message. */
char *sim_check_launch (const char *launch);

/* Frame source: takes its own ref on appsrc. */
SimFrameSrc *sim_frame_src_new (GstElement * appsrc, int width, int height);
guint8 *sim_frame_src_begin (SimFrameSrc * f);
int sim_frame_src_push (SimFrameSrc * f, guint64 pts, guint64 duration);
void sim_frame_src_unblock (SimFrameSrc * f);
gboolean sim_frame_src_uses_meta (SimFrameSrc * f);
void sim_frame_src_free (SimFrameSrc * f);

#endif
