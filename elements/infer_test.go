package elements

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"

	"github.com/gstvision/gstvision/gst"
)

// panicky is a frame handler with a bug: it panics on every frame.
type panicky struct{ calls atomic.Int32 }

func (p *panicky) HandleFrame(meta FrameMeta, f *gst.MappedFrame) error {
	p.calls.Add(1)
	panic(errors.New("handler bug"))
}

// TestSinkRecoversHandlerPanic: a handler's panic on the streaming thread becomes the
// pipeline's error, naming the panic, instead of killing the process.
func TestSinkRecoversHandlerPanic(t *testing.T) {
	gst.Init("", "")
	if err := Register(); err != nil {
		t.Fatal(err)
	}
	h := &panicky{}
	id := AddHandler(h)
	defer RemoveHandler(id)
	pl, err := gogst.NewPipelineFromString(fmt.Sprintf(
		"videotestsrc num-buffers=5 ! video/x-raw,format=I420,width=64,height=48 ! %s handler-id=%d", gst.InferSinkFactory, id))
	if err != nil {
		t.Fatal(err)
	}
	defer pl.SetState(gogst.StateNull)
	if err := pl.SetState(gogst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	msg := pl.GetPipelineBus().TimedPopFiltered(gogst.ClockTime(30*time.Second), gogst.MessageError|gogst.MessageEOS)
	if msg == nil || msg.Type() != gogst.MessageError {
		t.Fatalf("got %v, want an error message", msg)
	}
	if text := msg.ParseError().Error(); !strings.Contains(text, ErrHandlerPanic.Error()) || !strings.Contains(text, "handler bug") {
		t.Errorf("error %q does not name the panic", text)
	}
	if n := h.calls.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want once: the pipeline stops at the first panic", n)
	}
}

func TestPanicError(t *testing.T) {
	bug := errors.New("bug")
	if err := PanicError(bug); !errors.Is(err, ErrHandlerPanic) || !errors.Is(err, bug) {
		t.Errorf("%v: want ErrHandlerPanic wrapping the panic's error", err)
	}
	if err := PanicError("index out of range"); !errors.Is(err, ErrHandlerPanic) || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("%v: want ErrHandlerPanic naming the value", err)
	}
}
