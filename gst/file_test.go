package gst_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"

	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
)

// writeClip encodes frames of a test picture into an H.264 byte-stream file.
func writeClip(t *testing.T, frames int) string {
	t.Helper()
	for _, e := range []string{"videotestsrc", "x264enc", "filesink", "multifilesrc", "h264parse", "avdec_h264"} {
		if !gst.HasElement(e) {
			t.Skipf("GStreamer element %s missing", e)
		}
	}
	path := filepath.Join(t.TempDir(), "clip.h264")
	pl, err := gogst.NewPipelineFromString(fmt.Sprintf("videotestsrc num-buffers=%d ! video/x-raw,width=160,height=120,framerate=30/1 ! "+
		"x264enc key-int-max=10 ! video/x-h264,stream-format=byte-stream ! filesink location=%s", frames, path))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pl.SetState(gogst.StateNull) }()
	if err := pl.SetState(gogst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	msg := pl.GetPipelineBus().TimedPopFiltered(gogst.ClockTime(30*time.Second), gogst.MessageEOS|gogst.MessageError)
	if msg == nil || msg.Type() != gogst.MessageEOS {
		t.Fatalf("encoding the clip: %v", msg)
	}
	return path
}

// filePipeline starts a file pipeline for o whose frames go to a new frame log.
func filePipeline(t *testing.T, o gst.FileOptions) (*gst.CameraPipeline, *frameLog) {
	t.Helper()
	log := newFrameLog()
	id := elements.AddHandler(log)
	t.Cleanup(func() { elements.RemoveHandler(id) })
	o.Camera, o.HandlerID, o.QueueFrames, o.Logger = "clip", id, 4, slog.New(slog.DiscardHandler)
	p, err := gst.NewFilePipeline(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return p, log
}

// TestFilePipeline: a file pipeline plays its clip in a loop (more frames than the clip
// holds); paced, its frames wait for PaceDelay; a missing file is a pipeline error.
func TestFilePipeline(t *testing.T) {
	gst.Init("", "")
	if err := elements.Register(); err != nil {
		t.Fatal(err)
	}
	clip := writeClip(t, 20)

	t.Run("loops", func(t *testing.T) {
		p, log := filePipeline(t, gst.FileOptions{Path: clip})
		if err := log.waitFrames(p, 45, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if info := p.Info(); info.Codec != "H264" {
			t.Errorf("stream %+v, want H264", info)
		}
	})
	t.Run("paced with a delay", func(t *testing.T) {
		p, _ := filePipeline(t, gst.FileOptions{Path: clip, Pace: true, PaceDelay: time.Hour})
		time.Sleep(time.Second)
		if n := p.Decoded(); n != 0 {
			t.Errorf("%d frames decoded a second into an hour's delay, want none", n)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := gst.NewFilePipeline(gst.FileOptions{CameraOptions: gst.CameraOptions{QueueFrames: 4},
			Path: filepath.Join(t.TempDir(), "none.h264")})
		if !errors.Is(err, gst.ErrPipeline) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want a pipeline error wrapping fs.ErrNotExist", err)
		}
	})
}
