package cuda

import (
	"errors"
	"fmt"
)

// Sentinel errors of the cuda package; returned errors wrap them (test with errors.Is) and add
// what was tried and the driver's own words. Calls on a closed Context, Stream, Worker or Drawer
// return an error wrapping defs.ErrClosed.
var (
	// ErrNoDriver: libcuda.so.1 could not be loaded or is a stub: the NVIDIA driver is missing,
	// or the container was started without GPU access.
	ErrNoDriver = errors.New("no NVIDIA driver")
	// ErrNoDevice: the driver loaded but has no usable CUDA device with the requested ordinal.
	ErrNoDevice = errors.New("no CUDA device")
	// ErrNoNVRTC: the NVRTC runtime compiler library could not be loaded.
	ErrNoNVRTC = errors.New("NVRTC not available")
	// ErrCompile: NVRTC rejected a kernel source; the error carries the compile log.
	ErrCompile = errors.New("kernel compilation failed")
	// ErrInvalidArgument: a size, pitch, slot or pointer is out of range (checked before the
	// driver sees it).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrOutOfMemory: the device or pinned host memory is exhausted.
	ErrOutOfMemory = errors.New("out of memory")
)

// Result is a CUresult, the status code of a CUDA driver call.
type Result int

// A few CUresult values the package tests for (from the public CUDA headers).
const (
	resultOutOfMemory    Result = 2
	resultStubLibrary    Result = 34
	resultInsufficientDr Result = 35
	resultNoDevice       Result = 100
	resultInvalidDevice  Result = 101
)

// Error is a failed CUDA driver call.
type Error struct {
	Op   string // the driver function, e.g. "cuMemAlloc_v2"
	Code Result
	Name string // e.g. "CUDA_ERROR_OUT_OF_MEMORY" (cuGetErrorName)
	Desc string // e.g. "out of memory" (cuGetErrorString)
}

func (e *Error) Error() string {
	return fmt.Sprintf("cuda: %s: %s (%d): %s", e.Op, e.Name, int(e.Code), e.Desc)
}

// Unwrap lets errors.Is(err, ErrOutOfMemory) see through a driver out-of-memory error.
func (e *Error) Unwrap() error {
	if e.Code == resultOutOfMemory {
		return ErrOutOfMemory
	}
	return nil
}
