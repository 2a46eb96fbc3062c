package ortgpu

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/onnxgen"
)

// runtimeLibrary finds an ONNX Runtime library the way the project does (environment, then
// third_party/onnxruntime above the working directory); "" when there is none.
func runtimeLibrary() string {
	for _, e := range []string{"ONNXRUNTIME_SHARED_LIBRARY_PATH", "ORT_LIB"} {
		if p := os.Getenv(e); p != "" {
			return p
		}
	}
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "third_party", "onnxruntime", "libonnxruntime.so.1")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func openRuntime(t *testing.T) string {
	t.Helper()
	lib := runtimeLibrary()
	if lib == "" {
		t.Skip("no ONNX Runtime library (set ONNXRUNTIME_SHARED_LIBRARY_PATH or run scripts/install-deps.sh)")
	}
	if err := Open(lib); err != nil {
		t.Fatalf("Open(%s): %v", lib, err)
	}
	return lib
}

// writeModel writes x [N,3,4,4] -> y [N,6,16]: y[:, 0:3] = x flattened, y[:, 3:6] = 2x.
func writeModel(t *testing.T) string {
	t.Helper()
	g := onnxgen.NewGraph("ortgpu_test")
	g.Input("x", onnxgen.Float, -1, 3, 4, 4)
	g.Output("y", onnxgen.Float, -1, 6, 16)
	g.InitializerInt64("shape", []int64{3}, []int64{0, 3, 16})
	g.Initializer("two", []int64{1}, []float32{2})
	g.Node("Reshape", []string{"x", "shape"}, []string{"flat"})
	g.Node("Mul", []string{"flat", "two"}, []string{"twice"})
	g.Node("Concat", []string{"flat", "twice"}, []string{"y"}, onnxgen.AttrInt("axis", 1))
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := g.WriteFile(p, 17); err != nil {
		t.Fatal(err)
	}
	return p
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// The whole C API path (session, names, shapes, tensors over caller memory, IoBinding, probe)
// on the CPU provider with host memory: no GPU needed.
func TestSessionPlumbingOnCPU(t *testing.T) {
	openRuntime(t)
	s, err := NewSession(writeModel(t), SessionOptions{cpu: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Inputs) != 1 || s.Inputs[0].Name != "x" || s.Inputs[0].ElemType != elemFloat ||
		len(s.Inputs[0].Shape) != 4 || s.Inputs[0].Shape[0] > 0 || s.Inputs[0].Shape[3] != 4 {
		t.Errorf("inputs %+v", s.Inputs)
	}
	if len(s.Outputs) != 1 || s.Outputs[0].Name != "y" || s.Outputs[0].Float16() || len(s.Outputs[0].Shape) != 3 ||
		s.Outputs[0].Shape[1] != 6 {
		t.Errorf("outputs %+v", s.Outputs)
	}
	const n = 2
	inAddr, in := cAlloc(n * 3 * 16 * 4)
	defer cFree(in)
	outAddr, out := cAlloc(n * 6 * 16 * 4)
	defer cFree(out)
	for i := 0; i < n*3*16; i++ {
		binary.LittleEndian.PutUint32(in[4*i:], math.Float32bits(float32(i)*0.5))
	}
	inT := DeviceTensor{Ptr: inAddr, Shape: []int64{n, 3, 4, 4}}
	shape, err := s.ProbeOutputShape(inT, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 3 || shape[0] != n || shape[1] != 6 || shape[2] != 16 {
		t.Errorf("probed output shape %v, want [2 6 16]", shape)
	}
	b, err := s.Bind(inT, DeviceTensor{Ptr: outAddr, Shape: shape})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
	}
	got := f32s(out)
	for img := 0; img < n; img++ {
		for c := 0; c < 6; c++ {
			for k := 0; k < 16; k++ {
				x := float32(img*48+(c%3)*16+k) * 0.5
				if c >= 3 {
					x *= 2
				}
				if v := got[img*96+c*16+k]; v != x {
					t.Fatalf("y[%d,%d,%d] = %v, want %v", img, c, k, v, x)
				}
			}
		}
	}
	if _, err := s.Bind(inT, DeviceTensor{Ptr: outAddr, Shape: []int64{n, 7, 16}}); !errors.Is(err, ErrBinding) {
		t.Errorf("binding a wrong output shape: %v, want ErrBinding", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("Run after Close = %v", err)
	}
}

// Without libonnxruntime_providers_cuda.so beside the core, a CUDA session must fail with
// ErrCUDAProviderUnavailable, not fall back to the CPU.
func TestMissingCUDAProvider(t *testing.T) {
	lib := openRuntime(t)
	if _, err := os.Stat(filepath.Join(filepath.Dir(lib), "libonnxruntime_providers_cuda.so")); err == nil {
		t.Skip("the CUDA provider is installed beside the runtime; the gpu-tagged tests cover this case")
	}
	_, err := NewSession(writeModel(t), SessionOptions{})
	if !errors.Is(err, ErrCUDAProviderUnavailable) {
		t.Fatalf("NewSession without the CUDA provider = %v, want ErrCUDAProviderUnavailable", err)
	}
	t.Log(err)
}

// FixBatch turns the named batch dimension into a fixed one (so that shape arithmetic folds
// away, as a CUDA graph needs); a batch fixed at another size is refused, naming both.
func TestFixBatch(t *testing.T) {
	openRuntime(t)
	path := writeModel(t)
	plain, err := NewSession(path, SessionOptions{cpu: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got := plain.Inputs[0].DimNames; len(got) != 4 || got[0] != "N" || got[1] != "" {
		t.Fatalf("dimension names %q, want [N, '', '', '']", got)
	}
	fixed, err := NewSession(path, SessionOptions{cpu: true, FixBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer fixed.Close()
	if got := fixed.Inputs[0].Shape; got[0] != 4 {
		t.Fatalf("input shape with FixBatch 4: %v", got)
	}
	inAddr, in := cAlloc(4 * 3 * 16 * 4)
	defer cFree(in)
	outAddr, out := cAlloc(4 * 6 * 16 * 4)
	defer cFree(out)
	if _, err := fixed.Bind(DeviceTensor{Ptr: inAddr, Shape: []int64{2, 3, 4, 4}}, DeviceTensor{Ptr: outAddr, Shape: []int64{2, 6, 16}}); !errors.Is(err, ErrBinding) {
		t.Errorf("binding a batch of 2 to a session fixed at 4: %v, want ErrBinding", err)
	}
	b, err := fixed.Bind(DeviceTensor{Ptr: inAddr, Shape: []int64{4, 3, 4, 4}}, DeviceTensor{Ptr: outAddr, Shape: []int64{4, 6, 16}})
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(in[4*(3*48+5):], math.Float32bits(1.5)) // image 3, channel 0, pixel 5
	if err := b.Run(); err != nil {
		t.Fatal(err)
	}
	if got := f32s(out)[3*96+3*16+5]; got != 3 {
		t.Errorf("image 3's doubled pixel = %v, want 3", got)
	}

	g := onnxgen.NewGraph("fixed_batch")
	g.Input("x", onnxgen.Float, 2, 3)
	g.Output("y", onnxgen.Float, 2, 3)
	g.Node("Identity", []string{"x"}, []string{"y"})
	p := filepath.Join(t.TempDir(), "fixed.onnx")
	if err := g.WriteFile(p, 17); err != nil {
		t.Fatal(err)
	}
	if s, err := NewSession(p, SessionOptions{cpu: true, FixBatch: 2}); err != nil {
		t.Errorf("FixBatch equal to the model's own batch: %v", err)
	} else {
		s.Close()
	}
	_, err = NewSession(p, SessionOptions{cpu: true, FixBatch: 4})
	if !errors.Is(err, ErrSession) || !strings.Contains(err.Error(), "fixed batch of 2, not 4") {
		t.Errorf("FixBatch 4 on a model fixed at 2: %v", err)
	}
}
