package gst

// #include "gstv.h"
import "C"

import (
	"fmt"
	"log/slog"
	"time"
	"unsafe"

	gogst "github.com/go-gst/go-gst/gst"
)

// EncoderOptions describe a viewer encoder: I420 frames in, browser-friendly H.264 out.
type EncoderOptions struct {
	Camera        string
	Width, Height int    // input frame size
	MaxWidth      int    // scale down to at most this width (aspect kept)
	Encoder       string // nvh264enc or x264enc
	BitrateKbps   int
	Logger        *slog.Logger
}

// Encoder is the per-camera viewer encoder, run only while someone watches:
// appsrc → videoscale → x264enc|nvh264enc → h264parse → appsink, producing H.264 constrained
// baseline, no B-frames, SPS/PPS before every IDR, one access unit per buffer.
type Encoder struct {
	pipeline *gogst.Pipeline
	src, enc *gogst.Element
	sink     *gogst.Element
	frameLen int
	OutW     int
	OutH     int
}

// ChooseEncoder resolves "auto" to nvh264enc where the GPU has NVENC, else x264enc.
func ChooseEncoder(pref string) (string, error) {
	switch pref {
	case "", "auto":
		if HasElement("nvh264enc") {
			return "nvh264enc", nil
		}
		if HasElement("x264enc") {
			return "x264enc", nil
		}
		return "", fmt.Errorf("%w: no H.264 encoder (nvh264enc or x264enc; install gstreamer1.0-plugins-ugly)", ErrMissingElement)
	case "nvh264enc", "x264enc":
		if !HasElement(pref) {
			return "", fmt.Errorf("%w: %s", ErrMissingElement, pref)
		}
		return pref, nil
	}
	return "", fmt.Errorf("%w: unknown encoder %q", ErrMissingElement, pref)
}

// ScaledSize fits w×h into maxW wide (even sizes, aspect kept).
func ScaledSize(w, h, maxW int) (int, int) {
	if maxW <= 0 || w <= maxW {
		return w &^ 1, h &^ 1
	}
	return maxW &^ 1, (h * maxW / w) &^ 1
}

// NewEncoder builds and starts the encoder pipeline.
func NewEncoder(o EncoderOptions) (*Encoder, error) {
	pl, err := gogst.NewPipeline("viewer-" + o.Camera)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPipeline, err)
	}
	e := &Encoder{pipeline: pl, frameLen: o.Width * o.Height * 3 / 2}
	ok := false
	defer func() {
		if !ok {
			// Deterministically, not when a finalizer drops it: GStreamer must not dispose a
			// pipeline that is not in the NULL state.
			_ = pl.SetState(gogst.StateNull)
		}
	}()
	e.OutW, e.OutH = ScaledSize(o.Width, o.Height, o.MaxWidth)
	inCaps := fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d,framerate=0/1", o.Width, o.Height)
	src, err := makeElementWith("appsrc", "src", map[string]any{"caps": gogst.NewCapsFromString(inCaps), "is-live": true,
		"format": enumArg("time"), "max-bytes": uint64(3 * e.frameLen), "block": false})
	if err != nil {
		return nil, err
	}
	src.SetArg("leaky-type", "downstream") // (1.20+) drop old frames, never block the camera
	scale, err := makeElementWith("videoscale", "scale", nil)
	if err != nil {
		return nil, err
	}
	scaled, err := makeElementWith("capsfilter", "scaled", map[string]any{"caps": gogst.NewCapsFromString(
		fmt.Sprintf("video/x-raw,width=%d,height=%d", e.OutW, e.OutH))})
	if err != nil {
		return nil, err
	}
	var enc *gogst.Element
	if o.Encoder == "nvh264enc" {
		enc, err = makeElementWith("nvh264enc", "enc", map[string]any{"bitrate": uint(o.BitrateKbps), "bframes": uint(0),
			"zerolatency": true, "gop-size": 60, "preset": enumArg("low-latency-hq")})
	} else {
		enc, err = makeElementWith("x264enc", "enc", map[string]any{"bitrate": uint(o.BitrateKbps), "tune": enumArg("zerolatency"),
			"speed-preset": enumArg("ultrafast"), "key-int-max": uint(60), "bframes": uint(0), "byte-stream": true})
	}
	if err != nil {
		return nil, err
	}
	profile, err := makeElementWith("capsfilter", "profile", map[string]any{"caps": gogst.NewCapsFromString(
		"video/x-h264,profile=constrained-baseline")})
	if err != nil {
		return nil, err
	}
	parse, err := makeElementWith("h264parse", "parse", map[string]any{"config-interval": -1})
	if err != nil {
		return nil, err
	}
	out, err := makeElementWith("capsfilter", "au", map[string]any{"caps": gogst.NewCapsFromString(
		"video/x-h264,stream-format=byte-stream,alignment=au")})
	if err != nil {
		return nil, err
	}
	sink, err := makeElementWith("appsink", "sink", map[string]any{"sync": false, "max-buffers": uint(30), "drop": true,
		"enable-last-sample": false})
	if err != nil {
		return nil, err
	}
	chain := []*gogst.Element{src, scale, scaled, enc, profile, parse, out, sink}
	if err := pl.AddMany(chain...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPipeline, err)
	}
	if err := gogst.ElementLinkMany(chain...); err != nil {
		return nil, fmt.Errorf("%w: link viewer encoder: %w", ErrPipeline, err)
	}
	e.src, e.enc, e.sink = src, enc, sink
	if err := pl.SetState(gogst.StatePlaying); err != nil {
		return nil, fmt.Errorf("%w: viewer encoder: %w", ErrPipeline, err)
	}
	ok = true
	return e, nil
}

func elemPtr(e *gogst.Element) *C.GstElement { return (*C.GstElement)(unsafe.Pointer(e.Instance())) }

// Push hands one I420 frame (Width*Height*3/2 bytes, tightly packed) to the encoder; it is
// copied, and dropped by the encoder's queue rather than blocking when it falls behind.
func (e *Encoder) Push(i420 []byte, pts time.Duration) error {
	if len(i420) < e.frameLen {
		return fmt.Errorf("%w: frame of %d bytes, want %d", ErrCaps, len(i420), e.frameLen)
	}
	ret := C.gstv_push_frame(elemPtr(e.src), (*C.guint8)(unsafe.Pointer(&i420[0])), C.gsize(e.frameLen), C.guint64(pts))
	if ret != C.GST_FLOW_OK {
		return fmt.Errorf("%w: push to viewer encoder: flow %d", ErrPipeline, int(ret))
	}
	return nil
}

// Pull waits up to timeout for the next access unit and copies it into buf. n is 0 on timeout;
// err is ErrEOS once the encoder has ended.
func (e *Encoder) Pull(buf []byte, timeout time.Duration) (n int, pts time.Duration, err error) {
	var cpts C.guint64
	var eos C.int
	r := C.gstv_pull_au(elemPtr(e.sink), C.guint64(timeout), (*C.guint8)(unsafe.Pointer(&buf[0])), C.gsize(len(buf)), &cpts, &eos)
	switch {
	case r == -1:
		return 0, 0, ErrEOS
	case r == -2:
		return 0, 0, fmt.Errorf("%w: access unit larger than %d bytes", ErrPipeline, len(buf))
	}
	return int(r), time.Duration(cpts), nil
}

// ForceKeyUnit asks for an IDR with SPS/PPS (a new viewer, or a viewer's PLI/FIR).
func (e *Encoder) ForceKeyUnit() { C.gstv_force_key_unit(elemPtr(e.enc)) }

// Close stops the encoder.
func (e *Encoder) Close() {
	_ = e.pipeline.SetState(gogst.StateNull)
}
