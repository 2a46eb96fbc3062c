package ortgpu

import (
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/gstvision/gstvision/internal/onnxgen"
)

// BindAll binds two inputs (one int64) and two outputs (one int64), as a DETR export needs,
// on the CPU provider with host memory.
func TestBindAllTwoInputsOnCPU(t *testing.T) {
	openRuntime(t)
	g := onnxgen.NewGraph("two_inputs")
	g.Input("x", onnxgen.Float, -1, 3, 4, 4)
	g.Input("sizes", onnxgen.Int64, -1, 2)
	g.InitializerInt64("flat", []int64{2}, []int64{0, 48})
	g.Node("Reshape", []string{"x", "flat"}, []string{"xf"})
	g.InitializerInt64("axis1", []int64{1}, []int64{1})
	g.Node("ReduceSum", []string{"sizes", "axis1"}, []string{"rowsum"}, onnxgen.AttrInt("keepdims", 1))
	g.Node("Cast", []string{"rowsum"}, []string{"rowsum_f"}, onnxgen.AttrInt("to", onnxgen.Float))
	g.Node("Mul", []string{"xf", "rowsum_f"}, []string{"scaled"})
	g.Node("Identity", []string{"sizes"}, []string{"labels"})
	g.Output("scaled", onnxgen.Float, -1, 48)
	g.Output("labels", onnxgen.Int64, -1, 2)
	p := filepath.Join(t.TempDir(), "two.onnx")
	if err := g.WriteFile(p, 17); err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(p, SessionOptions{cpu: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 2
	xAddr, x := cAlloc(n * 48 * 4)
	defer cFree(x)
	szAddr, sz := cAlloc(n * 2 * 8)
	defer cFree(sz)
	outAddr, out := cAlloc(n * 48 * 4)
	defer cFree(out)
	labAddr, lab := cAlloc(n * 2 * 8)
	defer cFree(lab)
	for i := range n * 48 {
		binary.LittleEndian.PutUint32(x[4*i:], math.Float32bits(float32(i)))
	}
	for i, v := range []int64{3, 4, 10, 20} {
		binary.LittleEndian.PutUint64(sz[8*i:], uint64(v))
	}
	b, err := s.BindAll(
		[]DeviceTensor{{Name: "x", Ptr: xAddr, Shape: []int64{n, 3, 4, 4}}, {Name: "sizes", Ptr: szAddr, Shape: []int64{n, 2}, Elem: ElemInt64}},
		[]DeviceTensor{{Name: "scaled", Ptr: outAddr, Shape: []int64{n, 48}}, {Name: "labels", Ptr: labAddr, Shape: []int64{n, 2}, Elem: ElemInt64}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Run(); err != nil {
		t.Fatal(err)
	}
	got := f32s(out)
	for i := range n * 48 {
		want := float32(i) * 7
		if i >= 48 {
			want = float32(i) * 30
		}
		if got[i] != want {
			t.Fatalf("scaled[%d] = %v, want %v", i, got[i], want)
		}
	}
	for i, v := range []int64{3, 4, 10, 20} {
		if g := int64(binary.LittleEndian.Uint64(lab[8*i:])); g != v {
			t.Fatalf("labels[%d] = %d, want %d", i, g, v)
		}
	}
	// An int64 input bound as float32 is refused.
	if _, err := s.BindAll(
		[]DeviceTensor{{Name: "x", Ptr: xAddr, Shape: []int64{n, 3, 4, 4}}, {Name: "sizes", Ptr: szAddr, Shape: []int64{n, 2}}},
		[]DeviceTensor{{Name: "scaled", Ptr: outAddr, Shape: []int64{n, 48}}}); !errors.Is(err, ErrBinding) {
		t.Errorf("float32 sizes: %v, want ErrBinding", err)
	}
}
