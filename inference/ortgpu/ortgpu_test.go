package ortgpu

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenErrors(t *testing.T) {
	if Version() != "" {
		t.Skip("ONNX Runtime already opened in this process")
	}
	if err := Open(""); !errors.Is(err, ErrLoad) {
		t.Errorf(`Open("") = %v, want ErrLoad`, err)
	}
	err := Open("/nonexistent/libonnxruntime.so")
	if !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), "/nonexistent/libonnxruntime.so") {
		t.Errorf("Open(missing) = %v, want ErrLoad naming the path", err)
	}
	err = Open("libc.so.6")
	if !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), "OrtGetApiBase") {
		t.Errorf("Open(libc) = %v, want ErrLoad: not ONNX Runtime", err)
	}
	if _, err := NewSession("model.onnx", SessionOptions{}); !errors.Is(err, ErrNotOpen) {
		t.Errorf("NewSession before Open = %v, want ErrNotOpen", err)
	}
}

func TestResolve(t *testing.T) {
	decl := []TensorInfo{{Name: "images", ElemType: elemFloat, Shape: []int64{-1, 3, 640, 640}}}
	ok := DeviceTensor{Ptr: 0x1000, Shape: []int64{4, 3, 640, 640}}
	if err := resolve(&ok, decl, "input"); err != nil || ok.Name != "images" {
		t.Errorf("resolve(good) = %v, name %q", err, ok.Name)
	}
	if ok.Bytes() != 4*3*640*640*4 {
		t.Errorf("Bytes = %d", ok.Bytes())
	}
	for _, bad := range []DeviceTensor{
		{Ptr: 0, Shape: []int64{1, 3, 640, 640}},
		{Ptr: 1, Shape: []int64{1, 3, 320, 640}},
		{Ptr: 1, Shape: []int64{1, 3, 640}},
		{Ptr: 1, Shape: []int64{0, 3, 640, 640}},
		{Ptr: 1, Shape: []int64{1, 3, 640, 640}, Float16: true},
		{Ptr: 1, Shape: []int64{1, 3, 640, 640}, Name: "other"},
		{Ptr: 1},
	} {
		if err := resolve(&bad, decl, "input"); !errors.Is(err, ErrBinding) {
			t.Errorf("resolve(%+v) = %v, want ErrBinding", bad, err)
		}
	}
	h := DeviceTensor{Shape: []int64{2, 84, 8400}, Float16: true}
	if h.Bytes() != 2*84*8400*2 {
		t.Errorf("float16 Bytes = %d", h.Bytes())
	}
}

func TestCUDARelated(t *testing.T) {
	for msg, want := range map[string]bool{
		"Failed to load library libonnxruntime_providers_cuda.so with error: ...": true,
		"CUDA failure 100: no CUDA-capable device is detected":                    true,
		"Could not load library libcudnn.so.9":                                    true,
		"Load model from x.onnx failed: Protobuf parsing failed":                  false,
	} {
		if got := cudaRelated(&Error{Op: "CreateSession", Code: 1, Msg: msg}); got != want {
			t.Errorf("cudaRelated(%q) = %v", msg, got)
		}
	}
}
