package simulate

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Options configure a simulated camera server. The zero value of every field selects its
// default.
type Options struct {
	// Cameras is how many cameras are served, as /cam1 … /camN (default 1, at most 63).
	Cameras int
	// Listen is the RTSP address (default "127.0.0.1:8554"; port 0 picks a free port).
	Listen string
	// Width and Height are the picture size (default 640x360). Both must be even: the
	// stream is 4:2:0, so odd sizes are rejected. Any even size works, e.g. 854x480 or
	// 1366x768.
	Width, Height int
	// FPS is the frame rate (default 30, at most 120).
	FPS int
	// Codec is "h264" (default) or "h265".
	Codec string
	// BitrateKbps is the encoder's target bitrate (default 1500).
	BitrateKbps int
	// BFrames is the number of B-frames between references (default 2, like real
	// cameras' High profile streams: non-reference B-frames, no B-pyramid, no deep
	// lookahead). A negative value disables B-frames (and selects the encoder's zero-latency
	// tuning).
	BFrames int
	// KeyIntMax is the largest distance between key frames (default 2*FPS).
	KeyIntMax int
	// JumpEverySec, when > 0, makes every camera's timestamps jump forward by 10 s every
	// JumpEverySec seconds of stream, as some real cameras' clocks do. The pictures stay
	// continuous and are still produced in real time.
	JumpEverySec int
	// SkipFrames, when > 0, drops the first SkipFrames encoded pictures (in decode order) of
	// every client's stream, so that each client joins mid-GOP as the client of a camera
	// that is already running does: the first picture it gets may be a P-picture that
	// shows after the B-pictures sent next, and the first keyframe comes only later. The
	// client's k-th picture is then no longer frame k of the scene.
	SkipFrames int
	// User and Password, when User is set, make every camera require these credentials
	// (RTSP basic authentication, as real cameras do): a client without them, or with
	// others, gets 401 Unauthorized. URL does not include them.
	User, Password string
	// Clip, when set, serves this recorded H.264/H.265 stream (Annex B byte stream or MP4)
	// on every mount instead of simulated scenes, without re-encoding (clip.go): Cameras may
	// then be up to MaxClipCameras; the picture size, codec and frame rate are the clip's
	// (FPS is only the rate of a byte stream whose SPS has none), and only Cameras, Listen,
	// User, Password and Logger apply.
	Clip string
	// Script, when set, makes every camera show this scripted scene (script.go) instead of
	// the default bouncing blocks.
	Script *Script
	// Logger receives the server's events (default: discarded).
	Logger *slog.Logger
	// OnFrame, when set, is called by every client's frame feeder with the camera (1-based),
	// the frame index n in that client's stream and the time the feeder starts producing
	// frame n on its real-time schedule, just before rendering it and pushing it to the
	// encoder (benchmarks measure glass-to-glass latency from it). It runs on the feeder's
	// goroutine and must return quickly.
	OnFrame func(camera, n int, at time.Time)
}

// JumpStep is how far the timestamps jump when Options.JumpEverySec is set.
const JumpStep = 10 // seconds

// Codecs the simulator can encode.
const (
	CodecH264 = "h264"
	CodecH265 = "h265"
)

// ErrElementMissing is wrapped by Start's error when a GStreamer element it needs is not
// installed; the message names the element and the Debian package that provides it.
var ErrElementMissing = errors.New("GStreamer element missing")

// withDefaults returns o with defaults filled in, or an error naming the bad field.
func (o Options) withDefaults() (Options, error) {
	if o.Cameras == 0 {
		o.Cameras = 1
	}
	if o.Cameras < 0 || o.Cameras > 63 {
		return o, fmt.Errorf("simulate: Cameras = %d: want 1..63", o.Cameras)
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8554"
	}
	if _, port, err := net.SplitHostPort(o.Listen); err != nil {
		return o, fmt.Errorf("simulate: Listen %q: %w", o.Listen, err)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return o, fmt.Errorf("simulate: Listen %q: port must be a number in 0..65535", o.Listen)
	}
	if o.Width == 0 && o.Height == 0 {
		o.Width, o.Height = 640, 360
	}
	if o.Width < 16 || o.Height < 16 || o.Width > 7680 || o.Height > 4320 {
		return o, fmt.Errorf("simulate: size %dx%d: want 16x16 .. 7680x4320", o.Width, o.Height)
	}
	if o.Width%2 != 0 || o.Height%2 != 0 {
		return o, fmt.Errorf("simulate: size %dx%d: width and height must be even (4:2:0 chroma is subsampled 2x2)", o.Width, o.Height)
	}
	if o.FPS == 0 {
		o.FPS = 30
	}
	if o.FPS < 1 || o.FPS > 120 {
		return o, fmt.Errorf("simulate: FPS = %d: want 1..120", o.FPS)
	}
	o.Codec = strings.ToLower(strings.TrimSpace(o.Codec))
	switch o.Codec {
	case "":
		o.Codec = CodecH264
	case CodecH264, CodecH265:
	default:
		return o, fmt.Errorf("simulate: Codec %q: want %q or %q", o.Codec, CodecH264, CodecH265)
	}
	if o.BitrateKbps == 0 {
		o.BitrateKbps = 1500
	}
	if o.BitrateKbps < 16 || o.BitrateKbps > 100000 {
		return o, fmt.Errorf("simulate: BitrateKbps = %d: want 16..100000", o.BitrateKbps)
	}
	switch {
	case o.BFrames == 0:
		o.BFrames = 2
	case o.BFrames < 0:
		o.BFrames = 0
	case o.BFrames > 16:
		return o, fmt.Errorf("simulate: BFrames = %d: want at most 16", o.BFrames)
	}
	if o.KeyIntMax == 0 {
		o.KeyIntMax = 2 * o.FPS
	}
	if o.KeyIntMax < 1 {
		return o, fmt.Errorf("simulate: KeyIntMax = %d: want > 0", o.KeyIntMax)
	}
	if o.JumpEverySec < 0 {
		return o, fmt.Errorf("simulate: JumpEverySec = %d: want >= 0", o.JumpEverySec)
	}
	if o.SkipFrames < 0 {
		return o, fmt.Errorf("simulate: SkipFrames = %d: want >= 0", o.SkipFrames)
	}
	if err := o.checkCredentials(); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// checkCredentials rejects credentials that basic authentication cannot carry.
func (o Options) checkCredentials() error {
	switch {
	case o.User == "" && o.Password != "":
		return errors.New("simulate: Password without User")
	case strings.Contains(o.User, ":"):
		return fmt.Errorf("simulate: User %q: basic authentication forbids ':' in the user name", o.User)
	}
	return nil
}

// elementPackages names the Debian package that ships each element the server uses.
var elementPackages = map[string]string{
	"appsrc":     "gstreamer1.0-plugins-base",
	"x264enc":    "gstreamer1.0-plugins-ugly",
	"x265enc":    "gstreamer1.0-plugins-bad",
	"rtph264pay": "gstreamer1.0-plugins-good",
	"rtph265pay": "gstreamer1.0-plugins-good",
	"h264parse":  "gstreamer1.0-plugins-bad",
	"h265parse":  "gstreamer1.0-plugins-bad",
}

// requiredElements lists the elements a media of o needs.
func requiredElements(o Options) []string {
	enc, pay, parse := "x264enc", "rtph264pay", "h264parse"
	if o.Codec == CodecH265 {
		enc, pay, parse = "x265enc", "rtph265pay", "h265parse"
	}
	els := []string{"appsrc", enc, pay}
	if o.SkipFrames > 0 {
		els = append(els, parse) // joinParser
	}
	return els
}

// launch is the pipeline description of one client's media: raw 8-bit 4:2:0 frames from Go,
// encoded and payloaded. The payloader repeats the parameter sets before every IDR.
func (o Options) launch() string {
	raw := fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,"+
		"pixel-aspect-ratio=1/1,interlace-mode=progressive,colorimetry=bt601",
		o.Width, o.Height, o.FPS)
	src := fmt.Sprintf(`appsrc name=src is-live=true do-timestamp=false format=time block=true `+
		`max-buffers=3 max-bytes=0 max-time=0 caps="%s"`, raw)
	var enc string
	switch o.Codec {
	case CodecH265:
		opts := fmt.Sprintf("bframes=%d:b-adapt=0:open-gop=0:frame-threads=1:pools=2", o.BFrames)
		tune := ""
		if o.BFrames == 0 {
			tune = " tune=zerolatency"
		} else {
			// As a camera's encoder: no B-pyramid (which makes decoders hold one more frame)
			// and the shortest lookahead x265 accepts (ultrafast has 5 frames; each is 33 ms).
			opts += fmt.Sprintf(":b-pyramid=0:rc-lookahead=%d", o.BFrames+1)
		}
		enc = fmt.Sprintf(`x265enc name=enc speed-preset=ultrafast log-level=error bitrate=%d key-int-max=%d%s option-string="%s" `+
			`! video/x-h265,profile=main ! %srtph265pay name=pay0 pt=96 config-interval=-1`,
			o.BitrateKbps, o.KeyIntMax, tune, opts, o.joinParser("h265", "hvc1"))
	default:
		// superfast keeps CABAC and 8x8 transforms (High profile) at little CPU;
		// ultrafast would drop to Constrained Baseline. zerolatency forbids B-frames, so it
		// is only used without them. With B-frames, superfast already has no lookahead
		// (rc_lookahead=0) and threads=1 no sync lookahead; b-pyramid=false gives the
		// IBBP structure of camera encoders: the preset's B-pyramid declares a reorder depth
		// of 2, and every decoder then holds one more frame (33 ms at 30 fps).
		tune := ""
		if o.BFrames == 0 {
			tune = " tune=zerolatency"
		}
		enc = fmt.Sprintf(`x264enc name=enc speed-preset=superfast%s bitrate=%d key-int-max=%d bframes=%d b-adapt=false b-pyramid=false threads=1 `+
			`! video/x-h264,profile=high ! %srtph264pay name=pay0 pt=96 config-interval=-1`,
			tune, o.BitrateKbps, o.KeyIntMax, o.BFrames, o.joinParser("h264", "avc"))
	}
	return "( " + src + " ! " + enc + " )"
}

// joinParser is the launch fragment (ending in "! ") that goes before the payloader when
// SkipFrames is set, else "". The parser hands the payloader its parameter sets in the caps
// (codec_data of the packetized format), so they reach the SDP as a camera's do, although
// the first keyframe, which carries them in the stream, is among the pictures dropped at
// its output (the element named "join").
func (o Options) joinParser(codec, format string) string {
	if o.SkipFrames <= 0 {
		return ""
	}
	return fmt.Sprintf("%sparse name=join ! video/x-%s,stream-format=%s,alignment=au ! ", codec, codec, format)
}
