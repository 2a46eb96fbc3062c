package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/config"
)

// A camera that never decodes (its clip is not H.264) stops the run at the start timeout, with
// an error that names it, instead of measuring the others as if all were running.
func TestRunNamesCameraThatNeverDecodes(t *testing.T) {
	clip := filepath.Join(t.TempDir(), "noise.h264")
	if err := os.WriteFile(clip, []byte(strings.Repeat("not a video ", 4096)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{
		Clip: clip, Cameras: 1, Device: "cpu", Decoupled: true, MaxBatch: 1,
		Model: filepath.Join(repoRoot(), "models", "blocks.onnx"), StartTimeout: 3 * time.Second,
		Warmup: time.Second, Duration: time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "camera cam1 decoded no frame within 3s") {
		t.Fatalf("got %v, want the error to name cam1 and the start timeout", err)
	}
}

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
	if rep.StartSeconds <= 0 || rep.StartSeconds > 30 {
		t.Errorf("all cameras decoding after %.1f s", rep.StartSeconds)
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

// With Auto, the run takes the choices serve makes for this many cameras when the config
// leaves them out: the cameras count, so two give the unified mode and a batch of 2.
func TestRunAuto(t *testing.T) {
	rep, err := Run(context.Background(), Options{
		Simulate: true, Cameras: 2, SimWidth: 320, SimHeight: 180, Device: "cpu", Auto: true,
		Model: filepath.Join(repoRoot(), "models", "blocks.onnx"), Warmup: time.Second, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != config.ModeUnified || rep.MaxBatch != 2 || rep.CUDAGraph {
		t.Errorf("auto with 2 cameras on cpu: mode %s, max_batch %d, cuda_graph %v; want unified, 2, false",
			rep.Mode, rep.MaxBatch, rep.CUDAGraph)
	}
	if rep.Frames == 0 {
		t.Error("no frame measured")
	}
}

// TestReportGPUShares: each camera's frames/s counts towards its GPU, in GPU order.
func TestReportGPUShares(t *testing.T) {
	var r Report
	r.addGPU(1, 30)
	r.addGPU(0, 29)
	r.addGPU(1, 28)
	want := []GPUShare{{GPU: 0, Cameras: 1, FPS: 29, MinCameraFPS: 29}, {GPU: 1, Cameras: 2, FPS: 58, MinCameraFPS: 28}}
	if !slices.Equal(r.GPUs, want) {
		t.Errorf("shares %+v, want %+v", r.GPUs, want)
	}
}
