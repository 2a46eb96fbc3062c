package gst_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/simulate"
)

// frameLog is a frame handler that counts the frames reaching the inference sink and checks
// their timestamps: valid, never negative (a wrapped unsigned time reads as negative), and
// increasing, as the camera's own frame timing is.
type frameLog struct {
	mu      sync.Mutex
	n       int
	last    time.Duration
	problem string        // the first bad timestamp seen since reset
	change  chan struct{} // signalled (without blocking) on every frame
}

func newFrameLog() *frameLog { return &frameLog{change: make(chan struct{}, 1)} }

func (l *frameLog) HandleFrame(meta elements.FrameMeta, f *gst.MappedFrame) error {
	f.Unmap()
	l.mu.Lock()
	switch {
	case l.problem != "":
	case meta.PTS < 0:
		l.problem = fmt.Sprintf("frame %d has PTS %v", l.n, meta.PTS)
	case l.n > 0 && meta.PTS <= l.last:
		l.problem = fmt.Sprintf("frame %d has PTS %v, not after the previous frame's %v", l.n, meta.PTS, l.last)
	}
	l.n++
	l.last = meta.PTS
	l.mu.Unlock()
	select {
	case l.change <- struct{}{}:
	default:
	}
	return nil
}

// reset forgets the frames so far: a new connection starts.
func (l *frameLog) reset() {
	l.mu.Lock()
	l.n, l.last, l.problem = 0, 0, ""
	l.mu.Unlock()
}

func (l *frameLog) state() (n int, last time.Duration, problem string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.last, l.problem
}

// waitFrames waits until want frames have arrived since reset, a timestamp is bad, the
// pipeline fails, or timeout.
func (l *frameLog) waitFrames(p *gst.CameraPipeline, want int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		n, _, problem := l.state()
		switch {
		case problem != "":
			return errors.New(problem)
		case n >= want:
			return nil
		}
		select {
		case <-l.change:
		case err := <-p.Done():
			return fmt.Errorf("pipeline ended after %d frames: %w", n, err)
		case <-deadline.C:
			return fmt.Errorf("%d frames within %v (the decoder produced %d), want %d", n, timeout, p.Decoded(), want)
		}
	}
}

// waitDone waits for the pipeline to report that its stream ended.
func waitDone(p *gst.CameraPipeline, timeout time.Duration) error {
	select {
	case <-p.Done():
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the pipeline did not notice the camera stopping within %v", timeout)
	}
}

// startJoiningCamera serves one camera with B-frames whose clients join its stream mid-GOP,
// as after any reconnect to a running camera: the first picture a client gets is a
// P-picture, and the two B-pictures sent after it are shown before it. At 25 fps a B-picture
// one frame before it wraps to exactly 2^64 - 40 ms, which with its 40 ms duration overflows.
// A keyframe every 15 pictures keeps each connection short.
func startJoiningCamera(t *testing.T, codec string) *simulate.Server {
	t.Helper()
	sim, err := simulate.Start(context.Background(), simulate.Options{
		Codec: codec, Listen: "127.0.0.1:0", FPS: 25, KeyIntMax: 15, SkipFrames: 1,
	})
	if errors.Is(err, simulate.ErrElementMissing) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// connectOnce runs one connection of a camera pipeline to url: it waits for want frames with
// good timestamps, then stops the simulated camera and waits for the pipeline to notice, as
// the camera supervisor does before it reconnects.
func connectOnce(sim *simulate.Server, log *frameLog, handlerID uint64, want int) error {
	log.reset()
	p, err := gst.NewCameraPipeline(gst.CameraOptions{
		Camera: "bframes", URL: sim.URL(1), Transport: "tcp", Latency: 200 * time.Millisecond,
		QueueFrames: 4, HandlerID: handlerID, OnWarning: closedWarning, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	defer p.Stop()
	if err := p.Start(); err != nil {
		return err
	}
	// generous: a loaded machine encodes and decodes slowly
	if err := log.waitFrames(p, want, 30*time.Second); err != nil {
		return err
	}
	if err := sim.StopCamera(1); err != nil {
		return fmt.Errorf("stop camera: %w", err)
	}
	return waitDone(p, 20*time.Second)
}

// closedWarning ends the pipeline on rtspsrc's warning that the camera closed the
// connection, as the camera supervisor's rule does.
func closedWarning(source, text string) error {
	if source == "src" && strings.Contains(text, "Could not read from resource") {
		return fmt.Errorf("%w: %s: %s", gst.ErrPipeline, source, text)
	}
	return nil
}

// TestReconnectBFrames reconnects to a camera with B-frames again and again, each time
// joining its stream mid-GOP, and checks that decoded frames with increasing timestamps come
// back every time. H.265 cameras used to decode one frame, then none: with rtspsrc's
// buffer-mode=none the B-pictures after the first packet got a PTS wrapped below zero, which
// the decoder then gave every later frame (ptsguard.go). H.264's depayloader waits for a
// keyframe, so it dropped those pictures; it must keep working.
func TestReconnectBFrames(t *testing.T) {
	gst.Init("", "")
	if err := elements.Register(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		codec    string
		elements []string
		rounds   int
	}{
		{simulate.CodecH265, []string{"rtph265depay", "h265parse", "avdec_h265"}, 8},
		{simulate.CodecH264, []string{"rtph264depay", "h264parse", "avdec_h264"}, 3},
	} {
		t.Run(c.codec, func(t *testing.T) {
			for _, e := range append([]string{"rtspsrc"}, c.elements...) {
				if !gst.HasElement(e) {
					t.Skipf("GStreamer element %s missing", e)
				}
			}
			sim := startJoiningCamera(t, c.codec)
			log := newFrameLog()
			id := elements.AddHandler(log)
			defer elements.RemoveHandler(id)
			for round := 1; round <= c.rounds; round++ {
				if err := connectOnce(sim, log, id, 20); err != nil {
					t.Fatalf("connection %d of %d: %v", round, c.rounds, err)
				}
				n, last, _ := log.state()
				t.Logf("connection %d: %d frames, the last with PTS %v", round, n, last)
				if err := sim.StartCamera(1); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
