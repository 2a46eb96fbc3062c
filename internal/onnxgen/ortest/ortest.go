// Package ortest runs ONNX models in ONNX Runtime (through onnxruntime_go) for tests: it locates
// the shared library, initializes the runtime once per process and runs float32 graphs.
//
// Tests call Init, which skips the test with a clear message when the library is absent.
package ortest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// EnvLibraryPath names the environment variable that overrides the shared library's location.
const EnvLibraryPath = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// repoRelative is where the repository keeps its copy of the library.
const repoRelative = "third_party/onnxruntime/libonnxruntime.so.1"

// ErrNoLibrary reports that the ONNX Runtime shared library could not be found.
var ErrNoLibrary = errors.New("ortest: ONNX Runtime shared library not found")

// LibraryPath returns the ONNX Runtime shared library to load: $ONNXRUNTIME_SHARED_LIBRARY_PATH
// when set, otherwise third_party/onnxruntime/libonnxruntime.so.1 in the first directory at or
// above the working directory that has one.
func LibraryPath() (string, error) {
	if p := os.Getenv(EnvLibraryPath); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %w", ErrNoLibrary, EnvLibraryPath, p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("ortest: working directory: %w", err)
	}
	for {
		p := filepath.Join(dir, repoRelative)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: set %s or put it at %s", ErrNoLibrary, EnvLibraryPath, repoRelative)
		}
		dir = parent
	}
}

var (
	initOnce sync.Once
	initErr  error
)

// Setup loads the library and initializes the ONNX Runtime environment, once per process.
// It returns an error wrapping ErrNoLibrary when the library is absent.
func Setup() error {
	initOnce.Do(func() {
		if ort.IsInitialized() {
			return
		}
		var p string
		p, initErr = LibraryPath()
		if initErr != nil {
			return
		}
		ort.SetSharedLibraryPath(p)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("ortest: initialize ONNX Runtime from %s: %w", p, err)
		}
	})
	return initErr
}

// Init calls Setup and skips tb when the library is absent; any other failure fails it.
func Init(tb testing.TB) {
	tb.Helper()
	if err := Setup(); err != nil {
		if errors.Is(err, ErrNoLibrary) {
			tb.Skipf("skipping: %v", err)
		}
		tb.Fatal(err)
	}
}

// Tensor is a named float32 tensor: an input to feed or an output read back.
type Tensor struct {
	Name  string
	Shape []int64
	Data  []float32
}

// Session is one ONNX Runtime session over a serialized model, on the CPU.
type Session struct {
	s       *ort.DynamicAdvancedSession
	inputs  []string
	outputs []string
}

// NewSession creates a CPU session for model with the given input and output names, running
// its operators on threads threads (0 lets ONNX Runtime choose).
func NewSession(model []byte, inputs, outputs []string, threads int) (*Session, error) {
	if err := Setup(); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ortest: session options: %w", err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return nil, fmt.Errorf("ortest: intra-op threads: %w", err)
		}
		if err := opts.SetInterOpNumThreads(1); err != nil {
			return nil, fmt.Errorf("ortest: inter-op threads: %w", err)
		}
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("ortest: create session: %w", err)
	}
	return &Session{s: s, inputs: inputs, outputs: outputs}, nil
}

// Run feeds the inputs (in the session's input order) and returns the outputs with their shapes.
func (s *Session) Run(inputs ...Tensor) ([]Tensor, error) {
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("ortest: %d inputs given, the session has %d", len(inputs), len(s.inputs))
	}
	in := make([]ort.Value, len(inputs))
	defer func() {
		for _, v := range in {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, t := range inputs {
		v, err := ort.NewTensor(ort.NewShape(t.Shape...), t.Data)
		if err != nil {
			return nil, fmt.Errorf("ortest: input %q: %w", t.Name, err)
		}
		in[i] = v
	}
	out := make([]ort.Value, len(s.outputs))
	defer func() {
		for _, v := range out {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err := s.s.Run(in, out); err != nil {
		return nil, fmt.Errorf("ortest: run: %w", err)
	}
	res := make([]Tensor, len(out))
	for i, v := range out {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("ortest: output %q is %T, not a float32 tensor", s.outputs[i], v)
		}
		res[i] = Tensor{
			Name:  s.outputs[i],
			Shape: append([]int64(nil), t.GetShape()...),
			Data:  append([]float32(nil), t.GetData()...),
		}
	}
	return res, nil
}

// Close releases the session.
func (s *Session) Close() error {
	if err := s.s.Destroy(); err != nil {
		return fmt.Errorf("ortest: destroy session: %w", err)
	}
	return nil
}

// Run is a one-shot helper: it builds a single-threaded session for model, runs it once on the
// inputs and returns the named outputs, failing tb on any error.
func Run(tb testing.TB, model []byte, outputs []string, inputs ...Tensor) []Tensor {
	tb.Helper()
	Init(tb)
	names := make([]string, len(inputs))
	for i, t := range inputs {
		names[i] = t.Name
	}
	s, err := NewSession(model, names, outputs, 1)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	res, err := s.Run(inputs...)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}
