package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// The timeline accounts for the same frames as the totals: one row per interval, each with
// frames and batches, summing to about the run's frame count.
func TestRunTimeline(t *testing.T) {
	rep, err := Run(context.Background(), Options{
		Simulate: true, Cameras: 1, Device: "cpu", Decoupled: true, MaxBatch: 1,
		Model: filepath.Join(repoRoot(), "models", "blocks.onnx"), Warmup: 2 * time.Second,
		Duration: 2 * time.Second, Timeline: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Timeline) < 3 || len(rep.Timeline) > 5 {
		t.Fatalf("%d timeline rows for 2 s at 500 ms", len(rep.Timeline))
	}
	var frames float64
	prev := time.Duration(0)
	for _, r := range rep.Timeline {
		if r.FPS <= 0 || r.Batches == 0 || r.DeviceHalfMS <= 0 {
			t.Errorf("row %+v: no frames, batches or device time", r)
		}
		frames += r.FPS * (r.At - prev).Seconds()
		prev = r.At
	}
	if got, want := frames, float64(rep.Frames); got < 0.8*want || got > 1.2*want {
		t.Errorf("timeline rows add up to %.0f frames, the run counted %.0f", got, want)
	}
}
