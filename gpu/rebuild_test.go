//go:build gpu

package gpu

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/bench"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/procstat"
)

// TestGPUPipelineRebuildHostMemory is a diagnostic for the GPU soak's host memory growth: a
// camera's pipeline (file source, nvh264dec into CUDA memory, inference) is built, run for a
// few frames and removed, over and over, beside 4 cameras that keep running; host RSS is logged
// every 10 cycles. GSTVISION_REBUILD_DEVICE=cpu runs the same with avdec_h264, to tell the
// NVDEC path from the rest. Run it with and without MALLOC_ARENA_MAX set to compare glibc's
// per-thread malloc arenas (pipelines come and go with their streaming threads).
func TestGPUPipelineRebuildHostMemory(t *testing.T) {
	clip := os.Getenv("GPU_TEST_CLIP")
	cycles, err := strconv.Atoi(os.Getenv("GSTVISION_REBUILD_CYCLES"))
	if clip == "" || err != nil || cycles < 1 {
		t.Skip("diagnostic: set GSTVISION_REBUILD_CYCLES to a count (and source .gpu/env.sh)")
	}
	cfg := cudaConfig(t, true, modelPath(t, "blocks.onnx"), modelPath(t, "blocks.labels"))
	if d := os.Getenv("GSTVISION_REBUILD_DEVICE"); d != "" {
		cfg.Device = d
	}
	a, stop := run(t, cfg)
	defer stop()
	var n atomicCounter
	a.Observe(func(string, time.Duration, error) { n.add() })
	add := func(id string) {
		cc := app.CameraConfig(cfg, config.Camera{ID: id, URL: "file://" + clip, Transport: "tcp"})
		cc.NewPipeline = bench.ClipPipeline(false, 0)
		if err := a.Cameras().Add(cc); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 4; i++ {
		add(fmt.Sprintf("steady%d", i))
	}
	var first float64
	for c := 1; c <= cycles; c++ {
		before := n.get()
		add("churn")
		deadline := time.Now().Add(30 * time.Second)
		for n.get() < before+20 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if err := a.Cameras().Remove("churn"); err != nil {
			t.Fatal(err)
		}
		if c%10 == 0 || c == 1 {
			runtime.GC()
			time.Sleep(500 * time.Millisecond)
			r := procstat.RSSMB("self")
			if c == 1 {
				first = r
			}
			t.Logf("device %s MALLOC_ARENA_MAX=%q: after %3d rebuilds RSS %.0f MB (%+.2f MB per rebuild since the first)",
				cfg.Device, os.Getenv("MALLOC_ARENA_MAX"), c, r, (r-first)/float64(max(c-1, 1)))
		}
	}
}
