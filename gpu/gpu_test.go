//go:build gpu

package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/bench"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/simulate"
)

// modelPath finds the shipped detector: beside the test binary's working dir or the repo.
func modelPath(t testing.TB, name string) string {
	for _, dir := range []string{".", "..", "../.."} {
		p := filepath.Join(dir, "models", name)
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "models", name)
}

func logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func cudaConfig(t testing.TB, decoupled bool, model, labels string) *config.Config {
	cfg := config.Default()
	cfg.Device = config.DeviceCUDA
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Inference.Model = model
	cfg.Inference.Labels = labels
	cfg.Inference.Confidence = 0.5
	batch, graph := 8, false // the graph has its own test (inference-gpu); here the plain path
	cfg.Processing.EnableDecoupledPipeline = &decoupled
	cfg.Processing.MaxBatch = &batch
	cfg.Processing.CUDAGraph = &graph
	cfg.Processing.StatsEveryFrames = 1 << 30
	return cfg
}

func run(t testing.TB, cfg *config.Config) (*app.App, func()) {
	a, err := app.New(cfg, logger())
	if err != nil {
		t.Fatalf("app.New (cuda): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return a, func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("shutdown took over 20 s")
		}
	}
}

// TestCUDAPathEndToEnd: simulated cameras → NVDEC into CUDA memory → our kernel → ORT CUDA with
// device binding → detections matching the ground truth, in both modes, with no frame ever
// mapped in host memory.
func TestCUDAPathEndToEnd(t *testing.T) {
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: 2, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for _, decoupled := range []bool{false, true} {
		t.Run(fmt.Sprintf("decoupled=%v", decoupled), func(t *testing.T) {
			cfg := cudaConfig(t, decoupled, modelPath(t, "blocks.onnx"), modelPath(t, "blocks.labels"))
			a, stop := run(t, cfg)
			defer stop()
			cudaBefore, hostBefore := gst.MappedCounts()
			sub := a.Hub().Subscribe("", 4096)
			for i := 1; i <= 2; i++ {
				cc := app.CameraConfig(cfg, config.Camera{ID: fmt.Sprintf("cam%d", i), URL: sim.URL(i), Transport: "tcp"})
				if err := a.Cameras().Add(cc); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string][]results.Result{}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for len(got["cam1"]) < 90 || len(got["cam2"]) < 90 {
				r, err := sub.Recv(ctx)
				if err != nil {
					t.Fatalf("results: %v (got %d and %d; cameras %+v)", err, len(got["cam1"]), len(got["cam2"]), a.Cameras().List())
				}
				got[r.Camera] = append(got[r.Camera], r)
			}
			for i, cam := range []string{"cam1", "cam2"} {
				frac, off := groundtruth.Score(got[cam], sim.Scene(i+1), 150, groundtruth.ByPTS(got[cam], sim.Scene(i+1).FPS))
				t.Logf("%s: %d results, %.1f%% match the ground truth (offset %d)", cam, len(got[cam]), 100*frac, off)
				if frac < 0.9 {
					t.Errorf("%s: %.1f%% match, want >= 90%%", cam, 100*frac)
				}
			}
			cudaAfter, hostAfter := gst.MappedCounts()
			if hostAfter != hostBefore {
				t.Errorf("%d frames were mapped in host memory in cuda mode; want 0", hostAfter-hostBefore)
			}
			if cudaAfter-cudaBefore < 180 {
				t.Errorf("only %d frames mapped in CUDA memory", cudaAfter-cudaBefore)
			}
			for _, st := range a.Cameras().List() {
				if st.State != defs.StateRunning {
					t.Errorf("%s: %s (%s)", st.ID, st.State, st.LastError)
				}
				t.Logf("%s: decoder fps %.1f frames %d", st.ID, st.FPS, st.Frames)
			}
		})
	}
}

// TestGPUMatchesCPU: the same frames through the CUDA backend (our kernel + ORT CUDA with
// device binding) and the CPU backend (Go letterbox + ORT CPU) give the same detections.
func TestGPUMatchesCPU(t *testing.T) {
	if _, err := inference.InitRuntime(""); err != nil {
		t.Fatal(err)
	}
	info, err := inference.Inspect(modelPath(t, "blocks.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := cuda.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	gb, err := inference.NewCUDABackend(info, 4, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gb.Close()
	cb, err := inference.NewCPUBackend(info, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	gd := inference.NewDetector(gb, info, simulate.Classes, 0.5, 0.45)
	cd := inference.NewDetector(cb, info, simulate.Classes, 0.5, 0.45)
	stream, err := ctx.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Destroy()
	for _, size := range [][2]int{{640, 360}, {1280, 720}, {1920, 1080}} {
		w, h := size[0], size[1]
		sc := simulate.NewScene(w, h, 30, 1)
		var hostFrames, devFrames []*defs.Frame
		var free []cuda.DevicePtr
		for n := 0; n < 4; n++ {
			i420 := make([]byte, w*h*3/2)
			sc.RenderI420(n*17, i420)
			// NV12 with a padded pitch, as NVDEC gives
			pitch := (w + 255) &^ 255
			nv12 := make([]byte, pitch*h*3/2)
			for y := 0; y < h; y++ {
				copy(nv12[y*pitch:], i420[y*w:(y+1)*w])
			}
			u, v := i420[w*h:w*h+w*h/4], i420[w*h+w*h/4:]
			for y := 0; y < h/2; y++ {
				row := nv12[pitch*h+y*pitch:]
				for x := 0; x < w/2; x++ {
					row[2*x], row[2*x+1] = u[y*w/2+x], v[y*w/2+x]
				}
			}
			hostFrames = append(hostFrames, &defs.Frame{Format: defs.NV12, Width: w, Height: h,
				Strides: [3]int{pitch, pitch}, Host: [3][]byte{nv12[:pitch*h], nv12[pitch*h:]}})
			dp, err := ctx.Alloc(len(nv12))
			if err != nil {
				t.Fatal(err)
			}
			free = append(free, dp)
			if err := stream.CopyHtoD(dp, nv12); err != nil {
				t.Fatal(err)
			}
			if err := stream.Synchronize(); err != nil {
				t.Fatal(err)
			}
			devFrames = append(devFrames, &defs.Frame{Format: defs.NV12, Width: w, Height: h,
				Strides: [3]int{pitch, pitch}, Device: [3]uintptr{uintptr(dp), uintptr(dp) + uintptr(pitch*h)}})
		}
		gr, err := gd.DetectBatch(devFrames)
		if err != nil {
			t.Fatalf("%dx%d gpu: %v", w, h, err)
		}
		cr, err := cd.DetectBatch(hostFrames)
		if err != nil {
			t.Fatalf("%dx%d cpu: %v", w, h, err)
		}
		for i := range gr {
			if len(gr[i]) != len(cr[i]) {
				t.Fatalf("%dx%d frame %d: gpu %d detections, cpu %d: %+v vs %+v", w, h, i, len(gr[i]), len(cr[i]), gr[i], cr[i])
			}
			for j := range gr[i] {
				g, c := gr[i][j], cr[i][j]
				if g.ClassID != c.ClassID || inference.IoU(g.Box, c.Box) < 0.98 || abs(g.Score-c.Score) > 0.02 {
					t.Errorf("%dx%d frame %d det %d: gpu %+v cpu %+v", w, h, i, j, g, c)
				}
			}
		}
		t.Logf("%dx%d: %d frames, gpu and cpu detections agree (%d in frame 0)", w, h, len(gr), len(gr[0]))
		for _, p := range free {
			ctx.Free(p)
		}
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// TestGPUMemoryFlat: GPU memory used after 5,000 processed frames equals that after 500, up to
// maxGrowth: nothing is allocated per frame (the backend's buffers, ONNX Runtime's arena for
// every batch size it will run and its per-thread state are all set up before the first
// frame), but a decoder's buffer pool may add a 3 MiB 1080p buffer or two when a burst keeps
// more frames in flight. The soak bound is 16 MiB over 10 minutes.
func TestGPUMemoryFlat(t *testing.T) {
	clip := os.Getenv("GPU_TEST_CLIP")
	if clip == "" {
		t.Skip("GPU_TEST_CLIP not set (source .gpu/env.sh and run .gpu/ceilings.sh once)")
	}
	cfg := cudaConfig(t, true, modelPath(t, "blocks.onnx"), modelPath(t, "blocks.labels"))
	a, stop := run(t, cfg)
	defer stop()
	var n atomicCounter
	a.Observe(func(string, time.Duration, error) { n.add() })
	for i := 1; i <= 4; i++ {
		cc := app.CameraConfig(cfg, config.Camera{ID: fmt.Sprintf("cam%d", i), URL: "file://" + clip, Transport: "tcp"})
		cc.NewPipeline = bench.ClipPipeline(false, 0)
		if err := a.Cameras().Add(cc); err != nil {
			t.Fatal(err)
		}
	}
	used := func() uint64 {
		free, total, ok := a.Engine().MemInfo()
		if !ok {
			t.Fatal("no GPU memory info")
		}
		return total - free
	}
	wait := func(target uint64) {
		deadline := time.Now().Add(3 * time.Minute)
		for n.get() < target {
			if time.Now().After(deadline) {
				t.Fatalf("only %d frames processed; cameras %+v", n.get(), a.Cameras().List())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(500)
	at500 := used()
	wait(5000)
	at5000 := used()
	t.Logf("GPU memory used: %d MiB after 500 frames, %d MiB after 5000", at500>>20, at5000>>20)
	const maxGrowth = 16 << 20
	if grew := int64(at5000) - int64(at500); grew > maxGrowth {
		t.Errorf("GPU memory grew by %d KiB between 500 and 5000 frames (allowed %d KiB)", grew>>10, maxGrowth>>10)
	} else if grew != 0 {
		t.Logf("grew by %d KiB (decoder buffer pools)", grew>>10)
	}
}
