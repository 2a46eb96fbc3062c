package app

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/analytics"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/placement"
	"github.com/gstvision/gstvision/internal/test"
)

// twoGPUApp is an App with two GPU lanes whose devices have no CUDA behind them (the cameras
// point at a closed port, so no frame is ever decoded): enough to see where cameras are placed
// and what happens to them when a GPU fails.
func twoGPUApp(t *testing.T, doc string) *App {
	t.Helper()
	gst.Init("", "")
	cfg, err := config.Parse([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	a := &App{cfg: cfg, log: log, engine: &Engine{Device: cfg.Device, cfg: cfg, plan: cfg.PlanFor(2),
		gpus: []*gpuDevice{{index: 0}, {index: 1}}}}
	noDetector := func(int) (*inference.Detector, error) { return nil, errors.New("no detector in this test") }
	for _, d := range a.engine.gpus {
		s, err := analytics.New(analytics.Options{NewDetector: noDetector, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		a.lanes = append(a.lanes, &lane{dev: d, stage: s})
	}
	a.stage = a.lanes[0].stage
	if a.placer, err = placement.New([]int{0, 1}); err != nil {
		t.Fatal(err)
	}
	a.backoff = camera.Backoff{Min: 50 * time.Millisecond, Max: 50 * time.Millisecond}
	a.cameras = camera.NewManager(a.stage, nil, log)
	a.ops.api = newCameraAPI(cfg, a.cameras, log, a.cameraConfig, nil)
	t.Cleanup(func() {
		a.cameras.StopAll()
		a.closeLanes()
	})
	for _, c := range cfg.Cameras {
		cc, err := a.cameraConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.cameras.Add(cc); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func gpuOf(t *testing.T, a *App, id string) int {
	t.Helper()
	st, ok := a.cameras.Get(id)
	if !ok || st.GPU == nil {
		t.Fatalf("%s: status %+v has no gpu", id, st)
	}
	return *st.GPU
}

// TestCamerasPlacedOverGPUs: cameras without gpu alternate over the GPUs, a pinned one goes
// to its GPU, and each camera's frames would go to its own GPU's stage.
func TestCamerasPlacedOverGPUs(t *testing.T) {
	a := twoGPUApp(t, `{"device": "cuda", "gpus": [0, 1], "inference": {"model": "m"}, "cameras": [
	  {"id": "a", "url": "rtsp://127.0.0.1:1/a"}, {"id": "b", "url": "rtsp://127.0.0.1:1/b"},
	  {"id": "c", "url": "rtsp://127.0.0.1:1/c"}, {"id": "p", "url": "rtsp://127.0.0.1:1/p", "gpu": 0}]}`)
	want := map[string]int{"a": 0, "b": 1, "c": 0, "p": 0}
	for id, g := range want {
		if got := gpuOf(t, a, id); got != g {
			t.Errorf("%s on GPU %d, want %d", id, got, g)
		}
	}
	if l := a.GPULoads(); l[0].Cameras != 3 || l[1].Cameras != 1 {
		t.Errorf("loads %+v, want 3 and 1 cameras", l)
	}
	if g := a.GPUs(); len(g) != 2 || g[0].GPU != 0 || g[0].Cameras != 3 || g[1].Cameras != 1 || g[1].Failed {
		t.Errorf("GPUs() = %+v, want GPU 0 with 3 cameras and GPU 1 with 1", g)
	}
	c, _ := a.ops.api.Camera("b")
	cc, err := a.cameraConfig(c)
	if err != nil || cc.Analyzer != a.lanes[1].stage {
		t.Errorf("camera b's frames go to %p (err %v), want GPU 1's stage %p", cc.Analyzer, err, a.lanes[1].stage)
	}
}

// TestFailGPUMovesCameras: when GPU 1 fails, its placed cameras restart on GPU 0 and the camera
// pinned to it stays down with an error naming the GPU; GPU 0's cameras are not touched.
func TestFailGPUMovesCameras(t *testing.T) {
	a := twoGPUApp(t, `{"device": "cuda", "gpus": [0, 1], "inference": {"model": "m"}, "cameras": [
	  {"id": "a", "url": "rtsp://127.0.0.1:1/a"}, {"id": "b", "url": "rtsp://127.0.0.1:1/b"},
	  {"id": "p", "url": "rtsp://127.0.0.1:1/p", "gpu": 1}]}`)
	if gpuOf(t, a, "b") != 1 || gpuOf(t, a, "p") != 1 {
		t.Fatalf("before: b on %d, p on %d, want both on GPU 1", gpuOf(t, a, "b"), gpuOf(t, a, "p"))
	}
	// Camera a (GPU 0) keeps retrying its closed port: its reconnect count only grows unless
	// it is restarted (a new camera counts from 0).
	test.WaitUntil(t, 10*time.Second, "camera a's retries", func() bool { st, _ := a.cameras.Get("a"); return st.Reconnects >= 2 })
	stA, _ := a.cameras.Get("a")
	a.failGPU(1, errors.New("CUDA_ERROR_LAUNCH_FAILED"))
	if g := gpuOf(t, a, "b"); g != 0 {
		t.Errorf("b on GPU %d after GPU 1 failed, want 0", g)
	}
	if st, _ := a.cameras.Get("a"); st.Reconnects < stA.Reconnects || gpuOf(t, a, "a") != 0 {
		t.Errorf("camera a (GPU 0) was restarted or moved: %+v, before %+v", st, stA)
	}
	test.WaitUntil(t, 10*time.Second, "the pinned camera's error", func() bool {
		st, _ := a.cameras.Get("p")
		return strings.Contains(st.LastError, "GPU 1") && strings.Contains(st.LastError, placement.ErrGPUFailed.Error())
	})
	if g := a.GPUs(); len(g) != 2 || !g[1].Failed || g[1].Cameras != 0 || g[0].Cameras != 2 {
		t.Errorf("GPUs() after GPU 1 failed = %+v, want it failed with no camera, GPU 0 with 2", g)
	}
	if _, err := a.place(config.Camera{ID: "q", GPU: ptr(1)}); !errors.Is(err, placement.ErrGPUFailed) {
		t.Errorf("placing a new camera on the failed GPU: %v, want ErrGPUFailed", err)
	}
}

func ptr[T any](v T) *T { return &v }
