package gst

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
)

// InferSinkFactory is the name under which package elements registers the inference sink.
const InferSinkFactory = "gstvisioninfer"

// CameraOptions describe one camera's pipeline.
type CameraOptions struct {
	Camera      string        // camera id, used in element names and logs
	URL         string        // rtsp:// URL (may carry credentials: never logged as is)
	RedactedURL string        // the URL as it may be shown
	Transport   string        // tcp, udp or auto
	Latency     time.Duration // rtspsrc jitterbuffer latency
	CUDA        *CUDAContext  // non-nil: NVDEC into CUDA memory in this shared context
	QueueFrames int           // frames buffered between decoder and inference (oldest dropped)
	HandlerID   uint64        // tells the inference sink which Go handler gets the frames
	// ViewerHandlerID, when set, adds a second branch (tee) whose sink hands every frame to the
	// viewer (boxes drawn, encoded only while someone watches).
	ViewerHandlerID uint64
	// Pace plays file sources at their frame rate instead of as fast as they decode.
	Pace bool
	// PaceDelay delays a paced source's frames by this much: cameras started together with
	// different delays send their keyframes at different times, as real cameras do.
	PaceDelay time.Duration
	Logger    *slog.Logger
}

// StreamInfo is what the camera turned out to send.
type StreamInfo struct {
	Codec   string // H264 or H265
	Decoder string // element factory used
}

// CameraPipeline is one camera's GStreamer pipeline: rtspsrc → depay → parse → decoder →
// queue → inference sink. Depay, parser and decoder are chosen from the stream's caps when
// rtspsrc's pad appears. A file:// URL (an H.264/H.265 byte-stream file, played in a loop)
// replaces rtspsrc and depay: benchmarks and tests use it. Each pipeline has its own bus reader; its errors reach only its owner.
type CameraPipeline struct {
	opts     CameraOptions
	pipeline *gogst.Pipeline
	frames   *frameStamper // numbers the decoder's frames
	log      *slog.Logger

	mu      sync.Mutex
	info    StreamInfo
	linked  bool
	done    chan error // receives the first fatal error or EOS, once
	stopBus chan struct{}
	busDone chan struct{}
	stopped bool

	padTarget uint64 // key in padTargets

	queue atomic.Pointer[gogst.Element] // the leaky queue before the inference sink, once built
}

// padTargets maps a pad-added handler to its pipeline while the pipeline lives. go-glib never
// frees a connected Go closure (its cgo handle stays registered for good), so a closure that
// held p would keep p, and through it the whole GStreamer pipeline (decoder, sockets, buffers),
// alive forever: two sockets and megabytes leaked per reconnect. The closure holds only an id.
var (
	padTargets   sync.Map // uint64 → *CameraPipeline
	padTargetSeq atomic.Uint64
)

// enumArg is a property value given in gst_util_set_object_arg's string syntax (enums, flags).
type enumArg string

// setOptional sets a property that not every version or implementation of an element has.
func setOptional(e *gogst.Element, name string, v any) {
	_ = e.SetProperty(name, v)
}

// decoderChoice lists decoders by codec and device, best first.
func decoderChoice(codec string, cuda bool) []string {
	switch {
	case codec == "H264" && cuda:
		return []string{"nvh264dec"}
	case codec == "H265" && cuda:
		return []string{"nvh265dec"}
	case codec == "H264":
		return []string{"avdec_h264", "openh264dec"}
	case codec == "H265":
		return []string{"avdec_h265", "libde265dec"}
	}
	return nil
}

// NewCameraPipeline builds the fixed part of the pipeline (rtspsrc); the rest is built when
// the stream's caps are known.
func NewCameraPipeline(o CameraOptions) (*CameraPipeline, error) {
	if o.Logger == nil {
		o.Logger = slog.Default().With("camera", o.Camera)
	}
	if o.QueueFrames <= 0 {
		o.QueueFrames = 4
	}
	pl, err := gogst.NewPipeline("camera-" + o.Camera)
	if err != nil {
		return nil, fmt.Errorf("%w: new pipeline: %v", ErrPipeline, err)
	}
	p := &CameraPipeline{
		opts: o, pipeline: pl, log: o.Logger,
		frames: newFrameStamper(),
		done:   make(chan error, 1), stopBus: make(chan struct{}), busDone: make(chan struct{}),
	}
	if o.CUDA != nil {
		o.CUDA.Apply(pl)
	}
	var err2 error
	if path, ok := strings.CutPrefix(o.URL, "file://"); ok {
		err2 = p.addFileSource(path)
	} else {
		err2 = p.addRTSPSource()
	}
	if err2 != nil {
		p.free()
		return nil, err2
	}
	return p, nil
}

// addFileSource plays an H.264/H.265 byte-stream file in a loop (codec from the extension).
func (p *CameraPipeline) addFileSource(path string) error {
	codec, mime := "H264", "video/x-h264"
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".h265" || ext == ".hevc" || ext == ".265" {
		codec, mime = "H265", "video/x-h265"
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %w", ErrPipeline, err)
	}
	src, err := makeElement("multifilesrc", "src")
	if err != nil {
		return err
	}
	if err := src.SetProperty("location", path); err != nil {
		return fmt.Errorf("%w: multifilesrc.location: %v", ErrPipeline, err)
	}
	_ = src.SetProperty("loop", true)
	_ = src.SetProperty("caps", gogst.NewCapsFromString(mime+",stream-format=byte-stream"))
	if err := p.pipeline.Add(src); err != nil {
		return fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	p.linked = true
	return p.buildDecodeChain(src.GetStaticPad("src"), codec, false)
}

// addRTSPSource adds rtspsrc; the decode chain is built when its video pad appears.
func (p *CameraPipeline) addRTSPSource() error {
	o := p.opts
	src, err := makeElement("rtspsrc", "src")
	if err != nil {
		return err
	}
	// GstRTSPLowerTrans flags, in gst_util_set_object_arg's syntax
	protocols := map[string]string{"tcp": "tcp", "udp": "udp", "auto": "udp+tcp"}[o.Transport]
	if protocols == "" {
		protocols = "tcp"
	}
	props := map[string]any{
		"location":          o.URL,
		"latency":           uint(o.Latency / time.Millisecond),
		"drop-on-latency":   false, // late packets would corrupt frames; the leaky queue drops whole frames instead
		"do-retransmission": false,
		"tcp-timeout":       uint64(5 * time.Second / time.Microsecond),
		"timeout":           uint64(5 * time.Second / time.Microsecond),
	}
	for k, v := range props {
		if err := src.SetProperty(k, v); err != nil {
			return fmt.Errorf("%w: rtspsrc.%s: %v", ErrPipeline, k, err)
		}
	}
	src.SetArg("protocols", protocols)
	// timestamps straight from the camera's RTP clock (no arrival-time smoothing): the sinks do
	// not sync to a clock, and results keep the camera's own frame timing. The first packet
	// gets PTS 0, so pictures shown before it need guardTimestamps (ptsguard.go).
	src.SetArg("buffer-mode", "none")
	if err := p.pipeline.Add(src); err != nil {
		return fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	id := padTargetSeq.Add(1)
	if _, err := src.Connect("pad-added", func(e *gogst.Element, pad *gogst.Pad) {
		if v, ok := padTargets.Load(id); ok {
			v.(*CameraPipeline).onPadAdded(e, pad)
		}
	}); err != nil {
		return fmt.Errorf("%w: pad-added: %v", ErrPipeline, err)
	}
	padTargets.Store(id, p)
	p.padTarget = id
	return nil
}

// Start sets the pipeline to PLAYING and starts its bus reader.
func (p *CameraPipeline) Start() error {
	go p.readBus()
	if err := p.pipeline.SetState(gogst.StatePlaying); err != nil {
		return fmt.Errorf("%w: set PLAYING: %v", ErrPipeline, err)
	}
	return nil
}

// Done delivers the first fatal error (ErrEOS at end of stream); the owner then calls Stop.
func (p *CameraPipeline) Done() <-chan error { return p.done }

// Decoded is the number of frames the decoder has produced.
func (p *CameraPipeline) Decoded() uint64 { return p.frames.count() }

// LastFrameAge is the time since the decoder produced a frame (or since start if none yet: -1).
func (p *CameraPipeline) LastFrameAge() time.Duration { return p.frames.lastAge() }

// DecodedAgo is how long ago frame index was decoded (0 when it is too old to know).
func (p *CameraPipeline) DecodedAgo(index uint64) time.Duration { return p.frames.ago(index) }

// Queued is the number of frames waiting in the queue before the inference sink.
func (p *CameraPipeline) Queued() uint64 {
	q := p.queue.Load()
	if q == nil {
		return 0
	}
	v, err := q.GetProperty("current-level-buffers")
	if err != nil {
		return 0
	}
	n, _ := v.(uint)
	return uint64(n)
}

// Info returns what the stream turned out to be (empty until the pad appeared).
func (p *CameraPipeline) Info() StreamInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Stop tears the pipeline down to NULL and frees it. Safe to call more than once.
func (p *CameraPipeline) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	_ = p.pipeline.SetState(gogst.StateNull)
	padTargets.Delete(p.padTarget) // lets p, and with it the pipeline, be collected
	close(p.stopBus)
	<-p.busDone
	// The counter stays until p is unreachable: Status readers may still hold p.
	runtime.SetFinalizer(p, (*CameraPipeline).free)
	collectSoon()
}

func (p *CameraPipeline) free() { p.frames.free() }

func (p *CameraPipeline) fail(err error) {
	select {
	case p.done <- err:
	default:
	}
}

// readBus handles this pipeline's messages until Stop.
func (p *CameraPipeline) readBus() {
	defer close(p.busDone)
	bus := p.pipeline.GetPipelineBus()
	for {
		select {
		case <-p.stopBus:
			return
		default:
		}
		msg := bus.TimedPopFiltered(gogst.ClockTime(200*time.Millisecond),
			gogst.MessageError|gogst.MessageEOS|gogst.MessageWarning)
		if msg == nil {
			continue
		}
		switch msg.Type() {
		case gogst.MessageError:
			gerr := msg.ParseError()
			err := fmt.Errorf("%w: %s: %s", ErrPipeline, msg.Source(), redact(gerr.Error(), p.opts))
			err = markUnauthorized(msg, gerr.Error(), err) // gst/auth.go
			p.log.Debug("pipeline error", "debug", redact(gerr.DebugString(), p.opts))
			p.fail(err)
		case gogst.MessageEOS:
			p.fail(ErrEOS)
		case gogst.MessageWarning:
			w := msg.ParseWarning()
			text := redact(w.Error(), p.opts)
			// rtspsrc reports a camera that closed the connection only as a warning
			if msg.Source() == "src" && strings.Contains(text, "Could not read from resource") {
				p.fail(fmt.Errorf("%w: %s: %s", ErrPipeline, msg.Source(), text))
				continue
			}
			p.log.Warn("pipeline warning", "source", msg.Source(), "warning", text)
		}
	}
}

// redact removes the camera URL (with its credentials) from GStreamer's messages.
func redact(s string, o CameraOptions) string {
	if o.URL != "" && o.URL != o.RedactedURL {
		s = strings.ReplaceAll(s, o.URL, o.RedactedURL)
	}
	return s
}

// onPadAdded links a new rtspsrc pad: video pads to depay → parse → decoder → queue → sink,
// anything else (audio, metadata) to a fakesink so that it cannot stall the pipeline.
func (p *CameraPipeline) onPadAdded(_ *gogst.Element, pad *gogst.Pad) {
	caps := pad.GetCurrentCaps()
	if caps == nil {
		caps = pad.QueryCaps(nil)
	}
	media, codec := "", ""
	if caps != nil && caps.GetSize() > 0 {
		st := caps.GetStructureAt(0)
		if v, err := st.GetValue("media"); err == nil {
			media, _ = v.(string)
		}
		if v, err := st.GetValue("encoding-name"); err == nil {
			codec, _ = v.(string)
		}
	}
	p.mu.Lock()
	already := p.linked
	if media == "video" && !already {
		p.linked = true
	}
	p.mu.Unlock()
	if media != "video" || already {
		p.linkFakesink(pad)
		return
	}
	if err := p.buildDecodeChain(pad, strings.ToUpper(codec), true); err != nil {
		p.fail(err)
	}
}

func (p *CameraPipeline) linkFakesink(pad *gogst.Pad) {
	fs, err := gogst.NewElement("fakesink")
	if err != nil {
		return
	}
	_ = fs.SetProperty("sync", false)
	_ = fs.SetProperty("async", false)
	_ = p.pipeline.Add(fs)
	fs.SyncStateWithParent()
	pad.Link(fs.GetStaticPad("sink"))
}

func (p *CameraPipeline) buildDecodeChain(pad *gogst.Pad, codec string, depay bool) error {
	var depayName, parseName string
	switch codec {
	case "H264":
		depayName, parseName = "rtph264depay", "h264parse"
	case "H265", "HEVC":
		codec, depayName, parseName = "H265", "rtph265depay", "h265parse"
	default:
		return fmt.Errorf("%w: camera sends %q video; gstvision decodes H264 and H265", ErrCodec, codec)
	}
	cuda := p.opts.CUDA != nil
	choices := decoderChoice(codec, cuda)
	decName := FirstAvailable(choices...)
	if decName == "" {
		hint := "install gstreamer1.0-libav"
		if cuda {
			hint = "NVDEC is unavailable: check the NVIDIA driver and that the container has NVIDIA_DRIVER_CAPABILITIES including video"
		}
		return fmt.Errorf("%w: no %s decoder (%s): %s", ErrMissingElement, codec, strings.Join(choices, ", "), hint)
	}
	var chain []*gogst.Element
	add := func(factory, name string, props map[string]any) (*gogst.Element, error) {
		e, err := makeElementWith(factory, name, props)
		if err != nil {
			return nil, err
		}
		chain = append(chain, e)
		return e, nil
	}
	if depay {
		d, err := add(depayName, "depay", nil)
		if err != nil {
			return err
		}
		// after packet loss, ask the camera for a keyframe and drop until it comes
		setOptional(d, "request-keyframe", true)
		setOptional(d, "wait-for-keyframe", true)
		// pictures shown before the first packet must not get a wrapped PTS (ptsguard.go)
		guardTimestamps(d.GetStaticPad("src"))
	}
	if _, err := add(parseName, "parse", map[string]any{"config-interval": -1}); err != nil {
		return err
	}
	if p.opts.Pace {
		// real-time pacing of the encoded stream, as a camera would deliver it
		if _, err := add("clocksync", "pace", map[string]any{"ts-offset": int64(p.opts.PaceDelay)}); err != nil {
			return err
		}
	}
	dec, err := add(decName, "dec", nil)
	if err != nil {
		return err
	}
	// A stream joined mid-GOP (every camera, at connect) decodes to garbage until its first
	// keyframe: drop those frames instead of detecting on smeared pictures.
	setOptional(dec, "output-corrupt", false)
	setOptional(dec, "discard-corrupted-frames", true)
	if (depay || p.opts.Pace) && strings.HasPrefix(decName, "avdec_") {
		// Live sources (cameras, paced files) decode with slice threads only: each extra frame
		// thread holds one more frame (up to 15, half a second, on 16 cores). thread-type=auto
		// picks slices only when its latency query finds a live upstream when caps arrive;
		// this does not depend on that. Throughput does not need frame threads: cameras decode
		// in parallel, one pipeline each. Unpaced files (decoding flat out) keep auto.
		dec.SetArg("thread-type", "slice")
	}

	var rawCaps string
	if cuda {
		rawCaps = "video/x-raw(memory:CUDAMemory),format=NV12"
	} else {
		// the CPU decoders may output other layouts (4:2:2, 10-bit): convert to I420
		if _, err := add("videoconvert", "convert", nil); err != nil {
			return err
		}
		rawCaps = "video/x-raw,format=I420"
	}
	if _, err := add("capsfilter", "rawcaps", map[string]any{"caps": gogst.NewCapsFromString(rawCaps)}); err != nil {
		return err
	}
	// leaky: when inference falls behind, the oldest frames are dropped, never the decoder blocked
	queue, err := add("queue", "inferqueue", map[string]any{
		"max-size-buffers": uint(p.opts.QueueFrames), "max-size-bytes": uint(0), "max-size-time": uint64(0), "leaky": enumArg("downstream"),
	})
	if err != nil {
		return err
	}
	if _, err := add(InferSinkFactory, "infer", map[string]any{"handler-id": p.opts.HandlerID}); err != nil {
		return err
	}
	var branch []*gogst.Element // the viewer branch, fed by a tee after the decoder
	if p.opts.ViewerHandlerID != 0 {
		tee, err := makeElement("tee", "split")
		if err != nil {
			return err
		}
		vq, err := makeElement("queue", "viewerqueue")
		if err != nil {
			return err
		}
		for k, v := range map[string]any{"max-size-buffers": uint(2), "max-size-bytes": uint(0), "max-size-time": uint64(0)} {
			_ = vq.SetProperty(k, v)
		}
		vq.SetArg("leaky", "downstream")
		vs, err := makeElement(InferSinkFactory, "viewer")
		if err != nil {
			return err
		}
		if err := vs.SetProperty("handler-id", p.opts.ViewerHandlerID); err != nil {
			return fmt.Errorf("%w: viewer sink: %v", ErrPipeline, err)
		}
		branch = []*gogst.Element{tee, vq, vs}
	}
	if err := p.pipeline.AddMany(append(chain, branch...)...); err != nil {
		return fmt.Errorf("%w: add: %v", ErrPipeline, err)
	}
	if branch != nil {
		// … → rawcaps → tee ─┬→ inferqueue → infer
		//                    └→ viewerqueue → viewer
		rawIdx := len(chain) - 2 // chain ends with inferqueue, infer
		head, tail := chain[:rawIdx], chain[rawIdx:]
		links := [][]*gogst.Element{append(append([]*gogst.Element{}, head...), branch[0]), append([]*gogst.Element{branch[0]}, tail...), branch}
		for _, l := range links {
			if err := gogst.ElementLinkMany(l...); err != nil {
				return fmt.Errorf("%w: link %s chain: %v", ErrPipeline, codec, err)
			}
		}
		chain = append(chain, branch...)
	} else if err := gogst.ElementLinkMany(chain...); err != nil {
		return fmt.Errorf("%w: link %s chain: %v", ErrPipeline, codec, err)
	}
	p.frames.attach(dec.GetStaticPad("src"))
	for i := len(chain) - 1; i >= 0; i-- {
		chain[i].SyncStateWithParent()
	}
	if ret := pad.Link(chain[0].GetStaticPad("sink")); ret != gogst.PadLinkOK {
		return fmt.Errorf("%w: link source to %s: %s", ErrPipeline, chain[0].GetFactory().GetName(), ret.String())
	}
	p.queue.Store(queue)
	p.mu.Lock()
	p.info = StreamInfo{Codec: codec, Decoder: decName}
	p.mu.Unlock()
	p.log.Info("camera stream", "codec", codec, "decoder", decName)
	return nil
}
