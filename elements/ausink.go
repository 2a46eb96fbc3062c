package elements

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/go-gst/go-glib/glib"
	gogst "github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/base"

	"github.com/gstvision/gstvision/gst"
)

// AccessUnitHandler receives the encoded access units of one pipeline's passthrough branch
// (gstvisionau), in that pipeline's streaming thread. It must not block.
type AccessUnitHandler interface {
	// SetCodec is told the stream's codec (gst.CodecH264 or gst.CodecH265) when the branch
	// negotiates, before its first access unit.
	SetCodec(codec string)
	// HandleAccessUnit gets one Annex-B access unit, the handler's own copy, with its PTS
	// (-1 when unknown).
	HandleAccessUnit(au []byte, pts time.Duration)
}

// AddAccessUnitHandler registers h and returns the handler-id to set on a gstvisionau element.
func AddAccessUnitHandler(h AccessUnitHandler) uint64 {
	id := nextID.Add(1)
	handlers.Store(id, h)
	return id
}

// auSink is the GObject subclass behind gstvisionau: a sink that copies each buffer's bytes
// into Go memory and returns the buffer at once (nothing waits for a Go finalizer).
type auSink struct {
	handlerID uint64
	handler   AccessUnitHandler
}

func (s *auSink) New() glib.GoObjectSubclass { return &auSink{} }

func (s *auSink) ClassInit(klass *glib.ObjectClass) {
	class := gogst.ToElementClass(klass)
	class.SetMetadata("gstvision access-unit sink", "Sink/Video",
		"Hands encoded H.264/H.265 access units to gstvision's passthrough view", "gstvision")
	class.AddPadTemplate(gogst.NewPadTemplate("sink", gogst.PadDirectionSink, gogst.PadPresenceAlways,
		gogst.NewCapsFromString("video/x-h264,stream-format=byte-stream,alignment=au; "+
			"video/x-h265,stream-format=byte-stream,alignment=au")))
	// A ParamSpec belongs to one class: this one needs its own.
	class.InstallProperties([]*glib.ParamSpec{
		glib.NewUint64Param("handler-id", "Handler ID",
			"Which registered Go access-unit handler receives this sink's access units (see elements.AddAccessUnitHandler)",
			0, ^uint64(0), 0, glib.ParameterReadWrite),
	})
}

func (s *auSink) Constructed(self *glib.Object) {
	sink := base.ToGstBaseSink(self)
	sink.SetSync(false) // live: as they come
	sink.SetQoSEnabled(false)
	sink.SetLastSampleEnabled(false)
}

func (s *auSink) SetProperty(self *glib.Object, id uint, value *glib.Value) {
	if id != 0 {
		return
	}
	if v, err := value.GoValue(); err == nil {
		if u, ok := v.(uint64); ok {
			s.handlerID = u
		}
	}
}

func (s *auSink) GetProperty(self *glib.Object, id uint) *glib.Value {
	if id != 0 {
		return nil
	}
	v, err := glib.GValue(s.handlerID)
	if err != nil {
		return nil
	}
	return v
}

func (s *auSink) Start(self *base.GstBaseSink) bool {
	h, ok := handlers.Load(s.handlerID)
	au, isAU := h.(AccessUnitHandler)
	if !ok || !isAU {
		self.ErrorMessage(gogst.DomainResource, gogst.ResourceErrorSettings,
			fmt.Sprintf("%v %d", ErrNoHandler, s.handlerID), "")
		return false
	}
	s.handler = au
	return true
}

func (s *auSink) SetCaps(self *base.GstBaseSink, caps *gogst.Caps) bool {
	if s.handler == nil || caps.GetSize() == 0 {
		return false
	}
	codec := gst.CodecH264
	if caps.GetStructureAt(0).Name() == "video/x-h265" {
		codec = gst.CodecH265
	}
	s.safely(self, func() { s.handler.SetCodec(codec) })
	return true
}

func (s *auSink) Render(self *base.GstBaseSink, buffer *gogst.Buffer) gogst.FlowReturn {
	if s.handler == nil {
		return gogst.FlowNotNegotiated
	}
	pts := gst.BufferPTS(unsafe.Pointer(buffer.Instance()))
	au := buffer.Bytes() // a copy: the buffer goes back upstream when Render returns
	s.safely(self, func() { s.handler.HandleAccessUnit(au, pts) })
	return gogst.FlowOK
}

// safely runs f, logging a panic instead of letting it kill the process: the passthrough view
// is a viewer's concern and never stops the camera.
func (s *auSink) safely(self *base.GstBaseSink, f func()) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("access-unit handler panicked", "element", self.GetName(), "handler_id", s.handlerID,
				"error", PanicError(r), "stack", string(debug.Stack()))
		}
	}()
	f()
}
