package camera

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/simulate"
)

// These tests run cameras against simulated RTSP cameras in this process, with an analyzer
// that only counts (no model).

var gstOnce sync.Once

func initGst(t *testing.T) {
	t.Helper()
	gstOnce.Do(func() { gst.Init("", "") })
	if err := elements.Register(); err != nil {
		t.Fatal(err)
	}
}

// startSim serves simulated cameras (small and slow: CI has two loaded cores) on a free port.
func startSim(t *testing.T, o simulate.Options) *simulate.Server {
	t.Helper()
	initGst(t)
	o.Listen, o.Width, o.Height, o.FPS = "127.0.0.1:0", 320, 180, 15
	sim, err := simulate.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// fastBackoff is a backoff with the test's own waits (the rest as in production).
func fastBackoff(min, max, auth time.Duration) Backoff {
	return Backoff{Min: min, Max: max, AuthWait: auth}.withDefaults()
}

// logBuffer collects a test's log lines (written from many goroutines).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLog() (*slog.Logger, *logBuffer) {
	var buf logBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// panicPlan makes the analyzer panic once, on the first frame of a camera at or after at.
type panicPlan struct {
	at         uint64
	afterUnmap bool // release the frame first (the recovery must not release it again)
	frame      *gst.MappedFrame
}

// countingAnalyzer records the frame indices each camera hands over and releases the frames.
type countingAnalyzer struct {
	mu      sync.Mutex
	indices map[string][]uint64
	panics  map[string]*panicPlan
}

func newCountingAnalyzer() *countingAnalyzer {
	return &countingAnalyzer{indices: map[string][]uint64{}, panics: map[string]*panicPlan{}}
}

func (a *countingAnalyzer) Analyze(cam string, meta elements.FrameMeta, f *gst.MappedFrame) error {
	a.mu.Lock()
	a.indices[cam] = append(a.indices[cam], meta.Index)
	p := a.panics[cam]
	fire := p != nil && p.frame == nil && meta.Index >= p.at
	if fire {
		p.frame = f
	}
	a.mu.Unlock()
	if fire {
		if p.afterUnmap {
			f.Unmap()
		}
		panic(fmt.Sprintf("analyzer bug on frame %d", meta.Index))
	}
	f.Unmap()
	return nil
}

func (a *countingAnalyzer) seen(cam string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]uint64(nil), a.indices[cam]...)
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startCamera(t *testing.T, id, url string, b Backoff, an Analyzer, log *slog.Logger) *Camera {
	t.Helper()
	c := New(Config{ID: id, URL: url, RedactedURL: redactedFor(url), Transport: "tcp", Latency: 100 * time.Millisecond, QueueFrames: 4, Backoff: b}, an, nil, log)
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// redactedFor hides the user info of an rtsp URL as config.RedactURL does.
func redactedFor(url string) string {
	rest, ok := strings.CutPrefix(url, "rtsp://")
	if at := strings.Index(rest, "@"); ok && at >= 0 {
		return "rtsp://***@" + rest[at+1:]
	}
	return url
}

// TestHandlerPanicRestartsOnlyThatCamera: an analyzer that panics on a camera's frame (before
// or after releasing it) costs that camera one restart, with the panic as its last error,
// while the process and the other camera go on. The frame is released exactly once, the panic
// is logged once with its stack, and frame numbers keep increasing across the restart.
func TestHandlerPanicRestartsOnlyThatCamera(t *testing.T) {
	b := fastBackoff(2*time.Second, 2*time.Second, time.Hour) // long enough to see reconnecting
	sim := startSim(t, simulate.Options{Cameras: 3})
	an := newCountingAnalyzer()
	an.panics["before"] = &panicPlan{at: 20}
	an.panics["after"] = &panicPlan{at: 20, afterUnmap: true}
	log, logs := testLog()
	before := startCamera(t, "before", sim.URL(1), b, an, log)
	after := startCamera(t, "after", sim.URL(2), b, an, log)
	good := startCamera(t, "good", sim.URL(3), b, an, log)

	down := map[string]defs.Status{} // each camera as seen while reconnecting (polled together)
	waitFor(t, 60*time.Second, "both reconnecting after their panic", func() bool {
		for _, c := range []*Camera{before, after} {
			if st := c.Status(); st.State == defs.StateReconnecting && st.Reconnects == 1 {
				if _, seen := down[c.ID()]; !seen {
					down[c.ID()] = st
				}
			}
		}
		return len(down) == 2
	})
	for id, st := range down {
		if !strings.Contains(st.LastError, "frame handler panicked") || !strings.Contains(st.LastError, "analyzer bug on frame") ||
			st.LastErrorAt.IsZero() {
			t.Errorf("%s: last error %q at %v; want the panic, with its time", id, st.LastError, st.LastErrorAt)
		}
	}
	goodFrames := good.Status().Frames
	for _, c := range []*Camera{before, after} {
		n := len(an.seen(c.ID()))
		waitFor(t, 60*time.Second, c.ID()+" running again", func() bool {
			return c.Status().State == defs.StateRunning && len(an.seen(c.ID())) > n+10
		})
		st := c.Status()
		if st.Reconnects != 1 || st.LastError == "" {
			t.Errorf("%s: %d reconnects, last error %q; want 1, the panic kept", c.ID(), st.Reconnects, st.LastError)
		}
		if was := down[c.ID()].Frames; st.Frames <= was {
			t.Errorf("%s: %d frames after the restart, %d before: the counter went back", c.ID(), st.Frames, was)
		}
		checkIncreasing(t, c.ID(), an.seen(c.ID()))
	}
	waitFor(t, 30*time.Second, "the good camera counting on", func() bool { return good.Status().Frames > goodFrames+10 })
	if st := good.Status(); st.Reconnects != 0 || st.State != defs.StateRunning {
		t.Errorf("good camera: %s with %d reconnects, want running with none", st.State, st.Reconnects)
	}

	an.mu.Lock()
	for id, p := range an.panics {
		if p.frame == nil || p.frame.Frame.Width != 0 {
			t.Errorf("%s: the panicked frame was not released", id)
		}
	}
	an.mu.Unlock()
	text := logs.String()
	if n := strings.Count(text, "frame handler panicked, restarting the camera"); n != 2 {
		t.Errorf("%d panic log lines, want one per panic (2):\n%s", n, text)
	}
	if !strings.Contains(text, "countingAnalyzer).Analyze") {
		t.Errorf("the panic's log lacks the stack:\n%s", text)
	}
}

// checkIncreasing: a camera's frame numbers go on across its pipelines, never back.
func checkIncreasing(t *testing.T, id string, idx []uint64) {
	t.Helper()
	for i := 1; i < len(idx); i++ {
		if idx[i] <= idx[i-1] {
			t.Errorf("%s: frame %d handed over after frame %d: numbers restarted or repeated", id, idx[i], idx[i-1])
			return
		}
	}
}

// TestWrongPasswordGoesUnauthorized: a camera refusing the credentials goes to
// StateUnauthorized after AuthFailures tries, with an error naming the redacted URL, and is
// then retried only every AuthWait; the password shows nowhere. Re-added with the right
// password (as an edit through the API does), it starts over and runs.
func TestWrongPasswordGoesUnauthorized(t *testing.T) {
	b := fastBackoff(100*time.Millisecond, 200*time.Millisecond, time.Hour)
	const wrong, right = "wrong-Pa55word", "right-Pa55word"
	sim := startSim(t, simulate.Options{Cameras: 1, User: "admin", Password: right})
	withPassword := func(pw string) string { return strings.Replace(sim.URL(1), "rtsp://", "rtsp://admin:"+pw+"@", 1) }
	log, logs := testLog()
	m := NewManager(newCountingAnalyzer(), nil, log)
	t.Cleanup(m.StopAll)
	cfg := Config{ID: "door", URL: withPassword(wrong), RedactedURL: redactedFor(withPassword(wrong)), Transport: "tcp", QueueFrames: 4, Backoff: b}
	if err := m.Add(cfg); err != nil {
		t.Fatal(err)
	}
	status := func() defs.Status { st, _ := m.Get("door"); return st }
	waitFor(t, 60*time.Second, "state unauthorized", func() bool { return status().State == defs.StateUnauthorized })
	st := status()
	t.Logf("%s: %s", st.State, st.LastError)
	if st.Reconnects != uint64(b.AuthFailures) {
		t.Errorf("%d tries before unauthorized, want %d", st.Reconnects, b.AuthFailures)
	}
	for _, want := range []string{"refused the credentials", cfg.RedactedURL, "retrying every 1h0m0s"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("last error %q lacks %q", st.LastError, want)
		}
	}
	// The long backoff: with the ordinary one (100-200 ms) it would have tried again by now.
	time.Sleep(time.Second)
	if st := status(); st.State != defs.StateUnauthorized || st.Reconnects != uint64(b.AuthFailures) {
		t.Errorf("after a second: %s with %d tries; want still unauthorized, not retried", st.State, st.Reconnects)
	}
	if !strings.Contains(logs.String(), "retry_in=1h0m0s") {
		t.Errorf("the log does not show the long retry:\n%s", logs)
	}

	// Edited: the camera is replaced and starts over with the ordinary backoff.
	if err := m.Remove("door"); err != nil {
		t.Fatal(err)
	}
	cfg.URL, cfg.RedactedURL = withPassword(right), redactedFor(withPassword(right))
	if err := m.Add(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "running with the right password", func() bool {
		st := status()
		return st.State == defs.StateRunning && st.Frames > 0
	})
	text := logs.String()
	for _, pw := range []string{wrong, right} {
		if strings.Contains(text, pw) || strings.Contains(st.LastError, pw) {
			t.Errorf("the password %q appears in the log or the last error:\n%s", pw, text)
		}
	}
}
