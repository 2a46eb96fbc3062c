package onnxgen

import "fmt"

// Layout names for LayoutCells: one per detector output family the product reads.
const (
	LayoutYOLOv8     = "yolov8"
	LayoutEndToEnd   = "end2end"
	LayoutRTDETR     = "rtdetr-ultralytics"
	LayoutDETR       = "detr"
	LayoutRFDETR     = "rf-detr"
	LayoutYOLONAS    = "yolo-nas"
	cellSide         = 64
	cellGrid         = 8
	cellAnchors      = cellGrid * cellGrid
	rfdetrBackground = -10
)

// CellNames are the class names LayoutCells writes into the metadata (where the family's
// exporter writes any): the classes are the cells' mean red, green and blue.
var CellNames = []string{"red", "green", "blue"}

// ImageNet normalisation, as RF-DETR feeds its input: x = (v - mean) / std per channel.
var (
	imageNetMean = []float32{0.485, 0.456, 0.406}
	imageNetStd  = []float32{0.229, 0.224, 0.225}
)

// LayoutCells is CellDetector's maths (a 64x64 input, one anchor per 8x8 cell, boxed by the
// cell, class c scored by the cell's mean of channel c) behind the outputs of one detector
// family, so a test knows the answer for any picture:
//
//	yolov8             output0 [N, 7, 64]: cx, cy, w, h, 3 scores (as CellDetector)
//	end2end            output0 [N, 64, 6]: x1, y1, x2, y2, best score, its class; metadata end2end
//	rtdetr-ultralytics output0 [N, 64, 7]: cx, cy, w, h / 64, 3 scores; RT-DETR description
//	detr               inputs images, orig_target_sizes [N, 2] int64 (w, h); outputs labels
//	                   [N, 64] int64, boxes [N, 64, 4] = the cell's x1, y1, x2, y2 / 64 times
//	                   (w, h, w, h) (so a wrong size feed moves every box), scores [N, 64]
//	rf-detr            dets [N, 64, 4] cx, cy, w, h / 64; labels [N, 64, 4] logits: background
//	                   -10, then logit(mean) of the channel with ImageNet's normalisation
//	                   undone (so an input fed without it scores wrongly)
//	yolo-nas           boxes [N, 64, 4] x1, y1, x2, y2; scores [N, 64, 3]
//
// inType and outType (Float or Float16) choose the element type of the image input and of
// the float outputs. batch -1 is dynamic. Ultralytics-style metadata (names, imgsz, stride,
// task) is written for the Ultralytics families.
func LayoutCells(layout string, batch int64, inType, outType int32) (*Graph, error) {
	g := NewGraph("cells_" + layout)
	g.Input("images", inType, batch, 3, cellSide, cellSide)
	x := "images"
	if inType == Float16 {
		g.Node("Cast", []string{x}, []string{"images_f32"}, AttrInt("to", Float))
		x = "images_f32"
	}
	if layout == LayoutRFDETR {
		// Undo the normalisation: v = x*std + mean.
		g.Initializer("in_std", []int64{1, 3, 1, 1}, imageNetStd)
		g.Initializer("in_mean", []int64{1, 3, 1, 1}, imageNetMean)
		g.Node("Mul", []string{x, "in_std"}, []string{"images_scaled"})
		g.Node("Add", []string{"images_scaled", "in_mean"}, []string{"images_plain"})
		x = "images_plain"
	}
	g.Node("AveragePool", []string{x}, []string{"pooled"}, AttrInts("kernel_shape", 8, 8), AttrInts("strides", 8, 8))
	g.InitializerInt64("flat_shape", []int64{3}, []int64{0, 3, cellAnchors})
	g.Node("Reshape", []string{"pooled", "flat_shape"}, []string{"cell_scores"}) // [N, 3, 64]
	g.Node("ReduceMax", []string{"cell_scores"}, []string{"best"}, AttrInts("axes", 1), AttrInt("keepdims", 1))
	g.Initializer("zero", nil, []float32{0})
	g.Node("Mul", []string{"best", "zero"}, []string{"zeros"}) // [N, 1, 64]: broadcasts constants to N

	// Per cell constants, channel-major [1, 4, 64].
	cxcywh := make([]float32, 4*cellAnchors)
	xyxy := make([]float32, 4*cellAnchors)
	for a := range cellAnchors {
		x0, y0 := float32(8*(a%cellGrid)), float32(8*(a/cellGrid))
		cxcywh[a], cxcywh[cellAnchors+a], cxcywh[2*cellAnchors+a], cxcywh[3*cellAnchors+a] = x0+4, y0+4, 8, 8
		xyxy[a], xyxy[cellAnchors+a], xyxy[2*cellAnchors+a], xyxy[3*cellAnchors+a] = x0, y0, x0+8, y0+8
	}
	norm := func(v []float32) []float32 {
		out := make([]float32, len(v))
		for i, f := range v {
			out[i] = f / cellSide
		}
		return out
	}
	// box adds a [1, 4, 64] constant broadcast to [N, 4, 64] as name.
	box := func(name string, v []float32) {
		g.Initializer(name+"_c", []int64{1, 4, cellAnchors}, v)
		g.Node("Add", []string{"zeros", name + "_c"}, []string{name})
	}
	transpose := func(in, out string) { g.Node("Transpose", []string{in}, []string{out}, AttrInts("perm", 0, 2, 1)) }
	// output casts a float output to outType.
	output := func(from, name string, dims ...int64) {
		if outType == Float16 {
			g.Node("Cast", []string{from}, []string{name}, AttrInt("to", Float16))
		} else {
			g.Node("Identity", []string{from}, []string{name})
		}
		g.Output(name, outType, dims...)
	}
	ultralytics := func() {
		names := ""
		for i, n := range CellNames {
			if i > 0 {
				names += ", "
			}
			names += fmt.Sprintf("%d: '%s'", i, n)
		}
		g.Metadata("stride", "8")
		g.Metadata("task", "detect")
		g.Metadata("imgsz", fmt.Sprintf("[%d, %d]", cellSide, cellSide))
		g.Metadata("names", "{"+names+"}")
	}

	switch layout {
	case LayoutYOLOv8:
		box("boxes", cxcywh)
		g.Node("Concat", []string{"boxes", "cell_scores"}, []string{"raw"}, AttrInt("axis", 1))
		output("raw", "output0", batch, 7, cellAnchors)
		ultralytics()
	case LayoutEndToEnd:
		box("boxes", xyxy)
		g.Node("ArgMax", []string{"cell_scores"}, []string{"cls_i"}, AttrInt("axis", 1), AttrInt("keepdims", 1))
		g.Node("Cast", []string{"cls_i"}, []string{"cls"}, AttrInt("to", Float))
		g.Node("Concat", []string{"boxes", "best", "cls"}, []string{"rows_t"}, AttrInt("axis", 1))
		transpose("rows_t", "rows")
		output("rows", "output0", batch, cellAnchors, 6)
		ultralytics()
		g.Metadata("end2end", "True")
	case LayoutRTDETR:
		box("boxes", norm(cxcywh))
		g.Node("Concat", []string{"boxes", "cell_scores"}, []string{"raw_t"}, AttrInt("axis", 1))
		transpose("raw_t", "raw")
		output("raw", "output0", batch, cellAnchors, 7)
		ultralytics()
		g.Metadata("description", "Ultralytics RT-DETR-l model trained on cells")
	case LayoutDETR:
		g.Input("orig_target_sizes", Int64, batch, 2)
		g.Node("Cast", []string{"orig_target_sizes"}, []string{"sizes_f"}, AttrInt("to", Float))
		g.Node("Concat", []string{"sizes_f", "sizes_f"}, []string{"sizes4"}, AttrInt("axis", 1)) // w, h, w, h
		g.InitializerInt64("sizes_shape", []int64{3}, []int64{0, 1, 4})
		g.Node("Reshape", []string{"sizes4", "sizes_shape"}, []string{"sizes3"})
		g.Initializer("boxes_n", []int64{1, cellAnchors, 4}, transposed(norm(xyxy), 4, cellAnchors))
		g.Node("Mul", []string{"boxes_n", "sizes3"}, []string{"boxes_px"})
		g.Node("ArgMax", []string{"cell_scores"}, []string{"labels"}, AttrInt("axis", 1), AttrInt("keepdims", 0))
		g.Node("ReduceMax", []string{"cell_scores"}, []string{"best_q"}, AttrInts("axes", 1), AttrInt("keepdims", 0))
		g.Output("labels", Int64, batch, cellAnchors)
		output("boxes_px", "boxes", batch, cellAnchors, 4)
		output("best_q", "scores", batch, cellAnchors)
	case LayoutRFDETR:
		box("dets_t", norm(cxcywh))
		transpose("dets_t", "dets_r")
		output("dets_r", "dets", batch, cellAnchors, 4)
		g.Initializer("p_lo", nil, []float32{1e-6})
		g.Initializer("p_hi", nil, []float32{1 - 1e-6})
		g.Initializer("one", nil, []float32{1})
		g.Node("Clip", []string{"cell_scores", "p_lo", "p_hi"}, []string{"p"})
		g.Node("Sub", []string{"one", "p"}, []string{"q"})
		g.Node("Div", []string{"p", "q"}, []string{"odds"})
		g.Node("Log", []string{"odds"}, []string{"logit"})
		g.Initializer("bg", nil, []float32{rfdetrBackground})
		g.Node("Add", []string{"zeros", "bg"}, []string{"bg_row"})
		g.Node("Concat", []string{"bg_row", "logit"}, []string{"logits_t"}, AttrInt("axis", 1))
		transpose("logits_t", "logits")
		output("logits", "labels", batch, cellAnchors, 4)
	case LayoutYOLONAS:
		box("boxes_t", xyxy)
		transpose("boxes_t", "boxes_r")
		transpose("cell_scores", "scores_r")
		output("boxes_r", "pred_boxes", batch, cellAnchors, 4)
		output("scores_r", "pred_scores", batch, cellAnchors, 3)
	default:
		return nil, fmt.Errorf("onnxgen: unknown layout %q", layout)
	}
	return g, nil
}

// transposed turns a rows×cols row-major matrix into cols×rows.
func transposed(v []float32, rows, cols int) []float32 {
	out := make([]float32, len(v))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = v[r*cols+c]
		}
	}
	return out
}

// CellLayouts lists every layout LayoutCells builds.
var CellLayouts = []string{LayoutYOLOv8, LayoutEndToEnd, LayoutRTDETR, LayoutDETR, LayoutRFDETR, LayoutYOLONAS}
