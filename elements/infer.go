// Package elements holds the GStreamer elements written in Go and registered in-process:
// gstvisioninfer, the sink that ends each camera's analytics branch and hands every decoded
// frame (host or CUDA memory, never copied) to the inference stage.
package elements

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-gst/go-glib/glib"
	gogst "github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/base"

	"github.com/gstvision/gstvision/gst"
)

// FrameMeta identifies a frame within its camera's stream.
type FrameMeta struct {
	Index uint64        // decoded-frame index (stamped at the decoder's output)
	PTS   time.Duration // presentation timestamp, -1 when unknown
	// Decoded is when the decoder produced the frame (set by the handler; zero when unknown),
	// the start of the frame-to-result latency.
	Decoded time.Time
}

// FrameHandler receives the frames of one pipeline, in that pipeline's streaming thread.
type FrameHandler interface {
	// HandleFrame gets a mapped frame and must call f.Unmap exactly once, as soon as the pixels
	// are no longer needed (possibly later, from another goroutine: the decoder's buffer stays
	// out of its pool until then). A returned error stops the pipeline.
	HandleFrame(meta FrameMeta, f *gst.MappedFrame) error
}

// FrameSkipper is a FrameHandler that may want no frames for a while (the viewer branch of a
// camera nobody watches): while SkipFrame reports true, the sink drops each frame unmapped.
// Mapping a CUDA frame costs the streaming thread a context switch and a stream sync even when
// the handler then drops it.
type FrameSkipper interface {
	SkipFrame() bool
}

// ErrNoHandler means a sink was created with a handler-id nobody registered.
var ErrNoHandler = errors.New("gstvisioninfer: no frame handler registered for handler-id")

// ErrHandlerPanic is wrapped by the error that replaces a frame handler's panic.
var ErrHandlerPanic = errors.New("frame handler panicked")

// PanicError turns a value recovered from a frame handler's panic into an error wrapping
// ErrHandlerPanic (and the value itself, when it is an error).
func PanicError(r any) error {
	if err, ok := r.(error); ok {
		return fmt.Errorf("%w: %w", ErrHandlerPanic, err)
	}
	return fmt.Errorf("%w: %v", ErrHandlerPanic, r)
}

var (
	handlers   sync.Map // uint64 → FrameHandler
	nextID     atomic.Uint64
	registerMu sync.Mutex
	registered bool
)

// AddHandler registers h and returns the handler-id to set on a gstvisioninfer element.
func AddHandler(h FrameHandler) uint64 {
	id := nextID.Add(1)
	handlers.Store(id, h)
	return id
}

// RemoveHandler forgets a handler once its pipeline is gone.
func RemoveHandler(id uint64) { handlers.Delete(id) }

// Register registers gstvisioninfer with GStreamer (once; gst.Init must have run).
func Register() error {
	registerMu.Lock()
	defer registerMu.Unlock()
	if registered {
		return nil
	}
	if !gogst.RegisterElement(nil, gst.InferSinkFactory, gogst.RankNone, &inferSink{}, base.ExtendsBaseSink) {
		return fmt.Errorf("register element %s failed", gst.InferSinkFactory)
	}
	if !gogst.RegisterElement(nil, gst.AUSinkFactory, gogst.RankNone, &auSink{}, base.ExtendsBaseSink) {
		return fmt.Errorf("register element %s failed", gst.AUSinkFactory)
	}
	registered = true
	return nil
}

var properties = []*glib.ParamSpec{
	glib.NewUint64Param("handler-id", "Handler ID",
		"Which registered Go frame handler receives this sink's frames (see elements.AddHandler)",
		0, ^uint64(0), 0, glib.ParameterReadWrite),
}

// inferSink is the GObject subclass behind gstvisioninfer.
type inferSink struct {
	handlerID uint64
	handler   FrameHandler
	info      *gst.VideoInfo
}

func (s *inferSink) New() glib.GoObjectSubclass { return &inferSink{} }

func (s *inferSink) ClassInit(klass *glib.ObjectClass) {
	class := gogst.ToElementClass(klass)
	class.SetMetadata("gstvision inference sink", "Sink/Video/Analyzer",
		"Hands decoded frames (system or CUDA memory) to gstvision's detector without copying",
		"gstvision")
	class.AddPadTemplate(gogst.NewPadTemplate("sink", gogst.PadDirectionSink, gogst.PadPresenceAlways,
		gogst.NewCapsFromString("video/x-raw(memory:CUDAMemory),format=NV12; video/x-raw,format={I420,NV12}")))
	class.InstallProperties(properties)
}

func (s *inferSink) Constructed(self *glib.Object) {
	sink := base.ToGstBaseSink(self)
	sink.SetSync(false) // analytics run as fast as frames come, not at the clock's pace
	sink.SetQoSEnabled(false)
	sink.SetLastSampleEnabled(false) // a held last sample would keep a decoder buffer out of its pool
}

func (s *inferSink) SetProperty(self *glib.Object, id uint, value *glib.Value) {
	if id == 0 {
		v, err := value.GoValue()
		if err == nil {
			if u, ok := v.(uint64); ok {
				s.handlerID = u
			}
		}
	}
}

func (s *inferSink) GetProperty(self *glib.Object, id uint) *glib.Value {
	if id == 0 {
		v, err := glib.GValue(s.handlerID)
		if err == nil {
			return v
		}
	}
	return nil
}

func (s *inferSink) Start(self *base.GstBaseSink) bool {
	h, ok := handlers.Load(s.handlerID)
	if !ok {
		self.ErrorMessage(gogst.DomainResource, gogst.ResourceErrorSettings,
			fmt.Sprintf("%v %d", ErrNoHandler, s.handlerID), "")
		return false
	}
	s.handler = h.(FrameHandler)
	return true
}

func (s *inferSink) Stop(self *base.GstBaseSink) bool {
	s.info.Free()
	s.info = nil
	return true
}

func (s *inferSink) SetCaps(self *base.GstBaseSink, caps *gogst.Caps) bool {
	info, err := gst.NewVideoInfo(unsafe.Pointer(caps.Instance()))
	if err != nil {
		self.ErrorMessage(gogst.DomainStream, gogst.StreamErrorFormat, err.Error(), "")
		return false
	}
	s.info.Free()
	s.info = info
	return true
}

func (s *inferSink) Render(self *base.GstBaseSink, buffer *gogst.Buffer) gogst.FlowReturn {
	if s.info == nil || s.handler == nil {
		return gogst.FlowNotNegotiated
	}
	if sk, ok := s.handler.(FrameSkipper); ok && sk.SkipFrame() {
		return gogst.FlowOK
	}
	buf := unsafe.Pointer(buffer.Instance())
	meta := FrameMeta{Index: gst.BufferIndex(buf), PTS: gst.BufferPTS(buf)}
	mf, err := gst.MapFrame(buf, s.info)
	if err != nil {
		self.ErrorMessage(gogst.DomainStream, gogst.StreamErrorDecode, err.Error(), "")
		return gogst.FlowError
	}
	if err := s.handle(self, meta, mf); err != nil {
		// go-gst 1.4's ErrorMessage posts the debug string as the text (and GStreamer's
		// generic text when it is empty): pass the error as both, so the bus names it
		self.ErrorMessage(gogst.DomainStream, gogst.StreamErrorFailed, err.Error(), err.Error())
		return gogst.FlowError
	}
	return gogst.FlowOK
}

// handle calls the handler on this streaming thread. A Go panic here would kill the whole
// process, every camera with it: it becomes this pipeline's error instead, which its owner
// handles like any other fault. The camera's handler recovers its own panics (to report them
// as that camera's); this covers the others, such as the viewer's.
func (s *inferSink) handle(self *base.GstBaseSink, meta FrameMeta, mf *gst.MappedFrame) (err error) {
	defer func() {
		if r := recover(); r != nil {
			mf.Unmap() // does nothing when the handler released the frame before panicking
			err = PanicError(r)
			slog.Error("frame handler panicked", "element", self.GetName(), "handler_id", s.handlerID,
				"frame", meta.Index, "error", err, "stack", string(debug.Stack()))
		}
	}()
	return s.handler.HandleFrame(meta, mf)
}
