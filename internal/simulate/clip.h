/* clip.h: the C half of the clip mode of package simulate (clip.go). A recorded H.264/H.265
 * stream is parsed once into memory (access units in decode order, with their timestamps and
 * keyframe flags; the parameter sets in the caps' codec_data); every mount's media pushes
 * those same buffers (the memory shared, new timestamps) into appsrc → rtph26Xpay, looped
 * with continuous timestamps, from C on the appsrc's streaming thread: no Go per frame. */
#ifndef GSTVISION_SIMULATE_CLIP_H
#define GSTVISION_SIMULATE_CLIP_H

#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>

#include "csim.h"

typedef struct SimClip SimClip;

/* sim_clip_load parses path (mp4: an ISO MP4/MOV file, else an Annex B byte stream; h265:
 * H.265, else H.264). fallback_fps is the frame rate of a byte stream whose SPS has none.
 * On failure it returns NULL and a g_malloc'd message in *err_msg. */
SimClip *sim_clip_load (const char *path, int mp4, int h265,
    double fallback_fps, char **err_msg);
void sim_clip_unref (SimClip * c);

int sim_clip_frames (SimClip * c);
int sim_clip_keyframe (SimClip * c, int k);
/* The clip's frame duration and loop length, in ns. */
guint64 sim_clip_frame_ns (SimClip * c);
guint64 sim_clip_loop_ns (SimClip * c);
/* Access unit k: its size, and its bytes copied into dst (size bytes). */
gsize sim_clip_au_size (SimClip * c, int k);
void sim_clip_au_copy (SimClip * c, int k, guint8 * dst);
/* The caps' string (g_free it). */
char *sim_clip_caps (SimClip * c);

/* sim_clip_mount publishes the clip at path for camera cam: one shared media, whose stream
 * begins at the clip's frame (offset + frames since t0_us) mod frames, as a camera that has
 * been running since t0_us (g_get_monotonic_time) with that phase. */
void sim_clip_mount (SimServer * s, SimClip * c, int cam, const char *path,
    int offset, gint64 t0_us);

#endif
