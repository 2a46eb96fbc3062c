package inference

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/onnxgen"
)

var spec64 = func(l Layout) DecodeSpec { return DecodeSpec{Layout: l, InputW: 64, InputH: 32} }

// Scores exactly at the threshold are dropped, just above kept; boxes at the input's edges
// pass unchanged; normalised boxes scale by the input's width and height.
func TestDecodeLayoutsThresholdAndEdges(t *testing.T) {
	const conf = 0.5
	above := math.Nextafter32(conf, 1)
	logit := func(p float32) float32 { return float32(math.Log(float64(p) / (1 - float64(p)))) }
	cases := []struct {
		name string
		l    Layout
		outs []Tensor
		want []Candidate
	}{
		{"end2end", LayoutEndToEnd, []Tensor{{Shape: []int64{1, 3, 6}, Data: []float32{
			0, 0, 10, 5, conf, 1, // at the threshold: dropped
			0, 0, 64, 32, above, 2, // the whole input
			1, 2, 3, 4, 0.9, 0,
		}}}, []Candidate{{Box: [4]float32{0, 0, 64, 32}, Score: above, ClassID: 2}, {Box: [4]float32{1, 2, 3, 4}, Score: 0.9}}},
		{"rtdetr", LayoutRTDETRUltralytics, []Tensor{{Shape: []int64{1, 2, 6}, Data: []float32{
			0.5, 0.5, 1, 1, 0.2, above, // whole input, class 1
			0.25, 0.25, 0.5, 0.5, conf, conf, // at the threshold
		}}}, []Candidate{{Box: [4]float32{0, 0, 64, 32}, Score: above, ClassID: 1}}},
		{"detr", LayoutDETR, []Tensor{
			{Shape: []int64{1, 2}, Data: []float32{7, 3}},
			{Shape: []int64{1, 2, 4}, Data: []float32{0, 0, 64, 32, 5, 5, 6, 6}},
			{Shape: []int64{1, 2}, Data: []float32{above, conf}},
		}, []Candidate{{Box: [4]float32{0, 0, 64, 32}, Score: above, ClassID: 7}}},
		{"rf-detr", LayoutRFDETR, []Tensor{
			{Shape: []int64{1, 2, 4}, Data: []float32{0.5, 0.5, 1, 1, 0.5, 0.25, 0.5, 0.5}},
			// query 0: background high (never reported), class 0 at the threshold, class 1 well
			// above; query 1: classes 0 and 1 both pass (RF-DETR reports both).
			{Shape: []int64{1, 2, 3}, Data: []float32{5, logit(conf), logit(0.8), -9, logit(0.7), logit(0.6)}},
		}, []Candidate{
			{Box: [4]float32{0, 0, 64, 32}, Score: 0.8, ClassID: 1},
			{Box: [4]float32{16, 0, 48, 16}, Score: 0.7, ClassID: 0},
			{Box: [4]float32{16, 0, 48, 16}, Score: 0.6, ClassID: 1},
		}},
		{"yolo-nas", LayoutYOLONAS, []Tensor{
			{Shape: []int64{1, 2, 4}, Data: []float32{0, 0, 64, 32, 1, 1, 2, 2}},
			{Shape: []int64{1, 2, 2}, Data: []float32{0.1, above, conf, conf}},
		}, []Candidate{{Box: [4]float32{0, 0, 64, 32}, Score: above, ClassID: 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Decoder
			got, err := d.DecodeOutputs(c.outs, spec64(c.l), 0, conf)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%+v, want %+v", got, c.want)
			}
			for i := range got {
				g, w := got[i], c.want[i]
				if g.ClassID != w.ClassID || math.Abs(float64(g.Score-w.Score)) > 1e-6 || g.Box != w.Box {
					t.Errorf("candidate %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// The second image of a batch is read from its own rows; bad shapes are errors, not panics.
func TestDecodeLayoutsBatchAndErrors(t *testing.T) {
	var d Decoder
	rows := Tensor{Shape: []int64{2, 1, 6}, Data: []float32{0, 0, 1, 1, 0.9, 0, 2, 2, 3, 3, 0.8, 4}}
	got, err := d.DecodeOutputs([]Tensor{rows}, spec64(LayoutEndToEnd), 1, 0.5)
	if err != nil || len(got) != 1 || got[0].ClassID != 4 || got[0].Box != [4]float32{2, 2, 3, 3} {
		t.Fatalf("image 1: %+v %v", got, err)
	}
	bad := []struct {
		name string
		l    Layout
		outs []Tensor
		want error
	}{
		{"image out of range", LayoutEndToEnd, []Tensor{rows}, ErrBatch},
		{"seven columns", LayoutEndToEnd, []Tensor{{Shape: []int64{1, 1, 7}, Data: make([]float32, 7)}}, ErrBadOutput},
		{"short data", LayoutRTDETRUltralytics, []Tensor{{Shape: []int64{1, 2, 6}, Data: make([]float32, 6)}}, ErrBadOutput},
		{"one output for detr", LayoutDETR, []Tensor{rows}, ErrBadOutput},
		{"rows disagree", LayoutYOLONAS, []Tensor{{Shape: []int64{1, 2, 4}, Data: make([]float32, 8)}, {Shape: []int64{1, 3, 2}, Data: make([]float32, 6)}}, ErrBadOutput},
		{"no classes", LayoutRFDETR, []Tensor{{Shape: []int64{1, 1, 4}, Data: make([]float32, 4)}, {Shape: []int64{1, 1, 1}, Data: make([]float32, 1)}}, ErrBadOutput},
	}
	for _, b := range bad {
		idx := 0
		if b.name == "image out of range" {
			idx = 2
		}
		if _, err := d.DecodeOutputs(b.outs, spec64(b.l), idx, 0.5); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
	}
}

// RF-DETR's COCO checkpoints keep COCO's category ids 1..90: their names, gaps as N/A.
func TestCOCOCategoryLabels(t *testing.T) {
	c := COCOCategoryLabels()
	if len(c) != 90 || c[0] != "person" || c[11] != "N/A" || c[12] != "stop sign" || c[89] != "toothbrush" {
		t.Fatalf("%d names: %q", len(c), c)
	}
	l, err := ResolveLabels("", ModelInfo{Layout: LayoutRFDETR, NumClasses: 90, ClassesFromShape: true})
	if err != nil || l.Source != LabelsFromCOCO || l.Names[2] != "car" {
		t.Fatalf("%+v %v", l, err)
	}
}

// Top orders by score (ties in row order) and caps; NMS-free layouts keep overlapping boxes.
func TestTop(t *testing.T) {
	var d Decoder
	c := []Candidate{{Score: 0.6, ClassID: 0}, {Score: 0.9, ClassID: 1}, {Score: 0.6, ClassID: 2}, {Score: 0.7, ClassID: 3}}
	got := d.Top(c, 3)
	if len(got) != 3 || got[0].ClassID != 1 || got[1].ClassID != 3 || got[2].ClassID != 0 {
		t.Fatalf("%+v", got)
	}
}

// outputsModel is a model with fixed-batch-1 constant outputs of the given names and shapes
// (and, with sizes, an orig_target_sizes input), for layout detection.
func outputsModel(t *testing.T, sizes bool, meta map[string]string, outs ...onnxgenOut) string {
	g := onnxgen.NewGraph("outs")
	for k, v := range meta {
		g.Metadata(k, v)
	}
	g.Input("images", onnxgen.Float, 1, 3, 64, 64)
	if sizes {
		g.Input("orig_target_sizes", onnxgen.Int64, 1, 2)
	}
	for _, o := range outs {
		n := int64(1)
		for _, d := range o.dims {
			n *= d
		}
		if o.typ == onnxgen.Int64 {
			g.InitializerInt64(o.name+"_c", o.dims, make([]int64, n))
		} else {
			g.Initializer(o.name+"_c", o.dims, make([]float32, n))
		}
		g.Node("Identity", []string{o.name + "_c"}, []string{o.name})
		g.Output(o.name, o.typ, o.dims...)
	}
	return writeModel(t, g, "outs.onnx")
}

type onnxgenOut struct {
	name string
	dims []int64
	typ  int32
}

func fo(name string, dims ...int64) onnxgenOut { return onnxgenOut{name, dims, onnxgen.Float} }

// A layout that is almost right names the output and its shape; an unknown one lists the
// inputs, the outputs and the layouts known.
func TestInspectAlmostRight(t *testing.T) {
	needRuntime(t)
	labels := onnxgenOut{"labels", []int64{1, 300}, onnxgen.Int64}
	cases := []struct {
		name  string
		sizes bool
		meta  map[string]string
		outs  []onnxgenOut
		want  []string
	}{
		{"detr boxes of 5", true, nil, []onnxgenOut{labels, fo("boxes", 1, 300, 5), fo("scores", 1, 300)}, []string{`"boxes"`, "[1 300 5]", "[N, Q, 4]"}},
		{"detr without scores", true, nil, []onnxgenOut{labels, fo("boxes", 1, 300, 4)}, []string{`no output "scores"`}},
		{"detr without sizes", false, nil, []onnxgenOut{labels, fo("boxes", 1, 300, 4), fo("scores", 1, 300)}, []string{"orig_target_sizes"}},
		{"rf-detr dets of 5", false, nil, []onnxgenOut{fo("dets", 1, 300, 5), fo("labels", 1, 300, 91)}, []string{`"dets"`, "[1 300 5]"}},
		{"rf-detr without labels", false, nil, []onnxgenOut{fo("dets", 1, 300, 4), fo("other", 1, 300, 91)}, []string{`no output "labels"`}},
		{"end2end metadata, 7 columns", false, map[string]string{"end2end": "True"}, []onnxgenOut{fo("output0", 1, 300, 7)}, []string{`"output0"`, "[1 300 7]", "[N, K, 6]"}},
		{"segmentation", false, map[string]string{"task": "segment"}, []onnxgenOut{fo("output0", 1, 116, 8400), fo("output1", 1, 32, 160, 160)}, []string{`"segment"`, "task detect"}},
		{"unknown", false, nil, []onnxgenOut{fo("a", 1, 5), fo("b", 1, 7)}, []string{`"images"`, `"a"`, `"b"`, "known layouts", "rf-detr", "yolo-nas"}},
	}
	for _, c := range cases {
		_, err := Inspect(outputsModel(t, c.sizes, c.meta, c.outs...))
		if !errors.Is(err, ErrUnknownLayout) {
			t.Errorf("%s: %v, want ErrUnknownLayout", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, err, w)
			}
		}
	}
	// And the well-formed ones pass, also without the cell models' metadata.
	ok := []struct {
		name string
		outs []onnxgenOut
		meta map[string]string
		want Layout
	}{
		{"rtdetr by shape", []onnxgenOut{fo("output0", 1, 300, 84)}, nil, LayoutRTDETRUltralytics},
		{"end2end by shape", []onnxgenOut{fo("output0", 1, 300, 6)}, nil, LayoutEndToEnd},
		{"nms=True export, end2end False", []onnxgenOut{fo("output0", 1, 300, 6)}, map[string]string{"end2end": "False"}, LayoutEndToEnd},
		{"2-class rtdetr by description", []onnxgenOut{fo("output0", 1, 300, 6)}, map[string]string{"description": "Ultralytics rtdetr-l model trained on two.yaml"}, LayoutRTDETRUltralytics},
		{"yolov5 grid", []onnxgenOut{fo("output0", 1, 252, 6)}, nil, LayoutYOLOv5},
		{"nas", []onnxgenOut{fo("scores", 1, 8400, 80), fo("bboxes", 1, 8400, 4)}, nil, LayoutYOLONAS},
		{"nas of 4 classes", []onnxgenOut{fo("pred_scores", 1, 100, 4), fo("pred_bboxes", 1, 100, 4)}, nil, LayoutYOLONAS},
	}
	for _, c := range ok {
		info, err := Inspect(outputsModel(t, false, c.meta, c.outs...))
		if err != nil || info.Layout != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, info.Layout, err, c.want)
			continue
		}
		if c.want == LayoutYOLONAS && (info.Outputs[0].Name != "bboxes" && info.Outputs[0].Name != "pred_bboxes") {
			t.Errorf("%s: boxes output %q", c.name, info.Outputs[0].Name)
		}
	}
}

// Decoding a warm Decoder allocates nothing, for the multi-output layouts too.
func TestDecodeOutputsNoAlloc(t *testing.T) {
	outs := []Tensor{
		{Shape: []int64{1, 2}, Data: []float32{1, 2}},
		{Shape: []int64{1, 2, 4}, Data: []float32{0, 0, 8, 8, 1, 1, 4, 4}},
		{Shape: []int64{1, 2}, Data: []float32{0.9, 0.8}},
	}
	var d Decoder
	spec := spec64(LayoutDETR)
	if c, err := d.DecodeOutputs(outs, spec, 0, 0.5); err != nil || len(c) != 2 {
		t.Fatalf("%+v %v", c, err)
	}
	if n := testing.AllocsPerRun(20, func() {
		c, _ := d.DecodeOutputs(outs, spec, 0, 0.5)
		d.Top(c, 300)
	}); n != 0 {
		t.Errorf("%v allocations per decode", n)
	}
}

// Outputs whose query count the model leaves symbolic are sized by one probe run at Inspect,
// so that the backends can preallocate them.
func TestInspectProbesSymbolicQueries(t *testing.T) {
	needRuntime(t)
	g := onnxgen.NewGraph("symbolic")
	g.Input("images", onnxgen.Float, 1, 3, 64, 64)
	g.Initializer("dets_c", []int64{1, 5, 4}, make([]float32, 20))
	g.Initializer("labels_c", []int64{1, 5, 3}, make([]float32, 15))
	g.Node("Identity", []string{"dets_c"}, []string{"dets"})
	g.Node("Identity", []string{"labels_c"}, []string{"labels"})
	g.Output("dets", onnxgen.Float, 1, -1, 4)
	g.Output("labels", onnxgen.Float, 1, -1, 3)
	info, err := Inspect(writeModel(t, g, "symbolic.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Layout != LayoutRFDETR || info.Anchors != 5 || info.NumClasses != 2 ||
		info.Outputs[0].Dims[1] != 5 || info.Outputs[1].Dims[1] != 5 || info.OutputDims[1] != 5 {
		t.Fatalf("%v, %d rows, %d classes, outputs %+v", info.Layout, info.Anchors, info.NumClasses, info.Outputs)
	}
	be, err := NewCPUBackend(info, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	outs, err := be.(OutputsBackend).RunOutputs(1)
	if err != nil || len(outs) != 2 || len(outs[1].Data) != 15 {
		t.Fatalf("%+v %v", outs, err)
	}
}
