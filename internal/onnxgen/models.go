package onnxgen

// CellDetector is a YOLOv8-layout detector on a 64x64 input with 3 classes, whose answer is
// known for any image: each of its 64 anchors is one 8x8 cell, boxed by the cell itself and
// scored by the cell's mean R, G and B. Output "output0" [batch, 7, 64]; inType and outType
// (Float or Float16) choose the element type at either end. batch -1 is dynamic.
//
//	images → AveragePool 8x8/8 → [N,3,8,8] → Reshape [N,3,64] → Pad 4 leading channels of 0
//	→ Add boxes ([1,7,64]: cx, cy, w, h per cell, 0 for the class channels)
func CellDetector(batch int64, inType, outType int32) *Graph {
	g := NewGraph("cells")
	g.Input("images", inType, batch, 3, 64, 64)
	x := "images"
	if inType == Float16 {
		g.Node("Cast", []string{x}, []string{"images_f32"}, AttrInt("to", Float))
		x = "images_f32"
	}
	g.Node("AveragePool", []string{x}, []string{"pooled"}, AttrInts("kernel_shape", 8, 8), AttrInts("strides", 8, 8))
	g.InitializerInt64("flat_shape", []int64{3}, []int64{0, 3, 64})
	g.Node("Reshape", []string{"pooled", "flat_shape"}, []string{"scores"})
	g.InitializerInt64("pads", []int64{6}, []int64{0, 4, 0, 0, 0, 0})
	g.Node("Pad", []string{"scores", "pads"}, []string{"padded"})
	boxes := make([]float32, 7*64)
	for a := range 64 {
		boxes[0*64+a] = float32(8*(a%8) + 4)
		boxes[1*64+a] = float32(8*(a/8) + 4)
		boxes[2*64+a] = 8
		boxes[3*64+a] = 8
	}
	g.Initializer("boxes", []int64{1, 7, 64}, boxes)
	out := "output0"
	if outType == Float16 {
		out = "output_f32"
	}
	g.Node("Add", []string{"padded", "boxes"}, []string{out})
	if outType == Float16 {
		g.Node("Cast", []string{out}, []string{"output0"}, AttrInt("to", Float16))
	}
	g.Output("output0", outType, batch, 7, 64)
	return g
}
