package simulate

// #include <stdlib.h>
// #include "clip.h"
import "C"

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"

	"github.com/gstvision/gstvision/h26x"
)

// The clip mode (Options.Clip): a recorded H.264 or H.265 stream served on every mount
// without re-encoding. The file is parsed once (clip.c); each mount's media pushes the same
// buffers (their memory shared) with new timestamps, looped with continuous timestamps, all
// in C on the media's streaming thread; the server's sinks send each packet at its time
// (rate control, on in this mode: appsrc itself does not wait), so pushing never runs more
// than the server's queue ahead of real time. Mount i of
// N starts (i-1)*GOP/N frames into the clip, so the cameras' keyframes do not coincide.

// ErrClip is wrapped by the errors of a clip that cannot be served.
var ErrClip = errors.New("simulate: clip")

// MaxClipCameras is the most mounts the clip mode serves.
const MaxClipCameras = 1024

// Clip is a parsed recording, held in memory.
type Clip struct {
	c *C.SimClip
	// Codec is CodecH264 or CodecH265.
	Codec string
	// MP4 is whether the file was an MP4/MOV (else an Annex B byte stream).
	MP4 bool
	// Frames is the number of access units, Keyframes how many of them are keyframes and
	// GOP the longest distance between two keyframes (Frames when there is one).
	Frames, Keyframes, GOP int
	// FrameTime is the nominal frame duration, Loop the length of one pass.
	FrameTime, Loop time.Duration
	// Caps are the stream's caps (avc/hvc1, with the parameter sets in codec_data).
	Caps string
}

// FPS is the clip's frame rate.
func (c *Clip) FPS() float64 { return float64(time.Second) / float64(c.FrameTime) }

// LoadClip parses an H.264 or H.265 file (an Annex B byte stream, or MP4/MOV) into memory.
// fallbackFPS is the frame rate of a byte stream whose SPS states none (0: 30). A byte
// stream's frames are timed at that rate in decode order, so it must not have B-frames;
// an MP4 keeps its own timestamps.
func LoadClip(path string, fallbackFPS float64) (*Clip, error) {
	head, err := readHead(path, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClip, err)
	}
	mp4 := len(head) >= 8 && (string(head[4:8]) == "ftyp" || string(head[4:8]) == "moov")
	var h265 bool
	if mp4 {
		whole, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrClip, err)
		}
		switch {
		case bytes.Contains(whole, []byte("avcC")):
		case bytes.Contains(whole, []byte("hvcC")):
			h265 = true
		default:
			return nil, fmt.Errorf("%w: %s: an MP4 without an H.264 (avcC) or H.265 (hvcC) track", ErrClip, path)
		}
	} else if h265, err = annexBIsH265(head); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrClip, path, err)
	}
	initOnce.Do(func() { gst.Init(nil) })
	need := []string{"filesrc", "appsink", "h264parse"}
	if h265 {
		need[2] = "h265parse"
	}
	if mp4 {
		need = append(need, "qtdemux")
	}
	for _, name := range need {
		if gst.Find(name) == nil {
			return nil, fmt.Errorf("simulate: element %s not found: %w", name, ErrElementMissing)
		}
	}
	if fallbackFPS <= 0 {
		fallbackFPS = 30
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cmsg *C.char
	c := C.sim_clip_load(cpath, cbool(mp4), cbool(h265), C.double(fallbackFPS), &cmsg)
	if c == nil {
		msg := C.GoString(cmsg)
		C.g_free(C.gpointer(cmsg))
		return nil, fmt.Errorf("%w: %s: %s", ErrClip, path, msg)
	}
	clip := &Clip{c: c, Codec: CodecH264, MP4: mp4, Frames: int(C.sim_clip_frames(c)),
		FrameTime: time.Duration(C.sim_clip_frame_ns(c)), Loop: time.Duration(C.sim_clip_loop_ns(c))}
	if h265 {
		clip.Codec = CodecH265
	}
	caps := C.sim_clip_caps(c)
	clip.Caps = C.GoString(caps)
	C.g_free(C.gpointer(caps))
	last := -1
	for k := 0; k < clip.Frames; k++ {
		if C.sim_clip_keyframe(c, C.int(k)) == 0 {
			continue
		}
		clip.Keyframes++
		if last >= 0 {
			clip.GOP = max(clip.GOP, k-last)
		}
		last = k
	}
	if clip.Keyframes == 0 {
		clip.Close()
		return nil, fmt.Errorf("%w: %s: no keyframe in %d access units", ErrClip, path, clip.Frames)
	}
	if clip.GOP == 0 {
		clip.GOP = clip.Frames
	}
	if !mp4 && clip.Codec == CodecH264 {
		for k := 0; k < clip.Frames; k++ {
			if h264IsB(clip.AccessUnit(k)) {
				clip.Close()
				return nil, fmt.Errorf("%w: %s: access unit %d is a B-picture: a byte stream has no presentation timestamps, "+
					"so its frames would be timed in decode order; encode it without B-frames (x264enc bframes=0) or give an MP4: %w",
					ErrClip, path, k, ErrClipBFrames)
			}
		}
	}
	return clip, nil
}

// ErrClipBFrames is wrapped by LoadClip's error for an H.264 byte stream with B-frames.
var ErrClipBFrames = errors.New("byte stream with B-frames")

// h264IsB reports whether the first slice of an access unit (length-prefixed NAL units) is
// a B slice: slice_type, the second exp-Golomb field of the slice header, is 1 or 6.
func h264IsB(au []byte) bool {
	for len(au) >= 4 {
		n := int(binary.BigEndian.Uint32(au))
		if n > len(au)-4 || n < 2 {
			return false
		}
		nal := au[4 : 4+n]
		au = au[4+n:]
		if t := nal[0] & 0x1f; t != 1 && t != 5 {
			continue
		}
		return h26x.H264SliceType(h26x.RBSP(nal[:min(len(nal), 24)])) == 1
	}
	return false
}

// AccessUnit returns a copy of access unit k (decode order) as the payloader gets it:
// length-prefixed NAL units (avc/hvc1, 4-byte lengths).
func (c *Clip) AccessUnit(k int) []byte {
	n := int(C.sim_clip_au_size(c.c, C.int(k)))
	out := make([]byte, n)
	if n > 0 {
		C.sim_clip_au_copy(c.c, C.int(k), (*C.guint8)(unsafe.Pointer(&out[0])))
	}
	return out
}

// Keyframe reports whether access unit k is a keyframe.
func (c *Clip) Keyframe(k int) bool { return C.sim_clip_keyframe(c.c, C.int(k)) != 0 }

// Close releases the clip; medias still playing it keep their own reference.
func (c *Clip) Close() {
	if c.c != nil {
		C.sim_clip_unref(c.c)
		c.c = nil
	}
}

// Offset is the frame at which mount i (1-based) of n starts: spread over one GOP.
func (c *Clip) Offset(i, n int) int { return (i - 1) * c.GOP / n }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := f.Read(buf)
	if k == 0 && err != nil {
		return nil, err
	}
	return buf[:k], nil
}

// annexBIsH265 tells H.265 from H.264 by the header of the first NAL unit after a start
// code: H.265's two-byte header has nuh_layer_id 0 and TemporalId+1 = 1 in its second byte,
// and a stream begins with a VPS, SPS, PPS, AUD or SEI (types 32..35, 39).
func annexBIsH265(b []byte) (bool, error) {
	i := bytes.Index(b, []byte{0, 0, 1})
	if i < 0 || i+4 >= len(b) {
		return false, errors.New("not an Annex B byte stream (no start code) nor an MP4")
	}
	h0, h1 := b[i+3], b[i+4]
	t := (h0 >> 1) & 0x3f
	if h0&0x80 == 0 && h1 == 1 && (t >= 32 && t <= 35 || t == 39) {
		return true, nil
	}
	return false, nil
}

// startClip is Start for the clip mode.
func startClip(ctx context.Context, o Options) (*Server, error) {
	if o.Cameras == 0 {
		o.Cameras = 1
	}
	if o.Cameras < 0 || o.Cameras > MaxClipCameras {
		return nil, fmt.Errorf("simulate: Cameras = %d: want 1..%d", o.Cameras, MaxClipCameras)
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8554"
	}
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("simulate: Listen %q: %w", o.Listen, err)
	}
	if err := o.checkCredentials(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	clip, err := LoadClip(o.Clip, float64(o.FPS))
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"appsrc", "rtph264pay", "rtph265pay"} {
		if gst.Find(name) == nil {
			clip.Close()
			return nil, fmt.Errorf("simulate: element %s not found (Debian package %s): %w",
				name, elementPackages[name], ErrElementMissing)
		}
	}
	o.Codec = clip.Codec
	o.FPS = int(clip.FPS() + 0.5)
	s := &Server{
		o:        o,
		log:      o.Logger.With("component", "simulate"),
		host:     host,
		scenes:   make([]*Scene, o.Cameras), // no scenes: Scene returns nil
		running:  make([]bool, o.Cameras),
		feeders:  map[uintptr]*feeder{},
		loopDone: make(chan struct{}),
		done:     make(chan struct{}),
		clip:     clip,
		clipT0:   int64(C.g_get_monotonic_time()),
	}
	if err := s.listen(port, 0); err != nil {
		clip.Close()
		return nil, err
	}
	s.serve()
	s.log.Info("clip cameras listening", "url", s.URL(1), "cameras", o.Cameras, "clip", o.Clip,
		"codec", clip.Codec, "mp4", clip.MP4, "frames", clip.Frames, "fps", fmt.Sprintf("%.2f", clip.FPS()),
		"gop", clip.GOP, "keyframes", clip.Keyframes, "caps", clip.Caps)
	go s.closeOnCancel(ctx)
	return s, nil
}

// clipClock makes a mount's stream begin where a camera running since the server started
// would be; tests turn it off, so that mount i begins exactly at its offset.
var clipClock = true

// mountClip publishes camera i of the clip mode. Call with opMu held.
func (s *Server) mountClip(i int) {
	p := C.CString(s.path(i))
	defer C.free(unsafe.Pointer(p))
	t0 := s.clipT0
	if !clipClock {
		t0 = -1
	}
	C.sim_clip_mount(s.cs, s.clip.c, C.int(i), p, C.int(s.clip.Offset(i, len(s.running))), C.gint64(t0))
	s.running[i-1] = true
}

// Clip is the clip the server plays (Options.Clip), or nil for simulated scenes.
func (s *Server) Clip() *Clip { return s.clip }
