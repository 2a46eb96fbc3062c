package inference

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/onnxgen"
)

const testOpset = 17

// needRuntime initialises ONNX Runtime through InitRuntime's own search, skipping the test
// only when no library is installed at all.
func needRuntime(t testing.TB) {
	t.Helper()
	if _, err := InitRuntime(""); err != nil {
		if errors.Is(err, ErrRuntimeNotFound) {
			t.Skipf("ONNX Runtime not installed (run scripts/install-deps.sh): %v", err)
		}
		t.Fatal(err)
	}
}

func writeModel(t testing.TB, g *onnxgen.Graph, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := g.WriteFile(p, testOpset); err != nil {
		t.Fatal(err)
	}
	return p
}

// cellModel is onnxgen.CellDetector with a float32 output: its detections are known for any
// image.
func cellModel(t testing.TB, batch int64, inType int32) string {
	return writeModel(t, onnxgen.CellDetector(batch, inType, onnxgen.Float), "cells.onnx")
}

// reshapeModel's output is its input reshaped to [N, 6, 3*H*W/6]: a YOLOv8 layout with 2
// classes and 2048 anchors whose values are exactly the input's.
func reshapeModel(t testing.TB) string {
	g := onnxgen.NewGraph("reshape")
	g.Input("images", onnxgen.Float, -1, 3, 64, 64)
	g.InitializerInt64("shape", []int64{3}, []int64{0, 6, -1})
	g.Node("Reshape", []string{"images", "shape"}, []string{"output0"})
	g.Output("output0", onnxgen.Float, -1, 6, -1)
	return writeModel(t, g, "reshape.onnx")
}

// constModel outputs a constant of the given shape (plus 0 × the input's mean, so the input is
// used), for layout detection.
func constModel(t testing.TB, in []int64, out []int64, meta map[string]string) string {
	g := onnxgen.NewGraph("const")
	for k, v := range meta {
		g.Metadata(k, v)
	}
	g.Input("images", onnxgen.Float, in...)
	g.Node("ReduceMean", []string{"images"}, []string{"mean"}, onnxgen.AttrInts("axes", 1, 2, 3), onnxgen.AttrInt("keepdims", 0))
	g.InitializerInt64("s", []int64{3}, []int64{-1, 1, 1})
	g.Node("Reshape", []string{"mean", "s"}, []string{"mean3"})
	g.Initializer("zero", []int64{1}, []float32{0})
	g.Node("Mul", []string{"mean3", "zero"}, []string{"zeroed"})
	n := int64(1)
	cdims := append([]int64{1}, out[1:]...)
	for _, d := range cdims {
		n *= max(d, 1)
	}
	g.Initializer("c", cdims, make([]float32, n))
	g.Node("Add", []string{"zeroed", "c"}, []string{"output0"})
	g.Output("output0", onnxgen.Float, out...)
	return writeModel(t, g, "const.onnx")
}

func TestInspectGood(t *testing.T) {
	needRuntime(t)
	info, err := Inspect(cellModel(t, -1, onnxgen.Float))
	if err != nil {
		t.Fatal(err)
	}
	if info.InputName != "images" || info.OutputName != "output0" || info.InputW != 64 || info.InputH != 64 ||
		info.FixedBatch != 0 || info.InputFloat16 || info.Layout != LayoutYOLOv8 || info.NumClasses != 3 || info.Anchors != 64 {
		t.Fatalf("v8: %+v", info)
	}
	if info.Layout.String() != "yolov8" {
		t.Fatalf("layout string %q", info.Layout)
	}

	// YOLOv5 head on 64x64: 3 anchors per cell of the 8x8, 4x4 and 2x2 grids = 252; 2 classes.
	v5, err := Inspect(constModel(t, []int64{1, 3, 64, 64}, []int64{1, 252, 7}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if v5.Layout != LayoutYOLOv5 || v5.NumClasses != 2 || v5.Anchors != 252 || v5.FixedBatch != 1 || v5.Layout.String() != "yolov5" {
		t.Fatalf("v5: %+v", v5)
	}

	f16, err := Inspect(cellModel(t, 1, onnxgen.Float16))
	if err != nil {
		t.Fatal(err)
	}
	if !f16.InputFloat16 || f16.OutputFloat16 || f16.FixedBatch != 1 {
		t.Fatalf("float16: %+v", f16)
	}

	dyn, err := Inspect(reshapeModel(t))
	if err != nil {
		t.Fatal(err)
	}
	// ORT infers the declared-dynamic anchor count from the fixed input size.
	if dyn.Layout != LayoutYOLOv8 || dyn.NumClasses != 2 || dyn.Anchors != 2048 {
		t.Fatalf("reshape: %+v", dyn)
	}
}

func TestInspectDynamicSizeMetadata(t *testing.T) {
	needRuntime(t)
	p := constModel(t, []int64{-1, 3, -1, -1}, []int64{-1, 6, 100},
		map[string]string{"imgsz": "[320, 480]", "names": "{0: 'cat', 1: 'dog'}"})
	info, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	if !info.DynamicSize || info.InputH != 320 || info.InputW != 480 || info.NumClasses != 2 {
		t.Fatalf("%+v", info)
	}
	labels, warn, err := LabelsForModel("", info)
	if err != nil || warn != "" || strings.Join(labels, ",") != "cat,dog" {
		t.Fatalf("labels %v %q %v", labels, warn, err)
	}
}

func TestInspectErrors(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.onnx")
	_, err := Inspect(missing)
	if !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing: %v", err)
	}

	garbage := filepath.Join(dir, "garbage.onnx")
	os.WriteFile(garbage, []byte("this is not a protobuf, just text\x00\x01\x02"), 0o644)
	_, err = Inspect(garbage)
	if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), garbage) {
		t.Fatalf("garbage: %v", err)
	}
	t.Logf("garbage file: %v", err)

	_, err = Inspect(dir)
	if !errors.Is(err, ErrBadModel) {
		t.Fatalf("directory: %v", err)
	}

	layouts := []struct {
		name string
		out  []int64
	}{
		{"square", []int64{1, 6, 6}},
		{"rank 4", []int64{1, 1, 6, 100}},
		{"rows of 7", []int64{1, 300, 7}},
		{"no classes", []int64{1, 4, 100}},
	}
	for _, l := range layouts {
		p := constModel(t, []int64{1, 3, 64, 64}, l.out, nil)
		_, err := Inspect(p)
		if !errors.Is(err, ErrUnknownLayout) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "expected") {
			t.Errorf("%s: %v", l.name, err)
		}
		t.Logf("%s: %v", l.name, err)
	}

	// Two inputs.
	g := onnxgen.NewGraph("two")
	g.Input("a", onnxgen.Float, 1, 3, 8, 8)
	g.Input("b", onnxgen.Float, 1, 3, 8, 8)
	g.Node("Add", []string{"a", "b"}, []string{"output0"})
	g.Output("output0", onnxgen.Float, 1, 3, 8, 8)
	_, err = Inspect(writeModel(t, g, "two.onnx"))
	if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), `input "b"`) || !strings.Contains(err.Error(), "orig_target_sizes") {
		t.Errorf("two inputs: %v", err)
	}

	// Not an image input.
	g = onnxgen.NewGraph("flat")
	g.Input("x", onnxgen.Float, 1, 100)
	g.Node("Relu", []string{"x"}, []string{"output0"})
	g.Output("output0", onnxgen.Float, 1, 100)
	_, err = Inspect(writeModel(t, g, "flat.onnx"))
	if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), "[N,3,H,W]") {
		t.Errorf("flat input: %v", err)
	}
}

func TestInitRuntime(t *testing.T) {
	needRuntime(t)
	v1, err := InitRuntime("")
	if err != nil || v1 == "" {
		t.Fatalf("%q %v", v1, err)
	}
	// Later calls return the first result whatever they ask for.
	v2, err := InitRuntime("/nonexistent/libonnxruntime.so.1")
	if err != nil || v2 != v1 {
		t.Fatalf("second call: %q %v", v2, err)
	}
	if p := RuntimeLibraryPath(); !strings.Contains(filepath.Base(p), "libonnxruntime.so") { // .so.1 from npm, .so in the GPU kit
		t.Fatalf("library path %q", p)
	}
	t.Logf("onnxruntime %s from %s", v1, RuntimeLibraryPath())
}

func TestFindRuntime(t *testing.T) {
	t.Setenv("ONNXRUNTIME_SHARED_LIBRARY_PATH", "")
	t.Setenv("ORT_LIB", "")
	bad := "/nonexistent/dir/libonnxruntime.so.1"
	if _, _, err := findRuntime(bad); !errors.Is(err, ErrRuntimeNotFound) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("explicit path: %v", err)
	}
	t.Setenv("ORT_LIB", bad)
	if _, _, err := findRuntime(""); !errors.Is(err, ErrRuntimeNotFound) || !strings.Contains(err.Error(), "$ORT_LIB") {
		t.Fatalf("ORT_LIB: %v", err)
	}
	t.Setenv("ORT_LIB", "")
	// From the package directory the repository's copy is found through the parents.
	if p, _, err := findRuntime(""); err != nil || !strings.HasSuffix(p, "libonnxruntime.so.1") {
		t.Fatalf("search: %q %v", p, err)
	}
	// Nowhere to be found: fall back to the loader's search, listing what was tried.
	if isFile(runtimeInstallPath) {
		return
	}
	dir := t.TempDir()
	p, tried, err := findRuntimeFrom("", []string{dir})
	if err != nil || p != runtimeSonameOnly || !strings.Contains(strings.Join(tried, " "), filepath.Join(dir, runtimeRelPath)) {
		t.Fatalf("fallback: %q %v %v", p, tried, err)
	}
}

// TestInspectProbesSymbolicOutput: an export whose output axes are all symbolic is run once to
// learn its layout.
func TestInspectProbesSymbolicOutput(t *testing.T) {
	g := onnxgen.NewGraph("symbolic")
	g.Input("images", onnxgen.Float, -1, 3, 64, 64)
	g.Output("output0", onnxgen.Float, -1, -1, -1)
	g.InitializerInt64("shape", []int64{3}, []int64{0, 6, -1})
	g.Node("AveragePool", []string{"images"}, []string{"pooled"}, onnxgen.AttrInts("kernel_shape", 8, 8), onnxgen.AttrInts("strides", 8, 8))
	g.Node("Reshape", []string{"pooled", "shape"}, []string{"output0"})
	p := filepath.Join(t.TempDir(), "symbolic.onnx")
	if err := g.WriteFile(p, 17); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Layout != LayoutYOLOv8 || info.NumClasses != 2 || info.Anchors != 32 {
		t.Fatalf("got layout %v, %d classes, %d anchors; want yolov8, 2, 32", info.Layout, info.NumClasses, info.Anchors)
	}
}
