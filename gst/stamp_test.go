package gst

import (
	"runtime"
	"testing"
	"unsafe"

	gogst "github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// The decoder still holds a reference to a frame when it pushes it (nvh264dec does at every
// keyframe). Stamping must then neither copy the buffer nor make it writable: a copy shares
// the frame's CUDA memory, which makes the decoder's pool discard and re-allocate it, and both
// synchronise the whole GPU.
func TestStampNeverCopiesASharedBuffer(t *testing.T) {
	Init("", "")
	pl, err := gogst.NewPipelineFromString("appsrc name=src ! appsink name=sink sync=false")
	if err != nil {
		t.Fatal(err)
	}
	srcEl, _ := pl.GetElementByName("src")
	sinkEl, _ := pl.GetElementByName("sink")
	src, sink := app.SrcFromElement(srcEl), app.SinkFromElement(sinkEl)
	stamps := newFrameStamper()
	defer stamps.free()
	stamps.attach(srcEl.GetStaticPad("src"))
	if err := pl.SetState(gogst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	defer pl.SetState(gogst.StateNull)

	for i := range uint64(4) {
		pushed := gogst.NewBufferWithSize(16)
		held := pushed.Ref() // a reference kept upstream, as the decoder keeps one
		if ret := src.PushBuffer(pushed); ret != gogst.FlowOK {
			t.Fatalf("push %d: %v", i, ret)
		}
		sample := sink.PullSample()
		if sample == nil {
			t.Fatalf("frame %d never reached the sink", i)
		}
		got := sample.GetBuffer()
		// (appsrc itself copies the first buffer, to flag it DISCONT)
		if i > 0 && got.Instance() != pushed.Instance() {
			t.Errorf("frame %d reached the sink as a copy (%p, pushed %p)", i, got.Instance(), pushed.Instance())
		}
		if idx := BufferIndex(unsafe.Pointer(got.Instance())); idx != i {
			t.Errorf("frame %d carries index %d", i, idx)
		}
		// an element downstream that needs the buffer writable copies it (sharing the memory):
		// the copy keeps the index
		if idx := BufferIndex(unsafe.Pointer(got.Copy().Instance())); idx != i {
			t.Errorf("a copy of frame %d carries index %d", i, idx)
		}
		runtime.KeepAlive(held)
	}
	if n := stamps.count(); n != 4 {
		t.Errorf("stamped %d frames, want 4", n)
	}
	if idx := BufferIndex(unsafe.Pointer(gogst.NewBufferWithSize(1).Instance())); idx != NoIndex {
		t.Errorf("an unstamped buffer has index %d, want NoIndex", idx)
	}
}
