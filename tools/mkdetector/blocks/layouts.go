package blocks

import (
	"fmt"

	"github.com/gstvision/gstvision/internal/onnxgen"
)

// Output layouts BuildLayout writes: the detector families gstvision reads.
const (
	LayoutYOLOv8   = "yolov8"             // output0 [N, 4+K, A] (the shipped model)
	LayoutEndToEnd = "end2end"            // output0 [N, 300, 6] x1 y1 x2 y2 score class; metadata end2end
	LayoutRTDETR   = "rtdetr-ultralytics" // output0 [N, 300, 4+K] normalised cxcywh + scores
	LayoutDETR     = "detr"               // + orig_target_sizes; labels, boxes, scores [N, 300...]
	LayoutRFDETR   = "rf-detr"            // ImageNet-normalised input; dets, labels (logits, background first)
	LayoutYOLONAS  = "yolo-nas"           // pred_boxes [N, A, 4] x1y1x2y2, pred_scores [N, A, K]
	// Queries is the row count of the end-to-end and DETR layouts (as their exporters' 300).
	Queries = 300
)

// Layouts lists every layout BuildLayout writes.
var Layouts = []string{LayoutYOLOv8, LayoutEndToEnd, LayoutRTDETR, LayoutDETR, LayoutRFDETR, LayoutYOLONAS}

// imageNet mean and std: RF-DETR's input normalisation, undone at the variant's input.
var (
	imageNetMean = []float32{0.485, 0.456, 0.406}
	imageNetStd  = []float32{0.229, 0.224, 0.225}
)

// dedupe: the layouts without NMS report each block once.
func dedupe(layout string) bool {
	return layout == LayoutEndToEnd || layout == LayoutRTDETR || layout == LayoutDETR || layout == LayoutRFDETR
}

// inputFor declares the family's extra input and returns the image tensor the detection
// maths reads: RF-DETR's input arrives ImageNet-normalised, so v = x·std + mean first.
func inputFor(g *onnxgen.Graph, layout string) string {
	switch layout {
	case LayoutDETR:
		g.Input("orig_target_sizes", onnxgen.Int64, -1, 2)
	case LayoutRFDETR:
		g.Initializer("h_std", []int64{1, 3, 1, 1}, imageNetStd)
		g.Initializer("h_mean", []int64{1, 3, 1, 1}, imageNetMean)
		g.Node("Mul", []string{"images", "h_std"}, []string{"h_scaled"})
		g.Node("Add", []string{"h_scaled", "h_mean"}, []string{"h_images"})
		return "h_images"
	}
	return "images"
}

// scoreFor returns the per-cell score tensor [N, K, G, G] the anchors get. The YOLO heads score
// every cell inside a block (NMS keeps one); the end-to-end and DETR heads have no NMS behind
// them, so only a block's best cell keeps its score: a cell scores when no cell of its class
// within MaxSpan (the largest block) scores higher. A bias of 1e-6 per cell index towards the
// top-left breaks ties, so a block whose inside cells all score 1 still has one peak.
func scoreFor(g *onnxgen.Graph, p Params, layout string) string {
	if !dedupe(layout) {
		return "score"
	}
	G := int64(p.Grid())
	bias := make([]float32, G*G)
	for i := range bias {
		bias[i] = 1e-6 * float32(i)
	}
	g.Initializer("h_bias", []int64{1, 1, G, G}, bias)
	g.Node("Sub", []string{"score", "h_bias"}, []string{"h_biased"})
	r := int64(p.MaxSpan*float64(p.Size))/int64(p.Stride) + 1
	g.Node("MaxPool", []string{"h_biased"}, []string{"h_rowmax"},
		onnxgen.AttrInts("kernel_shape", 1, 2*r+1), onnxgen.AttrInts("pads", 0, r, 0, r))
	g.Node("MaxPool", []string{"h_rowmax"}, []string{"h_areamax"},
		onnxgen.AttrInts("kernel_shape", 2*r+1, 1), onnxgen.AttrInts("pads", r, 0, r, 0))
	g.Node("GreaterOrEqual", []string{"h_biased", "h_areamax"}, []string{"h_peak"})
	g.Node("Where", []string{"h_peak", "score", "zero"}, []string{"h_score"})
	return "h_score"
}

// baseNames are the names of the detection maths' boxes and scores tensors: "boxes" and
// "scores" as in the shipped model, except where the family's outputs take those names.
func baseNames(layout string) (boxes, scores string) {
	if layout == LayoutDETR {
		return "h_boxes_raw", "h_scores_raw"
	}
	return "boxes", "scores"
}

// head turns boxes [N, 4, A] (cx, cy, w, h in input pixels) and scores [N, K, A] into the
// layout's outputs.
func head(g *onnxgen.Graph, p Params, layout, boxes, scores string) error {
	K := int64(len(p.Classes))
	S := float32(p.Size)
	g.Node("Transpose", []string{boxes}, []string{"h_cxcywh"}, onnxgen.AttrInts("perm", 0, 2, 1)) // [N, A, 4]
	g.Node("Transpose", []string{scores}, []string{"h_scores_t"}, onnxgen.AttrInts("perm", 0, 2, 1))
	// x1 = cx − w/2, y1 = cy − h/2, x2 = cx + w/2, y2 = cy + h/2, as a [4, 4] product.
	g.Initializer("h_to_xyxy", []int64{4, 4}, []float32{
		1, 0, 1, 0,
		0, 1, 0, 1,
		-0.5, 0, 0.5, 0,
		0, -0.5, 0, 0.5,
	})
	g.Node("MatMul", []string{"h_cxcywh", "h_to_xyxy"}, []string{"h_xyxy"})
	g.Initializer("h_inv_size", nil, []float32{1 / S})
	g.Node("Mul", []string{"h_cxcywh", "h_inv_size"}, []string{"h_cxcywh_n"})
	g.Node("Mul", []string{"h_xyxy", "h_inv_size"}, []string{"h_xyxy_n"})

	if layout == LayoutYOLONAS {
		g.Node("Identity", []string{"h_xyxy"}, []string{"pred_boxes"})
		g.Node("Identity", []string{"h_scores_t"}, []string{"pred_scores"})
		g.Output("pred_boxes", onnxgen.Float, -1, int64(p.Anchors()), 4)
		g.Output("pred_scores", onnxgen.Float, -1, int64(p.Anchors()), K)
		return nil
	}

	// The best Queries anchors, best first (TopK), and their rows of each tensor.
	g.Node("ReduceMax", []string{scores}, []string{"h_best"}, onnxgen.AttrInts("axes", 1), onnxgen.AttrInt("keepdims", 0))
	g.Node("ArgMax", []string{scores}, []string{"h_cls"}, onnxgen.AttrInt("axis", 1), onnxgen.AttrInt("keepdims", 0))
	g.InitializerInt64("h_k", []int64{1}, []int64{Queries})
	g.Node("TopK", []string{"h_best", "h_k"}, []string{"h_top", "h_idx"}, onnxgen.AttrInt("axis", 1))
	g.InitializerInt64("h_axis2", []int64{1}, []int64{2})
	g.Node("Unsqueeze", []string{"h_idx", "h_axis2"}, []string{"h_idx3"})
	g.Node("Unsqueeze", []string{"h_top", "h_axis2"}, []string{"h_top3"})
	expanded := map[int64]bool{}
	gather := func(src string, width int64) string {
		shape := fmt.Sprintf("h_expand_%d", width)
		idx := fmt.Sprintf("h_idx_%d", width)
		if !expanded[width] {
			expanded[width] = true
			g.InitializerInt64(shape, []int64{3}, []int64{1, 1, width})
			g.Node("Expand", []string{"h_idx3", shape}, []string{idx})
		}
		out := "h_g_" + src
		g.Node("GatherElements", []string{src, idx}, []string{out}, onnxgen.AttrInt("axis", 1))
		return out
	}
	g.Node("GatherElements", []string{"h_cls", "h_idx"}, []string{"h_top_cls"}, onnxgen.AttrInt("axis", 1)) // [N, Q] int64

	switch layout {
	case LayoutEndToEnd:
		g.Node("Cast", []string{"h_top_cls"}, []string{"h_top_clsf"}, onnxgen.AttrInt("to", onnxgen.Float))
		g.Node("Unsqueeze", []string{"h_top_clsf", "h_axis2"}, []string{"h_top_cls3"})
		g.Node("Concat", []string{gather("h_xyxy", 4), "h_top3", "h_top_cls3"}, []string{"output0"}, onnxgen.AttrInt("axis", 2))
		g.Output("output0", onnxgen.Float, -1, Queries, 6)
	case LayoutRTDETR:
		g.Node("Concat", []string{gather("h_cxcywh_n", 4), gather("h_scores_t", K)}, []string{"output0"}, onnxgen.AttrInt("axis", 2))
		g.Output("output0", onnxgen.Float, -1, Queries, 4+K)
	case LayoutDETR:
		// boxes = normalised x1, y1, x2, y2 × (w, h, w, h) of orig_target_sizes.
		g.Node("Cast", []string{"orig_target_sizes"}, []string{"h_sizes"}, onnxgen.AttrInt("to", onnxgen.Float))
		g.Node("Concat", []string{"h_sizes", "h_sizes"}, []string{"h_sizes4"}, onnxgen.AttrInt("axis", 1))
		g.InitializerInt64("h_sizes_shape", []int64{3}, []int64{0, 1, 4})
		g.Node("Reshape", []string{"h_sizes4", "h_sizes_shape"}, []string{"h_sizes3"})
		g.Node("Mul", []string{gather("h_xyxy_n", 4), "h_sizes3"}, []string{"boxes"})
		g.Node("Identity", []string{"h_top_cls"}, []string{"labels"})
		g.Node("Identity", []string{"h_top"}, []string{"scores"})
		g.Output("labels", onnxgen.Int64, -1, Queries)
		g.Output("boxes", onnxgen.Float, -1, Queries, 4)
		g.Output("scores", onnxgen.Float, -1, Queries)
	case LayoutRFDETR:
		g.Node("Identity", []string{gather("h_cxcywh_n", 4)}, []string{"dets"})
		g.Initializer("h_p_lo", nil, []float32{1e-6})
		g.Initializer("h_p_hi", nil, []float32{1 - 1e-6})
		g.Node("Clip", []string{gather("h_scores_t", K), "h_p_lo", "h_p_hi"}, []string{"h_p"})
		g.Initializer("h_one", nil, []float32{1})
		g.Node("Sub", []string{"h_one", "h_p"}, []string{"h_q"})
		g.Node("Div", []string{"h_p", "h_q"}, []string{"h_odds"})
		g.Node("Log", []string{"h_odds"}, []string{"h_logit"})
		g.Initializer("h_zero3", nil, []float32{0})
		g.Initializer("h_background", nil, []float32{-10})
		g.Node("Mul", []string{"h_top3", "h_zero3"}, []string{"h_zeros3"})
		g.Node("Add", []string{"h_zeros3", "h_background"}, []string{"h_bg"})
		g.Node("Concat", []string{"h_bg", "h_logit"}, []string{"labels"}, onnxgen.AttrInt("axis", 2))
		g.Output("dets", onnxgen.Float, -1, Queries, 4)
		g.Output("labels", onnxgen.Float, -1, Queries, K+1)
	}
	return nil
}
