package blocks_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/onnxgen/ortest"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/tools/mkdetector/blocks"
)

// sceneFrame renders frame n of a simulated camera as an I420 host frame; noisy adds ±4 of
// luma noise and blurs the block edges' luma a little, as a codec would.
func sceneFrame(w, h, cam, n int, noisy bool) (*defs.Frame, []simulate.Object) {
	sc := simulate.NewScene(w, h, 30, cam)
	yuv := make([]byte, w*h*3/2)
	sc.RenderI420(n, yuv)
	if noisy {
		rng := rand.New(rand.NewPCG(uint64(n), uint64(cam)))
		src := append([]byte(nil), yuv[:w*h]...)
		for y := 1; y < h-1; y++ {
			for x := 1; x < w-1; x++ {
				v := (int(src[y*w+x])*4 + int(src[y*w+x-1]) + int(src[y*w+x+1]) + int(src[(y-1)*w+x]) + int(src[(y+1)*w+x])) / 8
				yuv[y*w+x] = byte(max(16, min(235, v+rng.IntN(9)-4)))
			}
		}
	}
	f := &defs.Frame{Format: defs.I420, Width: w, Height: h}
	f.Host[0], f.Strides[0] = yuv[:w*h], w
	f.Host[1], f.Strides[1] = yuv[w*h:w*h+w*h/4], w/2
	f.Host[2], f.Strides[2] = yuv[w*h+w*h/4:], w/2
	return f, sc.Objects(n)
}

// Every family's variant of the blocks detector, read by the product as that family (layout
// detected, preprocessing applied, outputs decoded, NMS or not), finds each simulated block
// once, with its class, on cameras of two sizes.
func TestLayoutVariantsFindTheBlocks(t *testing.T) {
	if err := ortest.Setup(); err != nil {
		t.Skip(err)
	}
	if _, err := inference.InitRuntime(""); err != nil {
		t.Skip(err)
	}
	want := map[string]inference.Layout{
		blocks.LayoutYOLOv8: inference.LayoutYOLOv8, blocks.LayoutEndToEnd: inference.LayoutEndToEnd,
		blocks.LayoutRTDETR: inference.LayoutRTDETRUltralytics, blocks.LayoutDETR: inference.LayoutDETR,
		blocks.LayoutRFDETR: inference.LayoutRFDETR, blocks.LayoutYOLONAS: inference.LayoutYOLONAS,
	}
	for _, layout := range blocks.Layouts {
		t.Run(layout, func(t *testing.T) {
			b, err := blocks.BuildLayout(blocks.DefaultParams(), layout)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "blocks.onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := inference.Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Layout != want[layout] {
				t.Fatalf("layout %v, want %v", info.Layout, want[layout])
			}
			be, err := inference.NewCPUBackend(info, 4, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			d := inference.NewDetector(be, info, simulate.Classes, 0.5, 0.45)
			var frames []*defs.Frame
			var truths [][]simulate.Object
			var names []string
			for _, sz := range [][2]int{{640, 360}, {1280, 720}} {
				for cam, n := range []int{5, 97, 211} {
					noisy := cam == 2
					f, truth := sceneFrame(sz[0], sz[1], cam, n, noisy)
					frames, truths = append(frames, f), append(truths, truth)
					names = append(names, fmt.Sprintf("%dx%d cam%d frame%d noisy=%v", sz[0], sz[1], cam, n, noisy))
				}
			}
			res, err := d.DetectBatch(frames)
			if err != nil {
				t.Fatal(err)
			}
			for i, dets := range res {
				if len(dets) != len(truths[i]) {
					t.Errorf("%s: %d detections %+v for %d blocks %+v", names[i], len(dets), dets, len(truths[i]), truths[i])
					continue
				}
				for _, o := range truths[i] {
					best := 0.0
					for _, d := range dets {
						if d.ClassID == o.ClassID {
							best = max(best, iou(d.Box, o.Box))
						}
					}
					if best < 0.8 {
						t.Errorf("%s: block %s at %v found with IoU %.2f in %+v", names[i], simulate.Classes[o.ClassID], o.Box, best, dets)
					}
				}
			}
		})
	}
}

func iou(a [4]float32, b [4]float64) float64 {
	iw := min(float64(a[2]), b[2]) - max(float64(a[0]), b[0])
	ih := min(float64(a[3]), b[3]) - max(float64(a[1]), b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	in := iw * ih
	return in / (float64(a[2]-a[0])*float64(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - in)
}
