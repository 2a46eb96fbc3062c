package inference

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
)

// The repository's shipped demo detector (models/blocks.onnx): a real YOLOv8-interface model
// that finds solid red, green and blue blocks.
var blocksModel = filepath.Join("..", "models", "blocks.onnx")

func needBlocks(t testing.TB) ModelInfo {
	t.Helper()
	needRuntime(t)
	if _, err := os.Stat(blocksModel); err != nil {
		t.Skipf("no %s: %v", blocksModel, err)
	}
	info, err := Inspect(blocksModel)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// blockFrame is a grey w×h I420 frame with one solid colour block per rect.
func blockFrame(format defs.PixelFormat, w, h int, blocks ...[7]int) *defs.Frame {
	f := yuvFrame(format, w, h, w+32, w+32, func(int, int) byte { return 128 }, grey)
	for _, b := range blocks {
		paint(f, b[0], b[1], b[2], b[3], byte(b[4]), byte(b[5]), byte(b[6]))
	}
	return f
}

func TestBlocksModel(t *testing.T) {
	info := needBlocks(t)
	if info.Layout != LayoutYOLOv8 || info.NumClasses != 3 || info.Anchors != 19200 || info.InputW != 640 ||
		info.InputH != 640 || info.FixedBatch != 0 || info.InputFloat16 {
		t.Fatalf("%+v", info)
	}
	fromMeta, _, err := LabelsForModel("", info)
	if err != nil || strings.Join(fromMeta, ",") != "red block,green block,blue block" {
		t.Fatalf("metadata names %v %v", fromMeta, err)
	}
	labels, _, err := LoadLabels(filepath.Join("..", "models", "blocks.labels"), info.NumClasses)
	if err != nil {
		t.Fatal(err)
	}

	be, err := NewCPUBackend(info, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	d := NewDetector(be, info, labels, 0.5, 0.45)

	red := [7]int{200, 100, 300, 180, redY, redU, redV}
	green := [7]int{40, 400, 120, 480, greenY, greenU, greenV}
	frames := []*defs.Frame{
		blockFrame(defs.I420, 640, 360, red),
		blockFrame(defs.NV12, 480, 640, green), // portrait, padded left and right
	}
	res, err := d.DetectBatch(frames)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		label string
		box   [4]float32
	}{
		{"red block", [4]float32{200, 100, 300, 180}},
		{"green block", [4]float32{40, 400, 120, 480}},
	}
	for i, w := range want {
		if len(res[i]) != 1 || res[i][0].Label != w.label || IoU(res[i][0].Box, w.box) < 0.8 {
			t.Errorf("frame %d: %+v, want one %s at %v", i, res[i], w.label, w.box)
			continue
		}
		t.Logf("frame %d: %s %.2f %v (IoU %.3f)", i, res[i][0].Label, res[i][0].Score, res[i][0].Box, IoU(res[i][0].Box, w.box))
	}

	// The same two frames through the Batcher, from two cameras at once.
	b := NewBatcher(d, 2, 50*time.Millisecond)
	type result struct {
		cam  string
		dets []defs.Detection
	}
	got := make(chan result, 2)
	for i, cam := range []string{"door", "yard"} {
		go func() {
			err := b.Submit(Job{Camera: cam, Frame: frames[i], Done: func(dets []defs.Detection, err error) {
				if err != nil {
					t.Error(err)
				}
				got <- result{cam, dets}
			}})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	for range 2 {
		r := <-got
		w := want[0]
		if r.cam == "yard" {
			w = want[1]
		}
		if len(r.dets) != 1 || r.dets[0].Label != w.label || IoU(r.dets[0].Box, w.box) < 0.8 {
			t.Errorf("camera %s: %+v", r.cam, r.dets)
		}
	}
	b.Close()
}

// BenchmarkBlocksDetect is the whole CPU path for one 640x360 frame: letterbox, run the
// shipped model (one intra-op thread), decode, NMS.
func BenchmarkBlocksDetect(b *testing.B) {
	info := needBlocks(b)
	be, err := NewCPUBackend(info, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	in := NewInline(NewDetector(be, info, nil, 0.5, 0.45))
	f := blockFrame(defs.I420, 640, 360, [7]int{200, 100, 300, 180, redY, redU, redV})
	for b.Loop() {
		if dets, err := in.Detect(f); err != nil || len(dets) != 1 {
			b.Fatal(dets, err)
		}
	}
}
