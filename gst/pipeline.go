package gst

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
)

// InferSinkFactory is the name under which package elements registers the inference sink.
const InferSinkFactory = "gstvisioninfer"

// AUSinkFactory is the name under which package elements registers the access-unit sink of
// the passthrough branch.
const AUSinkFactory = "gstvisionau"

// CameraOptions describe one camera's pipeline.
type CameraOptions struct {
	Camera      string        // camera id, used in element names and logs
	URL         string        // rtsp:// URL (may carry credentials: never logged as is)
	RedactedURL string        // the URL as it may be shown
	Transport   string        // tcp, udp or auto
	Latency     time.Duration // rtspsrc jitterbuffer latency
	CUDA        *CUDAContext  // non-nil: NVDEC into CUDA memory in this shared context
	QueueFrames int           // frames buffered between decoder and inference, at least 1 (oldest dropped)
	HandlerID   uint64        // tells the inference sink which Go handler gets the frames
	// ViewerHandlerID, when set, adds a second branch (tee) whose sink hands every frame to the
	// viewer (boxes drawn, encoded only while someone watches).
	ViewerHandlerID uint64
	// PassthroughHandlerID, when set, adds a branch before the decoder (a tee after the parser)
	// whose access-unit sink (AUSinkFactory) hands the camera's own access units to that
	// handler: the passthrough view.
	PassthroughHandlerID uint64
	// OnWarning, when set, decides which warnings are fatal: it is told each warning (the
	// posting element's name, the text with the URL redacted) and an error it returns ends the
	// pipeline with that error, on Done. Warnings it lets pass, and all without it, are logged.
	OnWarning func(source, text string) error
	Logger    *slog.Logger
}

// StreamInfo is what the camera turned out to send.
type StreamInfo struct {
	Codec   string // H264 or H265
	Decoder string // element factory used
}

// CameraPipeline is one camera's GStreamer pipeline: rtspsrc → depay → parse → decoder →
// queue → inference sink. Depay, parser and decoder are chosen from the stream's caps when
// rtspsrc's pad appears. NewFilePipeline builds one whose source is a file instead (file.go).
// Each pipeline has its own bus reader; its errors reach only its owner.
type CameraPipeline struct {
	opts     CameraOptions
	pipeline *gogst.Pipeline
	frames   *frameStamper // numbers the decoder's frames
	log      *slog.Logger
	pace     *pacing // file sources only: play at the frame rate (nil: as fast as they decode)

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

// NewCameraPipeline builds the fixed part of the pipeline (rtspsrc); the rest is built when
// the stream's caps are known.
func NewCameraPipeline(o CameraOptions) (*CameraPipeline, error) {
	p, err := newPipeline(o)
	if err != nil {
		return nil, err
	}
	if err := p.addRTSPSource(); err != nil {
		p.free()
		return nil, err
	}
	return p, nil
}

// newPipeline returns an empty pipeline for o, its source still to be added.
func newPipeline(o CameraOptions) (*CameraPipeline, error) {
	if o.Logger == nil {
		o.Logger = slog.Default().With("camera", o.Camera)
	}
	if o.QueueFrames < 1 {
		return nil, fmt.Errorf("%w: QueueFrames is %d, must be at least 1", ErrOptions, o.QueueFrames)
	}
	pl, err := gogst.NewPipeline("camera-" + o.Camera)
	if err != nil {
		return nil, fmt.Errorf("%w: new pipeline: %w", ErrPipeline, err)
	}
	p := &CameraPipeline{
		opts: o, pipeline: pl, log: o.Logger,
		frames: newFrameStamper(),
		done:   make(chan error, 1), stopBus: make(chan struct{}), busDone: make(chan struct{}),
	}
	if o.CUDA != nil {
		o.CUDA.Apply(pl)
	}
	return p, nil
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
			return fmt.Errorf("%w: rtspsrc.%s: %w", ErrPipeline, k, err)
		}
	}
	src.SetArg("protocols", protocols)
	// timestamps straight from the camera's RTP clock (no arrival-time smoothing): the sinks do
	// not sync to a clock, and results keep the camera's own frame timing. The first packet
	// gets PTS 0, so pictures shown before it need guardTimestamps (ptsguard.go).
	src.SetArg("buffer-mode", "none")
	if err := p.pipeline.Add(src); err != nil {
		return fmt.Errorf("%w: %w", ErrPipeline, err)
	}
	id := padTargetSeq.Add(1)
	if _, err := src.Connect("pad-added", func(e *gogst.Element, pad *gogst.Pad) {
		if v, ok := padTargets.Load(id); ok {
			v.(*CameraPipeline).onPadAdded(e, pad)
		}
	}); err != nil {
		return fmt.Errorf("%w: pad-added: %w", ErrPipeline, err)
	}
	padTargets.Store(id, p)
	p.padTarget = id
	return nil
}

// Start sets the pipeline to PLAYING and starts its bus reader.
func (p *CameraPipeline) Start() error {
	go p.readBus()
	if err := p.pipeline.SetState(gogst.StatePlaying); err != nil {
		return fmt.Errorf("%w: set PLAYING: %w", ErrPipeline, err)
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
			p.warn(msg.Source(), redact(msg.ParseWarning().Error(), p.opts))
		}
	}
}

// warn hands a warning to the owner's OnWarning: an error back ends the pipeline with it;
// otherwise the warning is logged.
func (p *CameraPipeline) warn(source, text string) {
	if p.opts.OnWarning != nil {
		if err := p.opts.OnWarning(source, text); err != nil {
			p.fail(err)
			return
		}
	}
	p.log.Warn("pipeline warning", "source", source, "warning", text)
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

// buildDecodeChain builds the chain that decodes codec from pad (decodeSpec), with a
// depayloader first when pad carries RTP, and links pad to it.
func (p *CameraPipeline) buildDecodeChain(pad *gogst.Pad, encoding string, depay bool) error {
	codec, ok := streamCodec(encoding)
	if !ok {
		return fmt.Errorf("%w: camera sends %q video; gstvision decodes H264 and H265", ErrCodec, codec)
	}
	cuda := p.opts.CUDA != nil
	dec, _ := Decoder(codec, cuda)
	if err := dec.Missing(); err != nil {
		return err
	}
	decoder := dec.Found()
	if cuda {
		var err error
		if decoder, err = NVDecoderFor(codec, p.opts.CUDA.Device()); err != nil {
			return err
		}
	}
	o := chainOptions{codec: codec, decoder: decoder, depay: depay, cuda: cuda,
		queue: p.opts.QueueFrames, infer: p.opts.HandlerID, viewer: p.opts.ViewerHandlerID, pass: p.opts.PassthroughHandlerID,
		stamp: p.frames.attach}
	if p.pace != nil {
		o.pace, o.paceDelay = true, p.pace.delay
	}
	c, err := decodeSpec(o).build(p.pipeline)
	if err != nil {
		return err
	}
	if ret := pad.Link(c.first.GetStaticPad("sink")); ret != gogst.PadLinkOK {
		return fmt.Errorf("%w: link source to %s: %s", ErrPipeline, c.first.GetFactory().GetName(), ret.String())
	}
	p.queue.Store(c.byName[nameInferQueue])
	p.mu.Lock()
	p.info = StreamInfo{Codec: codec, Decoder: o.decoder}
	p.mu.Unlock()
	p.log.Info("camera stream", "codec", codec, "decoder", o.decoder)
	return nil
}
