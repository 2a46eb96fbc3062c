package onnxgen_test

import (
	"testing"

	"github.com/gstvision/gstvision/internal/onnxgen"
	"github.com/gstvision/gstvision/internal/onnxgen/ortest"
)

// Every layout builds; the float32-only ones compute the cell maths behind their layout: a
// picture with cell 9 (x 8..16, y 8..16) pure green gives that cell's row.
func TestLayoutCells(t *testing.T) {
	for _, l := range onnxgen.CellLayouts {
		for _, typ := range []int32{onnxgen.Float, onnxgen.Float16} {
			g, err := onnxgen.LayoutCells(l, -1, typ, typ)
			if err != nil {
				t.Fatal(err)
			}
			model(t, g)
		}
	}
	if _, err := onnxgen.LayoutCells("yolov99", -1, onnxgen.Float, onnxgen.Float); err == nil {
		t.Error("unknown layout accepted")
	}
	img := make([]float32, 2*3*64*64) // batch of 2: image 1 only
	for y := 8; y < 16; y++ {
		for x := 8; x < 16; x++ {
			img[3*4096+1*4096+y*64+x] = 1
		}
	}
	in := ortest.Tensor{Name: "images", Shape: []int64{2, 3, 64, 64}, Data: img}
	cases := []struct {
		layout string
		output string
		rowLen int
		want   []float32 // image 1, row 9
	}{
		{onnxgen.LayoutEndToEnd, "output0", 6, []float32{8, 8, 16, 16, 1, 1}},
		{onnxgen.LayoutRTDETR, "output0", 7, []float32{0.1875, 0.1875, 0.125, 0.125, 0, 1, 0}},
		{onnxgen.LayoutYOLONAS, "pred_scores", 3, []float32{0, 1, 0}},
	}
	for _, c := range cases {
		g, err := onnxgen.LayoutCells(c.layout, -1, onnxgen.Float, onnxgen.Float)
		if err != nil {
			t.Fatal(err)
		}
		out := ortest.Run(t, model(t, g), []string{c.output}, in)[0]
		if out.Shape[0] != 2 || out.Shape[1] != 64 || out.Shape[2] != int64(c.rowLen) {
			t.Fatalf("%s: shape %v", c.layout, out.Shape)
		}
		at := (64 + 9) * c.rowLen
		checkData(t, c.layout, out.Data[at:at+c.rowLen], c.want)
	}
}
