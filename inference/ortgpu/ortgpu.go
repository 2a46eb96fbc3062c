// Package ortgpu is a thin cgo layer over the ONNX Runtime C API for what onnxruntime_go does
// not do: sessions on the CUDA execution provider whose inputs and outputs are bound to device
// memory the caller owns (IoBinding), running on the caller's CUDA stream. It opens the same
// libonnxruntime the process already loaded (dlopen returns the same handle, so there is one
// runtime and one environment) and calls it through the OrtApi function table, declared here
// by slot number rather than through ONNX Runtime's header.
//
// The ONNX Runtime environment is a process-wide singleton: OrtApi.CreateEnv returns the
// existing one (onnxruntime_go's, if it came first) and counts a reference, so ortgpu takes one
// reference at Open and keeps it for the life of the process.
//
// Sessions never fall back to the CPU: if the CUDA execution provider cannot be set up,
// NewSession fails with ErrCUDAProviderUnavailable.
package ortgpu

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/gstvision/gstvision/defs"
)

// APIVersion is the ONNX Runtime C API version requested: ONNX Runtime 1.22 or newer works
// (the project ships 1.29). Every function used exists since 1.16 or earlier.
const APIVersion = 22

// Values of ONNX Runtime enums (onnxruntime_c_api.h).
const (
	ortLoggingLevelWarning = 2
	ortFail                = 1
	ortDisableAll          = 0  // GraphOptimizationLevel ORT_DISABLE_ALL
	ortEnableAll           = 99 // GraphOptimizationLevel ORT_ENABLE_ALL
	ortDeviceAllocator     = 0  // OrtAllocatorType
	ortMemTypeDefault      = 0  // OrtMemType
	elemFloat              = 1  // ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
	elemFloat16            = 10 // ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16
)

var state struct {
	mu      sync.Mutex
	path    string
	version string
	env     *C.OrtEnv
}

// status turns an OrtStatus into an *Error (nil for success) and releases it.
func status(op string, s *C.OrtStatus) error {
	if s == nil {
		return nil
	}
	e := &Error{Op: op, Code: int(C.gv_GetErrorCode(s)), Msg: C.GoString(C.gv_GetErrorMessage(s))}
	C.gv_ReleaseStatus(s)
	return e
}

// Open binds ortgpu to the ONNX Runtime library at libPath: the one the process already
// loaded (inference.RuntimeLibraryPath()). Later calls with the same path do nothing; another
// path is an error, since two copies of the runtime in one process would not share anything.
func Open(libPath string) error {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.env != nil {
		if libPath != state.path {
			return fmt.Errorf("%w: ortgpu already uses %s, asked for %s", ErrLoad, state.path, libPath)
		}
		return nil
	}
	if libPath == "" {
		return fmt.Errorf("%w: no library path (initialise the runtime first: inference.InitRuntime)", ErrLoad)
	}
	cp := C.CString(libPath)
	defer C.free(unsafe.Pointer(cp))
	var msg [512]C.char
	if rc := C.gv_ort_open(cp, APIVersion, &msg[0], C.size_t(len(msg))); rc != 0 {
		return fmt.Errorf("%w: %s: %s", ErrLoad, libPath, C.GoString(&msg[0]))
	}
	for _, s := range apiSlots {
		C.gv_ort_bind(s.id, C.int(s.slot))
	}
	if err := selfCheck(); err != nil {
		return err
	}
	logid := C.CString("gstvision-ortgpu")
	defer C.free(unsafe.Pointer(logid))
	var env *C.OrtEnv
	if err := status("CreateEnv", C.gv_CreateEnv(ortLoggingLevelWarning, logid, &env)); err != nil {
		return fmt.Errorf("%w: %w", ErrLoad, err)
	}
	state.env, state.path, state.version = env, libPath, C.GoString(C.gv_ort_version_string())
	return nil
}

// selfCheck makes a status through slot CreateStatus and reads it back through GetErrorCode
// and GetErrorMessage: if the slot numbers were wrong for this library, this fails (or
// crashes) here at start-up, not in the middle of a run.
func selfCheck() error {
	const text = "gstvision ortgpu slot check"
	ct := C.CString(text)
	defer C.free(unsafe.Pointer(ct))
	s := C.gv_CreateStatus(ortFail, ct)
	if s == nil {
		return fmt.Errorf("%w: OrtApi slot check: CreateStatus returned nothing", ErrLoad)
	}
	code, msg := int(C.gv_GetErrorCode(s)), C.GoString(C.gv_GetErrorMessage(s))
	C.gv_ReleaseStatus(s)
	if code != ortFail || msg != text {
		return fmt.Errorf("%w: OrtApi slot check failed (code %d, message %q): the slot numbers do not match this library",
			ErrLoad, code, msg)
	}
	return nil
}

// Version is the ONNX Runtime version string of the opened library, "" before Open.
func Version() string {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.version
}

func env() (*C.OrtEnv, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.env == nil {
		return nil, ErrNotOpen
	}
	return state.env, nil
}

// SessionOptions configure a CUDA session.
type SessionOptions struct {
	Device int     // CUDA device ordinal (the CUDA provider's device_id)
	Stream uintptr // CUstream the provider computes on (user_compute_stream); 0 for its own
	// Threads is the intra-op thread count for the few nodes ONNX Runtime keeps on the CPU
	// (shape arithmetic); 0 means 1. More only adds spinning threads.
	Threads int
	// ConvAlgoSearch is cudnn_conv_algo_search: "HEURISTIC" (default: quick start-up),
	// "DEFAULT" or "EXHAUSTIVE" (slow start-up, sometimes faster convolutions).
	ConvAlgoSearch string
	// DisableTF32 sets use_tf32=0: float32 convolutions and matrix products then run in full
	// float32 precision instead of TF32 on tensor cores (slower, bit-closer to the CPU).
	DisableTF32 bool
	// FixBatch, if positive, fixes the first input's symbolic batch dimension to this size
	// (AddFreeDimensionOverrideByName): every shape in the model is then known when the
	// session is built, so the shape arithmetic of a dynamic-batch export is folded away
	// instead of running on the CPU. The session then takes only batches of FixBatch.
	FixBatch int64
	// CUDAGraph sets enable_cuda_graph=1: ONNX Runtime captures a run as a CUDA graph and
	// then replays it, one launch instead of one per kernel. Every node must run on the GPU
	// (use FixBatch for a dynamic-batch model), the bound tensors must stay at the same
	// addresses, and no other thread may use CUDA while the capture runs (the third run on
	// the session's thread; see ONNX Runtime's CUDA graph documentation).
	CUDAGraph bool
	// Do, if set, runs session creation and every Run: pass cuda.Worker.Do, so that they all
	// run on one OS thread with the context current. The CUDA provider keeps cuBLAS/cuDNN
	// handles and workspaces per calling thread, so a session run from whatever thread a
	// goroutine lands on grows GPU memory with every new thread.
	Do func(func() error) error

	// cpu (tests only): no CUDA provider, tensors in host memory, so that the C API plumbing
	// can be exercised on machines without a GPU.
	cpu bool
}

// TensorInfo describes a session input or output as the model declares it.
type TensorInfo struct {
	Name     string
	ElemType int      // ONNX element type: 1 float32, 10 float16, ...
	Shape    []int64  // -1 (or 0) for a symbolic dimension
	DimNames []string // the symbolic dimensions' names ("" for a fixed or unnamed one)
}

// Float16 reports whether the tensor's elements are float16.
func (t TensorInfo) Float16() bool { return t.ElemType == elemFloat16 }

// Session is an ONNX Runtime session on the CUDA execution provider. Its methods may be called
// from several goroutines; each Binding is for one goroutine at a time.
type Session struct {
	s       *C.OrtSession
	mem     *C.OrtMemoryInfo // "Cuda" device memory of the session's device
	opts    SessionOptions
	Inputs  []TensorInfo
	Outputs []TensorInfo

	mu       sync.Mutex
	closed   bool
	bindings map[*Binding]struct{}
}

func (s *Session) do(fn func() error) error {
	if s.opts.Do != nil {
		return s.opts.Do(fn)
	}
	return fn()
}

// NewSession loads the model at modelPath into a session on the CUDA execution provider of
// opts.Device. It fails with ErrCUDAProviderUnavailable when the provider cannot be set up,
// never falling back to the CPU.
func NewSession(modelPath string, opts SessionOptions) (*Session, error) {
	e, err := env()
	if err != nil {
		return nil, err
	}
	if opts.Threads <= 0 {
		opts.Threads = 1
	}
	if opts.ConvAlgoSearch == "" {
		opts.ConvAlgoSearch = "HEURISTIC"
	}
	var so *C.OrtSessionOptions
	if err := status("CreateSessionOptions", C.gv_CreateSessionOptions(&so)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSession, err)
	}
	defer C.gv_ReleaseSessionOptions(so)
	if err := status("SetIntraOpNumThreads", C.gv_SetIntraOpNumThreads(so, C.int(opts.Threads))); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSession, err)
	}
	if err := status("SetSessionGraphOptimizationLevel", C.gv_SetSessionGraphOptimizationLevel(so, ortEnableAll)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSession, err)
	}
	if opts.FixBatch > 0 {
		if err := fixBatch(e, so, modelPath, opts.FixBatch); err != nil {
			return nil, err
		}
	}
	memName := "Cuda"
	if opts.cpu {
		memName = "Cpu"
	} else if err := appendCUDA(so, opts); err != nil {
		return nil, fmt.Errorf("%w (the CUDA provider is libonnxruntime_providers_cuda.so beside %s, with "+
			"libonnxruntime_providers_shared.so; it needs the CUDA 13 runtime, cuBLAS and cuDNN 9 on the loader's path)",
			err, state.path)
	}

	s := &Session{opts: opts, bindings: map[*Binding]struct{}{}}
	cpath := C.CString(modelPath)
	defer C.free(unsafe.Pointer(cpath))
	err = s.do(func() error { return status("CreateSession", C.gv_CreateSession(e, cpath, so, &s.s)) })
	if err != nil {
		if opts.CUDAGraph && strings.Contains(err.Error(), "graph capture") {
			return nil, fmt.Errorf("%w: %s: %w", ErrCUDAGraph, modelPath, err)
		}
		if cudaRelated(err) {
			return nil, fmt.Errorf("%w: %s: %w", ErrCUDAProviderUnavailable, modelPath, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrSession, modelPath, err)
	}
	cmem := C.CString(memName)
	defer C.free(unsafe.Pointer(cmem))
	if err := status("CreateMemoryInfo", C.gv_CreateMemoryInfo(cmem, ortDeviceAllocator, C.int(opts.Device), ortMemTypeDefault, &s.mem)); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %w", ErrSession, err)
	}
	if err := s.describe(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrSession, modelPath, err)
	}
	return s, nil
}

// appendCUDA adds the CUDA execution provider with our options to so.
func appendCUDA(so *C.OrtSessionOptions, opts SessionOptions) error {
	var po *C.OrtCUDAProviderOptionsV2
	if err := status("CreateCUDAProviderOptions", C.gv_CreateCUDAProviderOptions(&po)); err != nil {
		return fmt.Errorf("%w: %w", ErrCUDAProviderUnavailable, err)
	}
	defer C.gv_ReleaseCUDAProviderOptions(po)
	kv := [][2]string{
		{"device_id", fmt.Sprint(opts.Device)},
		{"cudnn_conv_algo_search", opts.ConvAlgoSearch},
		// copies ONNX Runtime makes go on the compute stream, ordered with our own work
		{"do_copy_in_default_stream", "1"},
	}
	if opts.DisableTF32 {
		kv = append(kv, [2]string{"use_tf32", "0"})
	}
	if opts.CUDAGraph {
		kv = append(kv, [2]string{"enable_cuda_graph", "1"})
	}
	keys := make([]*C.char, len(kv))
	vals := make([]*C.char, len(kv))
	for i, p := range kv {
		keys[i], vals[i] = C.CString(p[0]), C.CString(p[1])
	}
	defer func() {
		for i := range kv {
			C.free(unsafe.Pointer(keys[i]))
			C.free(unsafe.Pointer(vals[i]))
		}
	}()
	if err := status("UpdateCUDAProviderOptions", C.gv_UpdateCUDAProviderOptions(po, &keys[0], &vals[0], C.size_t(len(kv)))); err != nil {
		return fmt.Errorf("%w: %w", ErrCUDAProviderUnavailable, err)
	}
	if opts.Stream != 0 {
		k := C.CString("user_compute_stream")
		defer C.free(unsafe.Pointer(k))
		if err := status("UpdateCUDAProviderOptionsWithValue", C.gv_UpdateCUDAProviderOptionsWithValue(po, k, C.uintptr_t(opts.Stream))); err != nil {
			return fmt.Errorf("%w: %w", ErrCUDAProviderUnavailable, err)
		}
	}
	if err := status("SessionOptionsAppendExecutionProvider_CUDA_V2", C.gv_SessionOptionsAppendExecutionProvider_CUDA_V2(so, po)); err != nil {
		return fmt.Errorf("%w: %w", ErrCUDAProviderUnavailable, err)
	}
	return nil
}

// fixBatch overrides the symbolic batch dimension of modelPath's first input to n in so. The
// dimension's name is read from a bare CPU session of the model (the override must be set
// before the real session is built).
func fixBatch(e *C.OrtEnv, so *C.OrtSessionOptions, modelPath string, n int64) error {
	var po *C.OrtSessionOptions
	if err := status("CreateSessionOptions", C.gv_CreateSessionOptions(&po)); err != nil {
		return fmt.Errorf("%w: %w", ErrSession, err)
	}
	defer C.gv_ReleaseSessionOptions(po)
	if err := status("SetSessionGraphOptimizationLevel", C.gv_SetSessionGraphOptimizationLevel(po, ortDisableAll)); err != nil {
		return fmt.Errorf("%w: %w", ErrSession, err)
	}
	probe := &Session{bindings: map[*Binding]struct{}{}}
	cpath := C.CString(modelPath)
	defer C.free(unsafe.Pointer(cpath))
	if err := status("CreateSession", C.gv_CreateSession(e, cpath, po, &probe.s)); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSession, modelPath, err)
	}
	defer probe.Close()
	if err := probe.describe(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSession, modelPath, err)
	}
	if len(probe.Inputs) == 0 || len(probe.Inputs[0].Shape) == 0 {
		return fmt.Errorf("%w: %s: fixing the batch to %d: the model has no input with a batch dimension", ErrSession, modelPath, n)
	}
	in := probe.Inputs[0]
	switch {
	case in.Shape[0] == n:
		return nil // already fixed at n
	case in.Shape[0] > 0:
		return fmt.Errorf("%w: %s: input %q has a fixed batch of %d, not %d", ErrSession, modelPath, in.Name, in.Shape[0], n)
	case in.DimNames[0] == "":
		return fmt.Errorf("%w: %s: input %q has an unnamed batch dimension, which cannot be fixed to %d", ErrSession, modelPath, in.Name, n)
	}
	name := C.CString(in.DimNames[0])
	defer C.free(unsafe.Pointer(name))
	if err := status("AddFreeDimensionOverrideByName", C.gv_AddFreeDimensionOverrideByName(so, name, C.int64_t(n))); err != nil {
		return fmt.Errorf("%w: fixing %q to %d: %w", ErrSession, in.DimNames[0], n, err)
	}
	return nil
}

// cudaRelated guesses whether a session-creation failure comes from the CUDA side (provider,
// CUDA or cuDNN libraries, device) rather than from the model.
func cudaRelated(err error) bool {
	m := strings.ToLower(err.Error())
	for _, w := range []string{"cuda", "cudnn", "cublas", "libonnxruntime_providers"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// describe reads the session's input and output names, element types and shapes.
func (s *Session) describe() error {
	var nin, nout C.size_t
	if err := status("SessionGetInputCount", C.gv_SessionGetInputCount(s.s, &nin)); err != nil {
		return err
	}
	if err := status("SessionGetOutputCount", C.gv_SessionGetOutputCount(s.s, &nout)); err != nil {
		return err
	}
	for out := 0; out < 2; out++ {
		n := nin
		if out == 1 {
			n = nout
		}
		for i := C.size_t(0); i < n; i++ {
			t, err := s.tensorInfo(out == 1, i)
			if err != nil {
				return err
			}
			if out == 1 {
				s.Outputs = append(s.Outputs, t)
			} else {
				s.Inputs = append(s.Inputs, t)
			}
		}
	}
	return nil
}

func (s *Session) tensorInfo(output bool, i C.size_t) (TensorInfo, error) {
	var t TensorInfo
	var cname *C.char
	err := status("SessionGetInputName/OutputName", C.gv_session_name(s.s, boolInt(output), i, &cname))
	if cname != nil {
		t.Name = C.GoString(cname)
		C.free(unsafe.Pointer(cname))
	}
	if err != nil {
		return t, err
	}
	var ti *C.OrtTypeInfo
	if output {
		err = status("SessionGetOutputTypeInfo", C.gv_SessionGetOutputTypeInfo(s.s, i, &ti))
	} else {
		err = status("SessionGetInputTypeInfo", C.gv_SessionGetInputTypeInfo(s.s, i, &ti))
	}
	if err != nil {
		return t, err
	}
	defer C.gv_ReleaseTypeInfo(ti)
	var tsi *C.OrtTensorTypeAndShapeInfo
	if err := status("CastTypeInfoToTensorInfo", C.gv_CastTypeInfoToTensorInfo(ti, &tsi)); err != nil {
		return t, err
	}
	if tsi == nil { // not a tensor (sequence, map): leave ElemType 0
		return t, nil
	}
	if t.ElemType, t.Shape, err = typeAndShape(tsi); err != nil || len(t.Shape) == 0 {
		return t, err
	}
	names := make([]*C.char, len(t.Shape))
	if err := status("GetSymbolicDimensions", C.gv_GetSymbolicDimensions(tsi, &names[0], C.size_t(len(names)))); err != nil {
		return t, err
	}
	t.DimNames = make([]string, len(names))
	for i, n := range names {
		if n != nil {
			t.DimNames[i] = C.GoString(n)
		}
	}
	return t, nil
}

func typeAndShape(tsi *C.OrtTensorTypeAndShapeInfo) (int, []int64, error) {
	var et C.int
	if err := status("GetTensorElementType", C.gv_GetTensorElementType(tsi, &et)); err != nil {
		return 0, nil, err
	}
	var rank C.size_t
	if err := status("GetDimensionsCount", C.gv_GetDimensionsCount(tsi, &rank)); err != nil {
		return 0, nil, err
	}
	shape := make([]int64, int(rank))
	if rank > 0 {
		if err := status("GetDimensions", C.gv_GetDimensions(tsi, (*C.int64_t)(unsafe.Pointer(&shape[0])), rank)); err != nil {
			return 0, nil, err
		}
	}
	return int(et), shape, nil
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Element types a DeviceTensor may have besides float32 and float16 (ONNX numbering), for
// DeviceTensor.Elem.
const (
	ElemInt32 = 6 // ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32
	ElemInt64 = 7 // ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64
)

// DeviceTensor is a tensor in device memory of the session's device, owned by the caller.
type DeviceTensor struct {
	Name    string // input or output name; "" for the session's first input or output
	Ptr     uintptr
	Shape   []int64
	Float16 bool // elements are float16 (else float32, unless Elem says)
	// Elem, if set, is the ONNX element type (ElemInt64, ElemInt32; 1 float32, 10 float16)
	// and overrides Float16: for a DETR export's orig_target_sizes input and labels output.
	Elem int
}

// Bytes is the tensor's size in bytes.
func (t DeviceTensor) Bytes() int64 {
	var n int64
	switch t.elemType() {
	case elemFloat16:
		n = 2
	case ElemInt64:
		n = 8
	default:
		n = 4
	}
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

func (t DeviceTensor) elemType() C.int {
	if t.Elem != 0 {
		return C.int(t.Elem)
	}
	if t.Float16 {
		return elemFloat16
	}
	return elemFloat
}

// resolve fills t.Name and checks t against the declared tensor.
func resolve(t *DeviceTensor, decl []TensorInfo, what string) error {
	if len(decl) == 0 {
		return fmt.Errorf("%w: the model has no %s", ErrBinding, what)
	}
	d := decl[0]
	if t.Name != "" {
		found := false
		for _, x := range decl {
			if x.Name == t.Name {
				d, found = x, true
				break
			}
		}
		if !found {
			return fmt.Errorf("%w: the model has no %s named %q", ErrBinding, what, t.Name)
		}
	}
	t.Name = d.Name
	if t.Ptr == 0 {
		return fmt.Errorf("%w: %s %q: null device pointer", ErrBinding, what, d.Name)
	}
	if d.ElemType != int(t.elemType()) {
		return fmt.Errorf("%w: %s %q has element type %d, tensor is %d (1 float32, 10 float16, 7 int64)", ErrBinding, what, d.Name, d.ElemType, t.elemType())
	}
	if len(t.Shape) == 0 || len(t.Shape) != len(d.Shape) {
		return fmt.Errorf("%w: %s %q has rank %d (%v), tensor shape is %v", ErrBinding, what, d.Name, len(d.Shape), d.Shape, t.Shape)
	}
	for i, v := range t.Shape {
		if v <= 0 || (d.Shape[i] > 0 && d.Shape[i] != v) {
			return fmt.Errorf("%w: %s %q is declared %v, tensor shape is %v", ErrBinding, what, d.Name, d.Shape, t.Shape)
		}
	}
	return nil
}

func (s *Session) live() error {
	if s == nil || s.closed {
		return fmt.Errorf("ortgpu: session: %w", defs.ErrClosed)
	}
	return nil
}

func (s *Session) tensor(t DeviceTensor) (*C.OrtValue, error) {
	var v *C.OrtValue
	err := status("CreateTensorWithDataAsOrtValue", C.gv_CreateTensorWithDataAsOrtValue(s.mem, C.uintptr_t(t.Ptr),
		C.size_t(t.Bytes()), (*C.int64_t)(unsafe.Pointer(&t.Shape[0])), C.size_t(len(t.Shape)), t.elemType(), &v))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %v: %w", ErrBinding, t.Name, t.Shape, err)
	}
	return v, nil
}

// Binding is a session input and output bound to device tensors: Run reads the input and
// writes the output in place, with no copies and no allocation. Make one per batch size and
// reuse it.
type Binding struct {
	s        *Session
	b        *C.OrtIoBinding
	ins, out []*C.OrtValue
	run      func() error // prebuilt so that Run does not allocate a closure
	closed   bool
}

// Bind binds in (an input) and out (an output) of the session. Tensor shapes must match the
// declared ones where those are fixed.
func (s *Session) Bind(in, out DeviceTensor) (*Binding, error) {
	return s.BindAll([]DeviceTensor{in}, []DeviceTensor{out})
}

// BindAll binds several inputs and outputs (a DETR export's image and orig_target_sizes, its
// labels, boxes and scores), each named (a "" name is the first input or output). Outputs
// not bound are not computed.
func (s *Session) BindAll(ins, outs []DeviceTensor) (*Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.live(); err != nil {
		return nil, err
	}
	if len(ins) == 0 || len(outs) == 0 {
		return nil, fmt.Errorf("%w: %d inputs and %d outputs to bind", ErrBinding, len(ins), len(outs))
	}
	ins, outs = append([]DeviceTensor(nil), ins...), append([]DeviceTensor(nil), outs...)
	for i := range ins {
		if err := resolve(&ins[i], s.Inputs, "input"); err != nil {
			return nil, err
		}
	}
	for i := range outs {
		if err := resolve(&outs[i], s.Outputs, "output"); err != nil {
			return nil, err
		}
	}
	b := &Binding{s: s}
	if err := status("CreateIoBinding", C.gv_CreateIoBinding(s.s, &b.b)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBinding, err)
	}
	bind := func(t DeviceTensor, output bool) error {
		v, err := s.tensor(t)
		if err != nil {
			return err
		}
		name := C.CString(t.Name)
		defer C.free(unsafe.Pointer(name))
		if output {
			b.out = append(b.out, v)
			err = status("BindOutput", C.gv_BindOutput(b.b, name, v))
		} else {
			b.ins = append(b.ins, v)
			err = status("BindInput", C.gv_BindInput(b.b, name, v))
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBinding, err)
		}
		return nil
	}
	for _, t := range ins {
		if err := bind(t, false); err != nil {
			b.release()
			return nil, err
		}
	}
	for _, t := range outs {
		if err := bind(t, true); err != nil {
			b.release()
			return nil, err
		}
	}
	b.run = func() error { return status("RunWithBinding", C.gv_RunWithBinding(b.s.s, b.b)) }
	s.bindings[b] = struct{}{}
	return b, nil
}

// Run runs the model on the bound input into the bound output. With a user compute stream the
// work is queued on that stream (ONNX Runtime also synchronises it before returning, unless
// told otherwise); order later work on the same stream.
func (b *Binding) Run() error {
	if b == nil || b.closed {
		return fmt.Errorf("ortgpu: binding: %w", defs.ErrClosed)
	}
	if err := b.s.do(b.run); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	return nil
}

func (b *Binding) release() {
	if b.b != nil {
		C.gv_ReleaseIoBinding(b.b)
		b.b = nil
	}
	for _, v := range append(b.ins, b.out...) {
		C.gv_ReleaseValue(v)
	}
	b.ins, b.out = nil, nil
}

// Close releases the binding (not the device memory, which the caller owns). Idempotent.
func (b *Binding) Close() error {
	if b == nil {
		return nil
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.release()
	delete(b.s.bindings, b)
	return nil
}

// ProbeOutputShape runs the model once on in (a device tensor) with ONNX Runtime allocating
// the output, and returns the output's shape: how to size an output whose declared shape has
// symbolic dimensions. out names the output ("" for the first).
func (s *Session) ProbeOutputShape(in DeviceTensor, out string) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.live(); err != nil {
		return nil, err
	}
	if err := resolve(&in, s.Inputs, "input"); err != nil {
		return nil, err
	}
	if len(s.Outputs) == 0 {
		return nil, fmt.Errorf("%w: the model has no output", ErrBinding)
	}
	if out == "" {
		out = s.Outputs[0].Name
	}
	v, err := s.tensor(in)
	if err != nil {
		return nil, err
	}
	defer C.gv_ReleaseValue(v)
	cin, cout := C.CString(in.Name), C.CString(out)
	defer C.free(unsafe.Pointer(cin))
	defer C.free(unsafe.Pointer(cout))
	var res *C.OrtValue
	if err := s.do(func() error { return status("Run", C.gv_run1(s.s, cin, v, cout, &res)) }); err != nil {
		return nil, fmt.Errorf("%w: probing the output shape: %w", ErrRun, err)
	}
	defer C.gv_ReleaseValue(res)
	var tsi *C.OrtTensorTypeAndShapeInfo
	if err := status("GetTensorTypeAndShape", C.gv_GetTensorTypeAndShape(res, &tsi)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	defer C.gv_ReleaseTensorTypeAndShapeInfo(tsi)
	_, shape, err := typeAndShape(tsi)
	return shape, err
}

// Close releases the session and any bindings still open. Idempotent.
func (s *Session) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for b := range s.bindings {
		b.closed = true
		b.release()
	}
	clear(s.bindings)
	if s.mem != nil {
		C.gv_ReleaseMemoryInfo(s.mem)
		s.mem = nil
	}
	if s.s != nil {
		C.gv_ReleaseSession(s.s)
		s.s = nil
	}
	return nil
}
