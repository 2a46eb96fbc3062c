package ortgpu

import (
	"errors"
	"fmt"
)

// Sentinel errors of ortgpu; returned errors wrap them (test with errors.Is) and carry ONNX
// Runtime's own message. Calls on a closed Session or Binding return an error wrapping
// defs.ErrClosed.
var (
	// ErrLoad: the ONNX Runtime library could not be opened, is not ONNX Runtime, is too old
	// for C API version APIVersion, or is not the library already opened.
	ErrLoad = errors.New("cannot use the ONNX Runtime library")
	// ErrNotOpen: NewSession was called before a successful Open.
	ErrNotOpen = errors.New("ortgpu: Open has not succeeded")
	// ErrCUDAProviderUnavailable: ONNX Runtime could not set up its CUDA execution provider
	// (libonnxruntime_providers_cuda.so missing next to the core library, CUDA or cuDNN
	// libraries missing, no device). ortgpu never falls back to the CPU.
	ErrCUDAProviderUnavailable = errors.New("ONNX Runtime CUDA execution provider unavailable")
	// ErrSession: the model could not be loaded into a session.
	ErrSession = errors.New("cannot create ONNX Runtime session")
	// ErrCUDAGraph: SessionOptions.CUDAGraph was asked for a model ONNX Runtime cannot capture
	// (nodes left on the CPU, control flow).
	ErrCUDAGraph = errors.New("the model cannot run as a CUDA graph")
	// ErrBinding: a tensor bound to a session does not fit its input or output, or the
	// element type is not float32/float16.
	ErrBinding = errors.New("bad tensor binding")
	// ErrRun: ONNX Runtime failed to run the model.
	ErrRun = errors.New("ONNX Runtime run failed")
)

// Error is a failed ONNX Runtime call: the OrtApi function, the OrtErrorCode and the message.
type Error struct {
	Op   string
	Code int
	Msg  string
}

var errorCodeNames = []string{"ORT_OK", "ORT_FAIL", "ORT_INVALID_ARGUMENT", "ORT_NO_SUCHFILE", "ORT_NO_MODEL",
	"ORT_ENGINE_ERROR", "ORT_RUNTIME_EXCEPTION", "ORT_INVALID_PROTOBUF", "ORT_MODEL_LOADED", "ORT_NOT_IMPLEMENTED",
	"ORT_INVALID_GRAPH", "ORT_EP_FAIL", "ORT_MODEL_LOAD_CANCELED", "ORT_MODEL_REQUIRES_COMPILATION", "ORT_NOT_FOUND"}

func (e *Error) Error() string {
	name := fmt.Sprintf("code %d", e.Code)
	if e.Code >= 0 && e.Code < len(errorCodeNames) {
		name = errorCodeNames[e.Code]
	}
	return fmt.Sprintf("onnxruntime: %s: %s: %s", e.Op, name, e.Msg)
}
