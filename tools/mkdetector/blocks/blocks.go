package blocks

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gstvision/gstvision/internal/onnxgen"
	"github.com/gstvision/gstvision/internal/simulate"
)

// Params are the knobs of the generated detector. DefaultParams gives the shipped model's.
type Params struct {
	Size      int     // input side in pixels (square, like a YOLO export's imgsz)
	PreStride int     // the image is first averaged over PreStride×PreStride pixels
	Stride    int     // anchor grid stride in input pixels; one anchor per class per cell
	Ramp      float64 // colour ramp: a pixel counts 0 below Ramp·strength, 1 above (1−Ramp)·strength
	MemberMin float64 // a cell belongs to a block when its mask coverage exceeds this
	ScoreMin  float64 // only cells covered more than this get a score (their box is exact)
	Kernel    int     // propagation window (odd): 1×Kernel along rows, Kernel×1 along columns
	MaxSpan   float64 // largest block side the propagation covers, as a fraction of Size
	Big       float32 // stands for ±infinity in the propagation
	Opset     int64
	Classes   []string
	ClassRGB  [][3]uint8
}

// DefaultParams returns the parameters of the shipped models/blocks.onnx.
func DefaultParams() Params {
	return Params{
		Size:      640,
		PreStride: 2,
		Stride:    8,
		Ramp:      0.25,
		MemberMin: 0.1,
		ScoreMin:  0.9,
		Kernel:    5,
		MaxSpan:   0.35,
		Big:       1e4,
		Opset:     17,
		Classes:   simulate.Classes,
		ClassRGB:  simulate.ClassRGB,
	}
}

// Grid returns the number of anchor cells along one side.
func (p Params) Grid() int { return p.Size / p.Stride }

// Anchors returns A, the anchor count of the output [N, 4+classes, A]: one anchor per class per
// grid cell.
func (p Params) Anchors() int { return len(p.Classes) * p.Grid() * p.Grid() }

// Iterations returns how many propagation rounds (one 1×k pass for the x extents, one k×1 pass
// for the y extents) the model runs: enough for an extent to travel across a block MaxSpan·Size
// pixels wide (plus a partly covered cell).
func (p Params) Iterations() int {
	cells := int(p.MaxSpan*float64(p.Size))/p.Stride + 2
	r := p.Kernel / 2
	return (cells - 1 + r - 1) / r
}

func (p Params) validate() error {
	switch {
	case p.Size <= 0 || p.PreStride <= 0 || p.Stride <= 0:
		return fmt.Errorf("size %d, pre-stride %d, stride %d: must be positive", p.Size, p.PreStride, p.Stride)
	case p.Stride%p.PreStride != 0 || p.Size%p.Stride != 0:
		return fmt.Errorf("stride %d must divide size %d and be a multiple of pre-stride %d", p.Stride, p.Size, p.PreStride)
	case p.Kernel < 3 || p.Kernel%2 == 0:
		return fmt.Errorf("kernel %d: must be odd and at least 3", p.Kernel)
	case p.Ramp <= 0 || p.Ramp >= 0.5:
		return fmt.Errorf("ramp %g: must be in (0, 0.5)", p.Ramp)
	case p.MemberMin <= 0 || p.MemberMin >= p.ScoreMin || p.ScoreMin >= 1:
		return fmt.Errorf("member threshold %g, score threshold %g: need 0 < member < score < 1", p.MemberMin, p.ScoreMin)
	case p.MaxSpan <= 0 || p.MaxSpan > 1:
		return fmt.Errorf("max span %g: must be in (0, 1]", p.MaxSpan)
	case p.Big < float32(4*p.Size):
		return fmt.Errorf("big %g: must exceed every coordinate", p.Big)
	case len(p.Classes) == 0 || len(p.Classes) != len(p.ClassRGB):
		return fmt.Errorf("%d classes with %d colours", len(p.Classes), len(p.ClassRGB))
	}
	return nil
}

// colourFilter is how one class's pixels are recognised: its dominant channel minus each of the
// other two, at least strength (0..1) for the pure colour and 0 for any grey.
type colourFilter struct {
	main, other1, other2 int
	strength             float64
}

// filters derives each class's colour filter from its RGB. Each class needs a distinct dominant
// channel that clearly exceeds the other two.
func filters(rgb [][3]uint8) ([]colourFilter, error) {
	seen := map[int]int{}
	fs := make([]colourFilter, len(rgb))
	for c, col := range rgb {
		m := 0
		for ch := 1; ch < 3; ch++ {
			if col[ch] > col[m] {
				m = ch
			}
		}
		o1, o2 := (m+1)%3, (m+2)%3
		s := (float64(col[m]) - max(float64(col[o1]), float64(col[o2]))) / 255
		if s < 0.2 {
			return nil, fmt.Errorf("class %d colour %v: not saturated enough to detect", c, col)
		}
		if prev, dup := seen[m]; dup {
			return nil, fmt.Errorf("classes %d and %d share dominant channel %d", prev, c, m)
		}
		seen[m] = c
		fs[c] = colourFilter{main: m, other1: o1, other2: o2, strength: s}
	}
	return fs, nil
}

// Build returns the serialized detector.
//
// Graph (N is the dynamic batch, K the class count, G = Size/Stride):
//
//	images [N,3,S,S] ─AveragePool PreStride→ Conv 1×1 (two, 1-D) → Min → Clip 0..1   class masks
//	  ─AveragePool/MaxPool→ m, mx, my [N,K,G,G]        area, horizontal, vertical cell coverage
//	member = m > MemberMin; C = member ? +Big : −Big
//	X0 = Min(edges x2, −x1 refined by mx, C); Y0 = Min(edges y2, −y1 refined by my, C)
//	repeat: X = Min(MaxPool 1×k(X), C); Y = Min(MaxPool k×1(Y), C)   geodesic max inside the block
//	boxes = Conv 1×1 (x2,−x1,y2,−y1 → cx,cy,w,h); scores = m > ScoreMin ? mean3×3(m) : 0
//	output0 [N, 4+K, K·G·G]: anchor a = class·G² + row·G + col, only its class scores.
func Build(p Params) ([]byte, error) { return BuildLayout(p, LayoutYOLOv8) }

// BuildLayout returns the detector with the outputs (and inputs) of one detector family; the
// detection maths is Build's, so the simulator's ground truth checks every family. See
// layouts.go for the heads.
func BuildLayout(p Params, layout string) ([]byte, error) {
	if !slices.Contains(Layouts, layout) {
		return nil, fmt.Errorf("mkdetector: unknown layout %q (known: %s)", layout, strings.Join(Layouts, ", "))
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("mkdetector: %w", err)
	}
	fs, err := filters(p.ClassRGB)
	if err != nil {
		return nil, fmt.Errorf("mkdetector: %w", err)
	}
	K := int64(len(p.Classes))
	G := int64(p.Grid())
	S := int64(p.Size)
	s := float32(p.Stride)
	r := int64(p.Kernel / 2)
	k := int64(p.Kernel)

	g := onnxgen.NewGraph("gstvision_blocks")
	g.Doc("gstvision simulated-blocks detector: finds the solid red, green and blue blocks of the " +
		"simulated cameras. Built from plain ONNX operators by tools/mkdetector; YOLOv8 output layout.")
	g.Input("images", onnxgen.Float, -1, 3, S, S)
	in := inputFor(g, layout)

	// 1. Per-pixel class masks at PreStride resolution. For class c with dominant channel m:
	// mask = clip((min(x_m − x_o1, x_m − x_o2)/strength − ramp)/(1 − 2·ramp), 0, 1), a ramp
	// symmetric about half the colour, so blurred edges keep their coverage.
	pre := int64(p.PreStride)
	src := in
	if pre > 1 {
		g.Node("AveragePool", []string{in}, []string{"small"},
			onnxgen.AttrInts("kernel_shape", pre, pre), onnxgen.AttrInts("strides", pre, pre))
		src = "small"
	}
	wa := make([]float32, K*3)
	wb := make([]float32, K*3)
	bias := make([]float32, K)
	for c, f := range fs {
		scale := 1 / (f.strength * (1 - 2*p.Ramp))
		wa[c*3+f.main] = float32(scale)
		wa[c*3+f.other1] = float32(-scale)
		wb[c*3+f.main] = float32(scale)
		wb[c*3+f.other2] = float32(-scale)
		bias[c] = float32(-p.Ramp / (1 - 2*p.Ramp))
	}
	// The 1×1 filters run as 1-D convolutions over the flattened picture: ONNX Runtime would turn
	// a 2-D Conv with so few channels into its blocked NCHWc layout, padding 3 channels to 8 or 16.
	hw := (S / pre) * (S / pre)
	g.Initializer("mask_wa", []int64{K, 3, 1}, wa)
	g.Initializer("mask_wb", []int64{K, 3, 1}, wb)
	g.Initializer("mask_b", []int64{K}, bias)
	g.InitializerInt64("shape_flat", []int64{3}, []int64{0, 3, hw})
	g.InitializerInt64("shape_masks", []int64{4}, []int64{0, K, S / pre, S / pre})
	g.Node("Reshape", []string{src, "shape_flat"}, []string{"flat"})
	g.Node("Conv", []string{"flat", "mask_wa", "mask_b"}, []string{"diff_a"}, onnxgen.AttrInts("kernel_shape", 1))
	g.Node("Conv", []string{"flat", "mask_wb", "mask_b"}, []string{"diff_b"}, onnxgen.AttrInts("kernel_shape", 1))
	g.Node("Min", []string{"diff_a", "diff_b"}, []string{"diff"})
	g.Initializer("zero", nil, []float32{0})
	g.Initializer("one", nil, []float32{1})
	g.Node("Clip", []string{"diff", "zero", "one"}, []string{"mask_flat"})
	g.Node("Reshape", []string{"mask_flat", "shape_masks"}, []string{"mask"})

	// 2. Coverage of each grid cell (the anchors): its area share, for membership and scores, and
	// its horizontal and vertical extents (the best pixel row's, the best pixel column's), which
	// place a block's edges inside the cell even where the cell is only partly covered the other
	// way (along a block's top, bottom and corners).
	cell := int64(p.Stride / p.PreStride)
	g.Node("AveragePool", []string{"mask"}, []string{"row_cover"},
		onnxgen.AttrInts("kernel_shape", 1, cell), onnxgen.AttrInts("strides", 1, cell))
	g.Node("AveragePool", []string{"row_cover"}, []string{"cover"},
		onnxgen.AttrInts("kernel_shape", cell, 1), onnxgen.AttrInts("strides", cell, 1))
	g.Node("MaxPool", []string{"row_cover"}, []string{"cover_x"},
		onnxgen.AttrInts("kernel_shape", cell, 1), onnxgen.AttrInts("strides", cell, 1))
	g.Node("AveragePool", []string{"mask"}, []string{"col_cover"},
		onnxgen.AttrInts("kernel_shape", cell, 1), onnxgen.AttrInts("strides", cell, 1))
	g.Node("MaxPool", []string{"col_cover"}, []string{"cover_y"},
		onnxgen.AttrInts("kernel_shape", 1, cell), onnxgen.AttrInts("strides", 1, cell))

	// 3. Membership and the clamp C = ±Big, for a pair of coordinate channel groups.
	g.Initializer("member_min", nil, []float32{float32(p.MemberMin)})
	g.Initializer("big", nil, []float32{p.Big})
	g.Initializer("neg_big", nil, []float32{-p.Big})
	g.Node("Greater", []string{"cover", "member_min"}, []string{"member"})
	g.Node("Where", []string{"member", "big", "neg_big"}, []string{"clamp1"})
	g.Node("Concat", []string{"clamp1", "clamp1"}, []string{"clamp"}, onnxgen.AttrInt("axis", 1))

	// 4. Edge coordinates refined by coverage: a cell covered f from its left side ends at
	// x0 + f·stride; covered from its right side it starts at x0 + stride − f·stride. Channels:
	// x2 (K), −x1 (K) from the horizontal coverage; y2 (K), −y1 (K) from the vertical one.
	offX := make([]float32, 2*K*G)
	offY := make([]float32, 2*K*G)
	for c := range K {
		for i := range G {
			x0 := float32(i) * s
			offX[c*G+i] = x0
			offX[(K+c)*G+i] = -x0 - s
			offY[c*G+i] = x0
			offY[(K+c)*G+i] = -x0 - s
		}
	}
	g.Initializer("stride", nil, []float32{s})
	g.Initializer("off_x", []int64{1, 2 * K, 1, G}, offX)
	g.Initializer("off_y", []int64{1, 2 * K, G, 1}, offY)
	for _, a := range []string{"x", "y"} {
		g.Node("Mul", []string{"cover_" + a, "stride"}, []string{"cover_px_" + a})
		g.Node("Concat", []string{"cover_px_" + a, "cover_px_" + a}, []string{"cover_px2_" + a}, onnxgen.AttrInt("axis", 1))
		g.Node("Add", []string{"cover_px2_" + a, "off_" + a}, []string{"edge_" + a})
		g.Node("Min", []string{"edge_" + a, "clamp"}, []string{"prop_" + a + "_0"})
	}

	// 5. Geodesic propagation: the running maximum spreads only through member cells, along rows
	// for the x channels and along columns for the y channels, so every cell of a (rectangular)
	// block ends up with the block's extremes.
	curX, curY := "prop_x_0", "prop_y_0"
	for i := range p.Iterations() {
		rows := fmt.Sprintf("rows_%d", i)
		cols := fmt.Sprintf("cols_%d", i)
		nextX := fmt.Sprintf("prop_x_%d", i+1)
		nextY := fmt.Sprintf("prop_y_%d", i+1)
		g.Node("MaxPool", []string{curX}, []string{rows},
			onnxgen.AttrInts("kernel_shape", 1, k), onnxgen.AttrInts("pads", 0, r, 0, r))
		g.Node("Min", []string{rows, "clamp"}, []string{nextX})
		g.Node("MaxPool", []string{curY}, []string{cols},
			onnxgen.AttrInts("kernel_shape", k, 1), onnxgen.AttrInts("pads", r, 0, r, 0))
		g.Node("Min", []string{cols, "clamp"}, []string{nextY})
		curX, curY = nextX, nextY
	}
	g.Node("Concat", []string{curX, curY}, []string{"prop"}, onnxgen.AttrInt("axis", 1))
	cur := "prop"

	// 6. Cells outside every block get an empty box at their centre.
	cenX := make([]float32, 4*G)
	cenY := make([]float32, 4*G)
	for i := range G {
		c := float32(i)*s + s/2
		cenX[0*G+i] = c  // x2
		cenX[1*G+i] = -c // −x1
		cenY[2*G+i] = c  // y2
		cenY[3*G+i] = -c // −y1
	}
	g.Initializer("centre_x", []int64{1, 4, 1, 1, G}, cenX)
	g.Initializer("centre_y", []int64{1, 4, 1, G, 1}, cenY)
	g.Node("Add", []string{"centre_x", "centre_y"}, []string{"centre"})
	g.InitializerInt64("shape_v5", []int64{5}, []int64{0, 4, K, G, G})
	g.InitializerInt64("shape_m5", []int64{5}, []int64{0, 1, K, G, G})
	g.Node("Reshape", []string{cur, "shape_v5"}, []string{"extent5"})
	g.Node("Reshape", []string{"member", "shape_m5"}, []string{"member5"})
	g.Node("Where", []string{"member5", "extent5", "centre"}, []string{"extent"})

	// 7. (x2, −x1, y2, −y1) → (cx, cy, w, h).
	g.Initializer("box_w", []int64{4, 4, 1, 1}, []float32{
		0.5, -0.5, 0, 0, // cx = (x2 + x1)/2
		0, 0, 0.5, -0.5, // cy
		1, 1, 0, 0, // w = x2 − x1
		0, 0, 1, 1, // h
	})
	g.InitializerInt64("shape_v4", []int64{4}, []int64{0, 4, K * G, G})
	g.InitializerInt64("shape_rows4", []int64{3}, []int64{0, 4, -1})
	g.Node("Reshape", []string{"extent", "shape_v4"}, []string{"extent4"})
	g.Node("Conv", []string{"extent4", "box_w"}, []string{"box4"}, onnxgen.AttrInts("kernel_shape", 1, 1))
	boxesT, scoresT := baseNames(layout)
	g.Node("Reshape", []string{"box4", "shape_rows4"}, []string{boxesT})

	// 8. Scores: the mean coverage around the cell (≈1 inside a block, lower near its edges), only
	// for cells (almost) fully inside a block and only in the anchor's own class row. A fully
	// covered cell's row and column are fully covered too (blocks are rectangles), so its box is
	// exact: every scored anchor of a block reports the same box. Partly covered edge cells carry
	// the propagation but score 0, since their row or column may miss a thin corner cell.
	g.Initializer("score_min", nil, []float32{float32(p.ScoreMin)})
	g.Node("Greater", []string{"cover", "score_min"}, []string{"inside"})
	g.Node("AveragePool", []string{"cover"}, []string{"cover_mean"},
		onnxgen.AttrInts("kernel_shape", 3, 3), onnxgen.AttrInts("pads", 1, 1, 1, 1),
		onnxgen.AttrInt("count_include_pad", 0))
	g.Node("Where", []string{"inside", "cover_mean", "zero"}, []string{"score"})
	g.Node("Reshape", []string{scoreFor(g, p, layout), "shape_m5"}, []string{"score5"})
	eye := make([]float32, K*K)
	for c := range K {
		eye[c*K+c] = 1
	}
	g.Initializer("class_eye", []int64{1, K, K, 1, 1}, eye)
	g.Node("Mul", []string{"score5", "class_eye"}, []string{"score_rows5"})
	g.InitializerInt64("shape_rowsK", []int64{3}, []int64{0, K, -1})
	g.Node("Reshape", []string{"score_rows5", "shape_rowsK"}, []string{scoresT})

	if layout != LayoutYOLOv8 {
		if err := head(g, p, layout, boxesT, scoresT); err != nil {
			return nil, err
		}
	} else {
		g.Node("Concat", []string{"boxes", "scores"}, []string{"output0"}, onnxgen.AttrInt("axis", 1))
		g.Output("output0", onnxgen.Float, -1, 4+K, K*G*G)
	}

	// YOLO exports carry their metadata the same way; the product may read "names". The
	// official DETR, RF-DETR and YOLO-NAS exports carry none.
	if layout == LayoutDETR || layout == LayoutRFDETR || layout == LayoutYOLONAS {
		return model(g, p)
	}
	names := make([]string, len(p.Classes))
	for i, n := range p.Classes {
		if strings.ContainsAny(n, "'\\") {
			return nil, errors.New("mkdetector: class names must not contain quotes or backslashes")
		}
		names[i] = fmt.Sprintf("%d: '%s'", i, n)
	}
	desc := "gstvision simulated-blocks detector (tools/mkdetector)"
	if layout == LayoutRTDETR {
		desc = "Ultralytics RT-DETR layout of the gstvision simulated-blocks detector (tools/mkdetector)"
	}
	g.Metadata("description", desc)
	g.Metadata("author", "gstvision")
	g.Metadata("task", "detect")
	g.Metadata("stride", fmt.Sprint(p.Stride))
	g.Metadata("imgsz", fmt.Sprintf("[%d, %d]", p.Size, p.Size))
	g.Metadata("names", "{"+strings.Join(names, ", ")+"}")
	if layout == LayoutEndToEnd {
		g.Metadata("end2end", "True")
	}
	return model(g, p)
}

func model(g *onnxgen.Graph, p Params) ([]byte, error) {
	b, err := g.Model(p.Opset)
	if err != nil {
		return nil, fmt.Errorf("mkdetector: %w", err)
	}
	return b, nil
}
