package inference

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/onnxgen"
)

// layoutModel writes onnxgen.LayoutCells(layout) with the given batch.
func layoutModel(t testing.TB, layout string, batch int64) string {
	t.Helper()
	g, err := onnxgen.LayoutCells(layout, batch, onnxgen.Float, onnxgen.Float)
	if err != nil {
		t.Fatal(err)
	}
	return writeModel(t, g, strings.ReplaceAll(layout, "-", "_")+".onnx")
}

// Inspect finds each family's layout, preprocessing, outputs, class count and names.
func TestInspectLayouts(t *testing.T) {
	needRuntime(t)
	cases := []struct {
		layout     string
		want       Layout
		pre        Preprocess
		outputs    []string
		classes    int
		fromShape  bool
		source     LabelSource
		firstLabel string
	}{
		{onnxgen.LayoutYOLOv8, LayoutYOLOv8, PreLetterbox, []string{"output0"}, 3, true, LabelsFromMetadata, "red"},
		{onnxgen.LayoutEndToEnd, LayoutEndToEnd, PreLetterbox, []string{"output0"}, 3, false, LabelsFromMetadata, "red"},
		{onnxgen.LayoutRTDETR, LayoutRTDETRUltralytics, PreStretch, []string{"output0"}, 3, true, LabelsFromMetadata, "red"},
		// No metadata: the official exports' class ids are COCO's.
		{onnxgen.LayoutDETR, LayoutDETR, PreStretch, []string{"labels", "boxes", "scores"}, 80, false, LabelsFromCOCO, "person"},
		{onnxgen.LayoutRFDETR, LayoutRFDETR, PreStretchImageNet, []string{"dets", "labels"}, 3, true, LabelsGenerated, "class0"},
		{onnxgen.LayoutYOLONAS, LayoutYOLONAS, PreLetterbox, []string{"pred_boxes", "pred_scores"}, 3, true, LabelsGenerated, "class0"},
	}
	for _, c := range cases {
		t.Run(c.layout, func(t *testing.T) {
			info, err := Inspect(layoutModel(t, c.layout, -1))
			if err != nil {
				t.Fatal(err)
			}
			var outs []string
			for _, o := range info.Outputs {
				outs = append(outs, o.Name)
			}
			if info.Layout != c.want || info.Preprocess != c.pre || strings.Join(outs, ",") != strings.Join(c.outputs, ",") ||
				info.NumClasses != c.classes || info.ClassesFromShape != c.fromShape || info.Anchors != 64 || info.Layout.String() != c.layout {
				t.Fatalf("layout %v (%s), preprocess %v, outputs %v, %d classes (from shape %v), %d rows",
					info.Layout, info.Layout, info.Preprocess, outs, info.NumClasses, info.ClassesFromShape, info.Anchors)
			}
			if (info.SizeInput.Name != "") != (c.want == LayoutDETR) {
				t.Fatalf("size input %+v", info.SizeInput)
			}
			l, err := ResolveLabels("", info)
			if err != nil || l.Source != c.source || len(l.Names) != c.classes || l.Names[0] != c.firstLabel {
				t.Fatalf("labels %+v %v; want %d from %s starting %q", l, err, c.classes, c.source, c.firstLabel)
			}
			if (l.Warning != "") != (c.source == LabelsGenerated) {
				t.Fatalf("warning %q for source %s", l.Warning, l.Source)
			}
			// A labels file wins; its length must match a class count read from the shapes,
			// and sets it where the classes are numbers.
			file := filepath.Join(t.TempDir(), "two.labels")
			writeFile(t, file, "cat\ndog\n")
			l, err = ResolveLabels(file, info)
			switch {
			case c.fromShape && !errors.Is(err, ErrLabels):
				t.Fatalf("2 labels for %d classes: %+v %v", c.classes, l, err)
			case !c.fromShape && (err != nil || l.Source != LabelsFromFile || strings.Join(l.Names, ",") != "cat,dog"):
				t.Fatalf("labels file: %+v %v", l, err)
			}
		})
	}
}

// cellCase is a picture with coloured blocks and the detections expected: hand-computed from
// the cell the block fills and the mapping of the family's preprocessing.
type cellCase struct {
	name   string
	w, h   int
	blocks [][7]int // x0, y0, x1, y1 (even), Y, U, V
	want   []defs.Detection
}

const tol = 0.01

// Letterbox of 640x360 into 64x64: scale 1/10, picture rows 14..50. 1920x1080: scale 1/30,
// the same rows. Cell (col, row) [8c, 8r, 8c+8, 8r+8] maps back to x = 8c/s, y = (8r-14)/s.
// Stretch of 640x360: x ×10, y ×5.625; of 1920x1080: x ×30, y ×16.875.
var (
	letterboxCases = []cellCase{
		// Red on cell (3, 3) and green on cell (0, 4), at the picture's left edge.
		{"640x360", 640, 360, [][7]int{{240, 100, 320, 180, redY, redU, redV}, {0, 180, 80, 260, greenY, greenU, greenV}},
			[]defs.Detection{{ClassID: 0, Box: [4]float32{240, 100, 320, 180}}, {ClassID: 1, Box: [4]float32{0, 180, 80, 260}}}},
		// Red on cell (7, 5), at the right edge: x 1680..1920, y (40-14)*30 = 780 .. 1020.
		{"1920x1080", 1920, 1080, [][7]int{{1680, 780, 1920, 1020, redY, redU, redV}},
			[]defs.Detection{{ClassID: 0, Box: [4]float32{1680, 780, 1920, 1020}}}},
	}
	stretchCases = []cellCase{
		// Red on cell (3, 2): x 240..320, y 90..135; green on cell (7, 7), the bottom-right
		// corner: x 560..640, y 315..360.
		{"640x360", 640, 360, [][7]int{{240, 90, 320, 134, redY, redU, redV}, {560, 316, 640, 360, greenY, greenU, greenV}},
			[]defs.Detection{{ClassID: 0, Box: [4]float32{240, 90, 320, 135}}, {ClassID: 1, Box: [4]float32{560, 315, 640, 360}}}},
		// Red on cell (0, 0), the top-left corner: x 0..30*8, y 0..16.875*8.
		{"1920x1080", 1920, 1080, [][7]int{{0, 0, 240, 134, redY, redU, redV}},
			[]defs.Detection{{ClassID: 0, Box: [4]float32{0, 0, 240, 135}}}},
	}
)

func cellFrame(c cellCase) *defs.Frame {
	f := yuvFrame(defs.I420, c.w, c.h, c.w, c.w/2, func(int, int) byte { return 16 }, grey)
	for _, b := range c.blocks {
		paint(f, b[0], b[1], b[2], b[3], byte(b[4]), byte(b[5]), byte(b[6]))
	}
	return f
}

// checkDetections compares boxes and classes (scores only above minScore), order-free.
func checkDetections(t *testing.T, what string, got, want []defs.Detection, labels []string, minScore float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d detections %+v, want %+v", what, len(got), got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.ClassID != w.ClassID {
				continue
			}
			ok := true
			for i := range 4 {
				ok = ok && math.Abs(float64(g.Box[i]-w.Box[i])) < tol
			}
			if ok {
				found = true
				if g.Score <= minScore || g.Label != labels[w.ClassID] {
					t.Errorf("%s: %+v: score or label off (want > %v, %q)", what, g, minScore, labels[w.ClassID])
				}
			}
		}
		if !found {
			t.Errorf("%s: no class %d box %v in %+v", what, w.ClassID, w.Box, got)
		}
	}
}

// Each family end to end on the CPU backend: frames of 640x360 and 1920x1080 cameras, in one
// dynamic batch and one at a time, boxes back on the blocks in camera pixels.
func TestLayoutDetectionsCPU(t *testing.T) {
	needRuntime(t)
	for _, layout := range onnxgen.CellLayouts {
		for _, batch := range []int64{-1, 2} {
			name := layout + "/dynamic"
			if batch > 0 {
				name = layout + "/fixed2"
			}
			t.Run(name, func(t *testing.T) {
				info, err := Inspect(layoutModel(t, layout, batch))
				if err != nil {
					t.Fatal(err)
				}
				cases := letterboxCases
				if info.Preprocess != PreLetterbox {
					cases = stretchCases
				}
				be, err := NewCPUBackend(info, 2, 1)
				if err != nil {
					t.Fatal(err)
				}
				defer be.Close()
				l, err := ResolveLabels("", info)
				if err != nil {
					t.Fatal(err)
				}
				d := NewDetector(be, info, l.Names, 0.5, 0.45)
				frames := []*defs.Frame{cellFrame(cases[0]), cellFrame(cases[1])}
				res, err := d.DetectBatch(frames)
				if err != nil {
					t.Fatal(err)
				}
				// RF-DETR's scores are the true means only with ImageNet normalisation fed.
				minScore := float32(0.5)
				if info.Layout == LayoutRFDETR {
					minScore = 0.9
				}
				for i, c := range cases {
					checkDetections(t, c.name, res[i], c.want, l.Names, minScore)
				}
				one, err := NewInline(d).Detect(frames[1])
				if err != nil {
					t.Fatal(err)
				}
				checkDetections(t, "inline "+cases[1].name, one, cases[1].want, l.Names, minScore)
			})
		}
	}
}

// The DETR layout's boxes scale with orig_target_sizes: fed anything but the input size, the
// boxes land elsewhere (the backend's feed is what the mapping back assumes).
func TestDETRSizeFeed(t *testing.T) {
	needRuntime(t)
	info, err := Inspect(layoutModel(t, onnxgen.LayoutDETR, -1))
	if err != nil {
		t.Fatal(err)
	}
	if w, h := info.sizeFeed(); w != 64 || h != 64 || info.SizeInput.Type != ElemInt64 {
		t.Fatalf("feed %dx%d of %s", w, h, info.SizeInput.Type)
	}
	be, err := NewCPUBackend(info, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	c := stretchCases[0]
	if err := be.Fill(0, cellFrame(c), NewStretch(c.w, c.h, 64, 64)); err != nil {
		t.Fatal(err)
	}
	outs, err := be.(OutputsBackend).RunOutputs(1)
	if err != nil {
		t.Fatal(err)
	}
	// Query 2*8+3 (cell (3, 2)) is red: label 0, box [24, 16, 32, 24] in input pixels.
	q := 19
	if outs[0].Data[q] != 0 || outs[2].Data[q] < 0.9 {
		t.Fatalf("query %d: label %v score %v", q, outs[0].Data[q], outs[2].Data[q])
	}
	if b := outs[1].Data[4*q : 4*q+4]; b[0] != 24 || b[1] != 16 || b[2] != 32 || b[3] != 24 {
		t.Fatalf("query %d box %v, want [24 16 32 24]", q, b)
	}
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConcreteShapes: a tracing exporter may declare an end-to-end output [N, ?, 6] (top-k
// leaves the row count symbolic) and RF-DETR's or YOLO-NAS's outputs fully symbolic, with no
// layout hint in the metadata. Read as declared, the first is a one-class YOLOv5 and the others
// unknown; with the shapes of one probe run filled in first, each is its own layout.
func TestConcreteShapes(t *testing.T) {
	needRuntime(t)
	cases := []struct {
		layout string
		dims   [][]int64 // as the export declares them
		want   Layout
	}{
		{onnxgen.LayoutEndToEnd, [][]int64{{-1, -1, 6}}, LayoutEndToEnd},
		{onnxgen.LayoutRFDETR, [][]int64{{-1, -1, 4}, {-1, -1, -1}}, LayoutRFDETR},
		{onnxgen.LayoutYOLONAS, [][]int64{{-1, -1, -1}, {-1, -1, -1}}, LayoutYOLONAS},
	}
	for _, tc := range cases {
		path := layoutModel(t, tc.layout, -1)
		ins, outs, err := ort.GetInputOutputInfo(path)
		if err != nil {
			t.Fatal(err)
		}
		info := ModelInfo{Path: path} // no metadata: no end2end hint
		if err := pickInputs(&info, ins); err != nil {
			t.Fatal(err)
		}
		declared := func() []ort.InputOutputInfo {
			o := slices.Clone(outs)
			for i := range o {
				o[i].Dimensions = ort.Shape(tc.dims[i])
			}
			return o
		}
		asDeclared := info
		if err := detectLayout(&asDeclared, ins, declared()); err == nil && asDeclared.Layout == tc.want {
			t.Errorf("%s: found as declared (%v): the case does not need the probe", tc.layout, asDeclared.Layout)
		}
		probed := declared()
		if err := concreteShapes(&info, probed); err != nil {
			t.Fatalf("%s: %v", tc.layout, err)
		}
		if err := detectLayout(&info, ins, probed); err != nil || info.Layout != tc.want {
			t.Errorf("%s: with probed shapes %v: layout %v, %v; want %v", tc.layout, probed[0].Dimensions, info.Layout, err, tc.want)
		}
	}
}
