package inference

import (
	"fmt"
	"syscall"
	"unsafe"
)

// hostBuffer is float32 memory mapped outside the Go heap. The CPU backend's input and output
// buffers are tens of megabytes, allocated once and alive for the process's life: in the Go
// heap they would raise the collector's target by as much (GOGC=100 lets garbage grow to the
// size of the live heap), so the process would also hold that much again in garbage between
// collections, and RSS would swing with the collection cycle.
type hostBuffer struct {
	mem    []byte // as mapped, for munmap
	floats []float32
}

func newHostBuffer(n int) (*hostBuffer, error) {
	if n <= 0 {
		return &hostBuffer{}, nil
	}
	mem, err := syscall.Mmap(-1, 0, n*4, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("%w: mapping %d MB of tensor memory: %w", ErrRuntimeInit, n*4>>20, err)
	}
	return &hostBuffer{mem: mem, floats: unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(mem))), n)}, nil
}

// free unmaps the buffer; its floats must not be used afterwards. Idempotent.
func (h *hostBuffer) free() error {
	if h == nil || h.mem == nil {
		return nil
	}
	err := syscall.Munmap(h.mem)
	h.mem, h.floats = nil, nil
	return err
}

// int32View is s's memory seen as int32s (twice as many): an int32 output uses its first half.
func int32View(s []int64) []int32 {
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(s))), 2*len(s))
}
