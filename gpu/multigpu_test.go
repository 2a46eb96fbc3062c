//go:build gpu

package gpu

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/simulate"
)

// testGPUs is the GPUs the multi-GPU tests use: GSTVISION_TEST_GPUS (e.g. "0,1"), else [0].
func testGPUs(t *testing.T) []int {
	env := os.Getenv("GSTVISION_TEST_GPUS")
	if env == "" {
		return []int{0}
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		g, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("GSTVISION_TEST_GPUS=%q: %v", env, err)
		}
		out = append(out, g)
	}
	return out
}

// TestCamerasSpreadOverGPUs: with gpus set, serve places the configured cameras over the
// GPUs (the last one pinned by cameras[].gpu to the last GPU), each GPU decodes and analyses
// its own cameras in its own stage, the camera list says which GPU each runs on, and every
// camera's detections match its simulated ground truth, in both modes.
func TestCamerasSpreadOverGPUs(t *testing.T) {
	gpus := testGPUs(t)
	perGPU := 2
	n := perGPU*len(gpus) + 1
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: n, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for _, decoupled := range []bool{false, true} {
		t.Run(fmt.Sprintf("decoupled=%v", decoupled), func(t *testing.T) {
			cfg := cudaConfig(t, decoupled, modelPath(t, "blocks.onnx"), modelPath(t, "blocks.labels"))
			cfg.GPUs = gpus
			pinned := gpus[len(gpus)-1]
			for i := 1; i <= n; i++ {
				cam := config.Camera{ID: fmt.Sprintf("cam%d", i), URL: sim.URL(i), Transport: "tcp"}
				if i == n {
					cam.GPU = &pinned
				}
				config.ApplyCameraDefaults(&cam)
				cfg.Cameras = append(cfg.Cameras, cam)
			}
			a, stop := run(t, cfg)
			defer stop()
			if got := len(a.Stages()); got != len(gpus) {
				t.Fatalf("%d inference stages for gpus %v, want one per GPU", got, gpus)
			}
			sub := a.Hub().Subscribe("", 8192)
			got := map[string][]results.Result{}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			enough := func() bool {
				for i := 1; i <= n; i++ {
					if len(got[fmt.Sprintf("cam%d", i)]) < 90 {
						return false
					}
				}
				return true
			}
			for !enough() {
				r, err := sub.Recv(ctx)
				if err != nil {
					t.Fatalf("results: %v (cameras %+v)", err, a.Cameras().List())
				}
				got[r.Camera] = append(got[r.Camera], r)
			}
			onGPU := map[int]int{}
			for i := 1; i <= n; i++ {
				id := fmt.Sprintf("cam%d", i)
				st, ok := a.Cameras().Get(id)
				if !ok || st.GPU == nil {
					t.Fatalf("%s: status %+v has no gpu", id, st)
				}
				onGPU[*st.GPU]++
				if st.State != defs.StateRunning {
					t.Errorf("%s: %s (%s)", id, st.State, st.LastError)
				}
				if i == n && *st.GPU != pinned {
					t.Errorf("%s pinned to GPU %d runs on GPU %d", id, pinned, *st.GPU)
				}
				frac, off := groundtruth.Score(got[id], sim.Scene(i), 150, groundtruth.ByPTS(got[id], sim.Scene(i).FPS))
				t.Logf("%s on GPU %d: %d results, %.1f%% match the ground truth (offset %d)", id, *st.GPU, len(got[id]), 100*frac, off)
				if frac < 0.9 {
					t.Errorf("%s: %.1f%% match, want >= 90%%", id, 100*frac)
				}
			}
			for _, g := range gpus {
				want := perGPU
				if g == pinned {
					want++
				}
				if onGPU[g] != want {
					t.Errorf("GPU %d runs %d cameras, want %d (placement %v)", g, onGPU[g], want, onGPU)
				}
			}
			for g, l := range a.GPULoads() {
				t.Logf("GPU %d: %d cameras, %.0f frames/s", g, l.Cameras, l.FPS)
			}
		})
	}
}
