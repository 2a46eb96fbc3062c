package ortgpu

import (
	"os"
	"os/exec"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

const envChild = "GSTVISION_ORTGPU_ENV_CHILD"

// In the program, onnxruntime_go creates the ONNX Runtime environment first (inference.InitRuntime)
// and ortgpu opens the same library afterwards. CreateEnv must then hand back the existing
// environment, and sessions of both must work side by side. Run in a child process so that
// the order is the program's, whatever ran before in this one.
func TestSharedEnvironment(t *testing.T) {
	lib := runtimeLibrary()
	if lib == "" {
		t.Skip("no ONNX Runtime library")
	}
	if os.Getenv(envChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSharedEnvironment$", "-test.v")
		cmd.Env = append(os.Environ(), envChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		t.Logf("child:\n%s", out)
		return
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		t.Fatal(err)
	}
	if err := Open(lib); err != nil {
		t.Fatal(err)
	}
	model := writeModel(t)
	s, err := NewSession(model, SessionOptions{cpu: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inAddr, in := cAlloc(3 * 16 * 4)
	defer cFree(in)
	outAddr, out := cAlloc(6 * 16 * 4)
	defer cFree(out)
	b, err := s.Bind(DeviceTensor{Ptr: inAddr, Shape: []int64{1, 3, 4, 4}}, DeviceTensor{Ptr: outAddr, Shape: []int64{1, 6, 16}})
	if err != nil {
		t.Fatal(err)
	}
	// onnxruntime_go's own session in the same environment
	x, err := ort.NewTensor(ort.NewShape(1, 3, 4, 4), make([]float32, 48))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	y, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 6, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer y.Destroy()
	gs, err := ort.NewAdvancedSession(model, []string{"x"}, []string{"y"}, []ort.Value{x}, []ort.Value{y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Destroy()
	for range 3 {
		if err := gs.Run(); err != nil {
			t.Fatal(err)
		}
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("onnxruntime_go and ortgpu share ONNX Runtime %s", Version())
}
