package inference

import "errors"

// Sentinel errors of the inference package; returned errors wrap them (test with errors.Is) and
// add the path, shape or value concerned. Calls on a closed Batcher or Backend return an error
// wrapping defs.ErrClosed.
var (
	// ErrRuntimeNotFound: no ONNX Runtime shared library was found where InitRuntime looked.
	ErrRuntimeNotFound = errors.New("onnxruntime library not found")
	// ErrRuntimeInit: the ONNX Runtime library was found but could not be loaded or initialised.
	ErrRuntimeInit = errors.New("onnxruntime initialisation failed")
	// ErrModelNotFound: the model file does not exist.
	ErrModelNotFound = errors.New("model file not found")
	// ErrBadModel: the model file could not be read or parsed as ONNX, or its inputs/outputs
	// are not those of an image detector.
	ErrBadModel = errors.New("unusable model")
	// ErrUnknownLayout: the model's output shape matches no supported YOLO layout.
	ErrUnknownLayout = errors.New("unknown detector output layout")
	// ErrLabels: the labels file is unreadable or does not match the model.
	ErrLabels = errors.New("bad labels")
	// ErrFloat16OnCPU: the model takes float16 input, which only the CUDA backend feeds.
	ErrFloat16OnCPU = errors.New("float16 input is supported on device cuda only")
	// ErrBadFrame: a frame's planes are missing or too small for its size and strides.
	ErrBadFrame = errors.New("bad frame")
	// ErrBadOutput: a model output does not have the shape the decoder expects.
	ErrBadOutput = errors.New("bad model output")
	// ErrBatch: a batch size or slot index is out of range.
	ErrBatch = errors.New("batch out of range")
)
