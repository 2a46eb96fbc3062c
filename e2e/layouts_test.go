//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/test"
	"github.com/gstvision/gstvision/tools/mkdetector/blocks"
)

// layoutConfig writes a CPU config running model (labels: a file, or "" for the model's own
// names) on the camera URLs.
func layoutConfig(t *testing.T, model, labels string, decoupled bool, url string) *config.Config {
	t.Helper()
	doc := fmt.Sprintf(`{
  "device": "cpu",
  "server": {"listen": "127.0.0.1:0"},
  "inference": {"model": %q, "labels": %q, "confidence": 0.5},
  "processing": {"ENABLE_DECOUPLED_PIPELINE": %v, "max_batch": 4, "max_wait_ms": 15},
  "cameras": [{"id": "cam1", "url": %q}]
}`, model, labels, decoupled, url)
	cfg, _ := test.WriteConfig(t, doc)
	return cfg
}

// TestServeLayouts: the blocks detector rebuilt with each family's outputs (end-to-end YOLO,
// Ultralytics RT-DETR, official RT-DETR/D-FINE/DEIM with orig_target_sizes, RF-DETR,
// YOLO-NAS; tools/mkdetector/blocks) is detected by its layout at start, fed as its family
// expects (letterbox, or resize and ImageNet normalisation), decoded, and its /ws detections
// match the simulator's ground truth with the right class names, in unified mode on a 640x360
// camera and decoupled mode on a 1280x720 one. The Ultralytics families name their classes
// from the model's metadata; the others have none and get the labels file.
func TestServeLayouts(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	sims := map[bool]*simulate.Server{}
	for _, decoupled := range []bool{false, true} {
		o := simulate.Options{Cameras: 1, Listen: "127.0.0.1:0"}
		if decoupled {
			o.Width, o.Height = 1280, 720
		}
		sim, err := simulate.Start(context.Background(), o)
		if err != nil {
			t.Fatalf("simulate: %v", err)
		}
		t.Cleanup(func() { sim.Close() })
		sims[decoupled] = sim
	}
	labelsFile := filepath.Join(repoRoot(t), "models/blocks.labels")
	for _, layout := range blocks.Layouts {
		if layout == blocks.LayoutYOLOv8 {
			continue // the shipped model: every other e2e test
		}
		model := filepath.Join(t.TempDir(), "blocks-"+layout+".onnx")
		b, err := blocks.BuildLayout(blocks.DefaultParams(), layout)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(model, b, 0o644); err != nil {
			t.Fatal(err)
		}
		labels := labelsFile
		if layout == blocks.LayoutEndToEnd || layout == blocks.LayoutRTDETR {
			labels = ""
		}
		for _, decoupled := range []bool{false, true} {
			mode := "unified"
			if decoupled {
				mode = "decoupled"
			}
			t.Run(layout+"/"+mode, func(t *testing.T) {
				sim := sims[decoupled]
				a, base := startApp(t, layoutConfig(t, model, labels, decoupled, sim.URL(1)))
				if got := a.Engine().Info.Layout.String(); got != layout {
					t.Fatalf("layout %s, want %s", got, layout)
				}
				rs := collect(t, base, 45, 60*time.Second, "cam1")["cam1"]
				if len(rs) < 45 {
					t.Fatalf("only %d results in 60 s", len(rs))
				}
				w, h := sim.Options().Width, sim.Options().Height
				for _, r := range rs {
					if r.Width != w || r.Height != h {
						t.Fatalf("result size %dx%d, want %dx%d", r.Width, r.Height, w, h)
					}
					for _, d := range r.Detections {
						if d.ClassID < 0 || d.ClassID >= len(simulate.Classes) || d.Label != simulate.Classes[d.ClassID] {
							t.Fatalf("frame %d: detection %+v: want the label %q", r.Frame, d, simulate.Classes[max(0, min(d.ClassID, 2))])
						}
					}
				}
				frac, off := groundtruth.Score(rs, sim.Scene(1), 150, groundtruth.ByPTS(rs, sim.Scene(1).FPS))
				t.Logf("%s %s: %d results, %.1f%% match the ground truth (frame offset %d)", layout, mode, len(rs), 100*frac, off)
				if frac < 0.9 {
					r := rs[len(rs)/2]
					t.Errorf("only %.1f%% of frames match the ground truth (want >= 90%%); e.g. frame %d: got %+v, truth %+v",
						100*frac, r.Frame, r.Detections, sim.Scene(1).Objects(int(r.Frame)+off))
				}
			})
		}
	}
}
