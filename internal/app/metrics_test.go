package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestGPULog: the GPU memory line comes every N decoded frames, as a warning above the
// threshold, never outside cuda mode, and counting restarts when a camera's frames go away.
func TestGPULog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	used := uint64(900 << 20)
	mem := func() (uint64, uint64, bool) { return 8<<30 - used, 8 << 30, true }
	g := newGPULog(log, 100, 1000, mem)
	steps := []struct {
		frames uint64
		logged bool
	}{{0, false}, {50, false}, {100, true}, {150, false}, {199, false}, {260, true}, {300, false}, {120, false}, {219, false}, {220, true}}
	for _, s := range steps {
		if got := g.step(s.frames); got != s.logged {
			t.Fatalf("at %d frames: logged %v, want %v", s.frames, got, s.logged)
		}
	}
	if n := strings.Count(buf.String(), `msg="gpu memory" used_mb=900 total_mb=8192`); n != 3 || strings.Contains(buf.String(), "WARN") {
		t.Fatalf("log:\n%s", buf.String())
	}
	buf.Reset()
	used = 1200 << 20
	g.step(320)
	if !strings.Contains(buf.String(), `level=WARN msg="gpu memory high" used_mb=1200 total_mb=8192 warn_mb=1000`) {
		t.Fatalf("no warning above the threshold:\n%s", buf.String())
	}

	// warn_mb 0: never a warning; no GPU: nothing at all.
	buf.Reset()
	newGPULog(log, 10, 0, mem).step(10)
	if !strings.Contains(buf.String(), "level=INFO") {
		t.Fatalf("warn_mb 0:\n%s", buf.String())
	}
	buf.Reset()
	if newGPULog(log, 10, 0, func() (uint64, uint64, bool) { return 0, 0, false }).step(10) || buf.Len() != 0 {
		t.Fatalf("logged without a GPU:\n%s", buf.String())
	}
}
