package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gstvision/gstvision/defs"
)

// DriverLibrary is the soname of the CUDA driver library loaded by Open.
const DriverLibrary = "libcuda.so.1"

// Device attributes (CUdevice_attribute values from the public CUDA headers).
const (
	attrComputeCapabilityMajor = 75
	attrComputeCapabilityMinor = 76
)

// SyncEnv names the environment variable that picks how host threads wait for the GPU in the
// shared context: "spin", "yield" or "blocking" (CU_CTX_SCHED_*); unset or "auto" leaves the
// driver's choice (spinning when there are fewer contexts than cores).
const SyncEnv = "GSTVISION_CUDA_SYNC"

var syncFlags = map[string]C.uint{"auto": 0, "spin": 1, "yield": 2, "blocking": 4}

// DevicePtr is a CUdeviceptr: an address in device memory, valid in the shared context.
type DevicePtr uintptr

// Context is the retained primary context of one device. See the package documentation for the
// threading rules.
type Context struct {
	h       C.CUcontext
	dev     C.CUdevice
	ordinal int
	name    string
	major   int
	minor   int
	driver  int

	closed atomic.Bool

	mu      sync.Mutex         // guards modules and kernels
	modules map[string]*Module // compiled modules by source and options
	kernels *Kernels
}

var driver struct {
	mu     sync.Mutex
	loaded bool
}

// loadDriver dlopens libcuda.so.1 and runs cuInit once per process; a failure is retried on the
// next call (cheap), so a driver that appears later is picked up.
func loadDriver() error {
	driver.mu.Lock()
	defer driver.mu.Unlock()
	if driver.loaded {
		return nil
	}
	name := C.CString(DriverLibrary)
	defer C.free(unsafe.Pointer(name))
	var msg [512]C.char
	if rc := C.gv_cu_load(name, &msg[0], C.size_t(len(msg))); rc != 0 {
		return fmt.Errorf("%w: cannot load %s (%s): the NVIDIA driver is missing, or the container "+
			"was started without GPU access (docker --gpus all, and NVIDIA_DRIVER_CAPABILITIES "+
			"including compute,video)", ErrNoDriver, DriverLibrary, C.GoString(&msg[0]))
	}
	if r := C.gv_cuInit(); r != 0 {
		err := check("cuInit", r)
		switch Result(r) {
		case resultNoDevice, resultInvalidDevice:
			return fmt.Errorf("%w: %s loaded but cuInit found no usable GPU (is the device "+
				"visible to this container: --gpus, NVIDIA_VISIBLE_DEVICES?): %w", ErrNoDevice, DriverLibrary, err)
		default:
			return fmt.Errorf("%w: %s loaded but cuInit failed (driver/library mismatch, a stub "+
				"library, or no GPU access in this container): %w", ErrNoDriver, DriverLibrary, err)
		}
	}
	driver.loaded = true
	return nil
}

// check turns a CUresult into an *Error naming op (nil for success).
func check(op string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	code := int(r)
	if code >= C.GV_PUSH_FAILED {
		op = "cuCtxPushCurrent_v2 (before " + op + ")"
		code -= C.GV_PUSH_FAILED
	}
	cr := C.CUresult(code)
	return &Error{Op: op, Code: Result(code), Name: C.GoString(C.gv_cu_error_name(cr)), Desc: C.GoString(C.gv_cu_error_string(cr))}
}

// Open loads the driver and retains the primary context of device ordinal device. It returns an
// error wrapping ErrNoDriver when libcuda.so.1 cannot be loaded or initialised and ErrNoDevice
// when the device does not exist.
func Open(device int) (*Context, error) {
	if err := loadDriver(); err != nil {
		return nil, err
	}
	var n C.int
	if err := check("cuDeviceGetCount", C.gv_cuDeviceGetCount(&n)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	if device < 0 || device >= int(n) {
		return nil, fmt.Errorf("%w: device %d requested, the driver sees %d", ErrNoDevice, device, int(n))
	}
	c := &Context{ordinal: device, modules: map[string]*Module{}}
	if err := check("cuDeviceGet", C.gv_cuDeviceGet(&c.dev, C.int(device))); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	var name [256]C.char
	if err := check("cuDeviceGetName", C.gv_cuDeviceGetName(&name[0], C.int(len(name)), c.dev)); err != nil {
		return nil, err
	}
	c.name = C.GoString(&name[0])
	var v C.int
	if err := check("cuDeviceGetAttribute", C.gv_cuDeviceGetAttribute(&v, attrComputeCapabilityMajor, c.dev)); err != nil {
		return nil, err
	}
	c.major = int(v)
	if err := check("cuDeviceGetAttribute", C.gv_cuDeviceGetAttribute(&v, attrComputeCapabilityMinor, c.dev)); err != nil {
		return nil, err
	}
	c.minor = int(v)
	if err := check("cuDriverGetVersion", C.gv_cuDriverGetVersion(&v)); err != nil {
		return nil, err
	}
	c.driver = int(v)
	if flags, ok := syncFlags[os.Getenv(SyncEnv)]; ok {
		// Only possible before the primary context is first retained in this process.
		if err := check("cuDevicePrimaryCtxSetFlags", C.gv_cuDevicePrimaryCtxSetFlags(c.dev, flags)); err != nil {
			return nil, err
		}
	}
	if err := check("cuDevicePrimaryCtxRetain", C.gv_cuDevicePrimaryCtxRetain(&c.h, c.dev)); err != nil {
		return nil, fmt.Errorf("%w: device %d (%s): %w", ErrNoDevice, device, c.name, err)
	}
	return c, nil
}

// Handle is the CUcontext, for gst_cuda_context_new_wrapped and other C libraries.
func (c *Context) Handle() uintptr { return uintptr(unsafe.Pointer(c.h)) }

// Device is the device ordinal the context belongs to.
func (c *Context) Device() int { return c.ordinal }

// Name is the device's name, e.g. "NVIDIA H100 80GB HBM3".
func (c *Context) Name() string { return c.name }

// ComputeCapability is the device's SM version, e.g. 9, 0 for an H100.
func (c *Context) ComputeCapability() (major, minor int) { return c.major, c.minor }

// DriverVersion is the CUDA version the driver supports, e.g. 13000 for CUDA 13.0.
func (c *Context) DriverVersion() int { return c.driver }

func (c *Context) live() error {
	if c == nil || c.closed.Load() {
		return fmt.Errorf("cuda: context: %w", defs.ErrClosed)
	}
	return nil
}

// MemInfo reports the device's free and total memory in bytes.
func (c *Context) MemInfo() (free, total uint64, err error) {
	if err := c.live(); err != nil {
		return 0, 0, err
	}
	var f, t C.size_t
	if err := check("cuMemGetInfo_v2", C.gv_mem_get_info(c.h, &f, &t)); err != nil {
		return 0, 0, err
	}
	return uint64(f), uint64(t), nil
}

// Synchronize waits for all work in the context, on every stream, to finish.
func (c *Context) Synchronize() error {
	if err := c.live(); err != nil {
		return err
	}
	return check("cuCtxSynchronize", C.gv_ctx_synchronize(c.h))
}

// Do runs fn with the goroutine locked to its OS thread and the context current on it, for
// code that calls the driver or a CUDA library directly (this package's own methods do not
// need it). The previous current context, if any, is restored afterwards.
func (c *Context) Do(fn func() error) error {
	if err := c.live(); err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := check("cuCtxPushCurrent_v2", C.gv_ctx_push(c.h)); err != nil {
		return err
	}
	defer C.gv_ctx_pop()
	return fn()
}

// Close unloads the context's modules and releases the primary context. Device memory,
// streams and modules still held by others become invalid once the last retain of the primary
// context is released (GStreamer and ONNX Runtime hold none of their own through this Context),
// so close it last. Close is idempotent.
func (c *Context) Close() error {
	if c == nil || c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock()
	var first error
	for k, m := range c.modules {
		if err := check("cuModuleUnload", C.gv_module_unload(c.h, m.m)); err != nil && first == nil {
			first = err
		}
		delete(c.modules, k)
	}
	c.kernels = nil
	c.mu.Unlock()
	if err := check("cuDevicePrimaryCtxRelease_v2", C.gv_cuDevicePrimaryCtxRelease(c.dev)); err != nil && first == nil {
		first = err
	}
	return first
}

// Stream is a CUDA stream of the context. Work queued on one stream runs in order; work on
// different streams may overlap.
type Stream struct {
	ctx       *Context
	s         C.CUstream
	destroyed atomic.Bool
}

// streamNonBlocking is CU_STREAM_NON_BLOCKING: the stream does not synchronise with the legacy
// default stream, so that other libraries' default-stream work does not serialise with ours.
const streamNonBlocking = 1

// NewStream creates a non-blocking stream.
func (c *Context) NewStream() (*Stream, error) {
	return c.newStream(false)
}

// NewUrgentStream creates a stream of the device's highest priority: its kernels are scheduled
// ahead of those of ordinary streams as soon as SMs free up, e.g. the short preprocessing
// kernels that cameras wait for while a long model run occupies the GPU.
func (c *Context) NewUrgentStream() (*Stream, error) {
	return c.newStream(true)
}

func (c *Context) newStream(urgent bool) (*Stream, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	s := &Stream{ctx: c}
	op, r := "cuStreamCreate", C.CUresult(0)
	if urgent {
		op, r = "cuStreamCreateWithPriority", C.gv_stream_create_urgent(c.h, &s.s, streamNonBlocking)
	} else {
		r = C.gv_stream_create(c.h, &s.s, streamNonBlocking)
	}
	if err := check(op, r); err != nil {
		return nil, err
	}
	return s, nil
}

// Handle is the CUstream, e.g. for ONNX Runtime's user_compute_stream.
func (s *Stream) Handle() uintptr { return uintptr(unsafe.Pointer(s.s)) }

// Context is the context the stream belongs to.
func (s *Stream) Context() *Context { return s.ctx }

func (s *Stream) live() error {
	if s == nil || s.destroyed.Load() {
		return fmt.Errorf("cuda: stream: %w", defs.ErrClosed)
	}
	return s.ctx.live()
}

// Synchronize waits until all work queued on the stream has finished.
func (s *Stream) Synchronize() error {
	if err := s.live(); err != nil {
		return err
	}
	return check("cuStreamSynchronize", C.gv_stream_synchronize(s.ctx.h, s.s))
}

// Destroy destroys the stream (work already queued still completes). Idempotent.
func (s *Stream) Destroy() error {
	if s == nil || s.destroyed.Swap(true) || s.ctx.closed.Load() {
		return nil
	}
	return check("cuStreamDestroy_v2", C.gv_stream_destroy(s.ctx.h, s.s))
}

// Worker runs functions on one OS thread of its own, with the context current there. Libraries
// that keep state per calling thread need it: ONNX Runtime's CUDA provider creates cuBLAS and
// cuDNN handles, with their device workspaces, for every thread that runs a session, so a
// goroutine that migrates between threads would make GPU memory grow with each new thread.
type Worker struct {
	jobs chan func()
	done chan struct{}

	mu     sync.Mutex // held by a Do call for its whole run: calls take turns
	closed bool
}

// NewWorker starts a Worker on c. Close it when done.
func (c *Context) NewWorker() (*Worker, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	w := &Worker{jobs: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(w.done)
		// Locked for good: the thread ends with the goroutine, and nothing else runs on it.
		runtime.LockOSThread()
		if err := check("cuCtxPushCurrent_v2", C.gv_ctx_push(c.h)); err != nil {
			started <- err
			return
		}
		started <- nil
		for fn := range w.jobs {
			fn()
		}
		C.gv_ctx_pop()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("cuda: starting a worker thread: %w", err)
	}
	return w, nil
}

// Do runs fn on the worker's thread and returns its error; fn must not call Do itself. After
// Close it fails with [defs.ErrClosed].
func (w *Worker) Do(fn func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("cuda: worker: %w", defs.ErrClosed)
	}
	res := make(chan error, 1)
	w.jobs <- func() { res <- fn() }
	return <-res
}

// Close stops the worker once the call in progress, if any, returns; its thread exits.
// Idempotent.
func (w *Worker) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.jobs)
	}
	w.mu.Unlock()
	<-w.done
}

// Ordinals lists the ordinals of every CUDA device the driver sees (0, 1, ...). It fails with
// ErrNoDriver when libcuda.so.1 cannot be loaded or initialised, and with ErrNoDevice when
// the driver sees none.
func Ordinals() ([]int, error) {
	if err := loadDriver(); err != nil {
		return nil, err
	}
	var n C.int
	if err := check("cuDeviceGetCount", C.gv_cuDeviceGetCount(&n)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the driver sees no GPU", ErrNoDevice)
	}
	out := make([]int, int(n))
	for i := range out {
		out[i] = i
	}
	return out, nil
}
