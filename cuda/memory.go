package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// CUmemorytype values for 2D copies.
const (
	memHost   = 1
	memDevice = 2
)

// Alloc allocates n bytes of device memory. Allocate at start-up and reuse: cuMemAlloc
// synchronises the device and is far too slow for a per-frame path.
func (c *Context) Alloc(n int) (DevicePtr, error) {
	if err := c.live(); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("cuda: Alloc(%d): %w", n, ErrInvalidArgument)
	}
	var p C.CUdeviceptr
	if err := check("cuMemAlloc_v2", C.gv_mem_alloc(c.h, &p, C.size_t(n))); err != nil {
		return 0, fmt.Errorf("cuda: allocating %d bytes of device memory: %w", n, err)
	}
	return DevicePtr(p), nil
}

// Free frees device memory from Alloc. Freeing 0 does nothing.
func (c *Context) Free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	if err := c.live(); err != nil {
		return err
	}
	return check("cuMemFree_v2", C.gv_mem_free(c.h, C.CUdeviceptr(p)))
}

// AllocHost allocates n bytes of page-locked host memory, which the device reads and writes by
// DMA (fast, truly asynchronous copies). The slice is C memory: it is never moved or collected;
// free it with FreeHost.
func (c *Context) AllocHost(n int) ([]byte, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("cuda: AllocHost(%d): %w", n, ErrInvalidArgument)
	}
	var p unsafe.Pointer
	if err := check("cuMemAllocHost_v2", C.gv_mem_alloc_host(c.h, &p, C.size_t(n))); err != nil {
		return nil, fmt.Errorf("cuda: allocating %d bytes of pinned host memory: %w", n, err)
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// FreeHost frees memory from AllocHost; b must start where the slice AllocHost returned
// started. Freeing an empty slice does nothing.
func (c *Context) FreeHost(b []byte) error {
	if cap(b) == 0 {
		return nil
	}
	if err := c.live(); err != nil {
		return err
	}
	return check("cuMemFreeHost", C.gv_mem_free_host(c.h, unsafe.Pointer(unsafe.SliceData(b))))
}

func hostPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// CopyHtoD queues a copy of src to dst. From Go memory the driver has read src before it
// returns; from AllocHost memory the copy is asynchronous and src must stay untouched until the
// stream is synchronised.
func (s *Stream) CopyHtoD(dst DevicePtr, src []byte) error {
	if err := s.live(); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if dst == 0 {
		return fmt.Errorf("cuda: CopyHtoD to a null pointer: %w", ErrInvalidArgument)
	}
	return check("cuMemcpyHtoDAsync_v2", C.gv_memcpy_htod(s.ctx.h, C.CUdeviceptr(dst), hostPtr(src), C.size_t(len(src)), s.s))
}

// CopyDtoH queues a copy of len(dst) bytes from src into dst. Into Go memory the copy has
// completed when it returns; into AllocHost memory it is asynchronous: synchronise the stream
// before reading dst.
func (s *Stream) CopyDtoH(dst []byte, src DevicePtr) error {
	if err := s.live(); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if src == 0 {
		return fmt.Errorf("cuda: CopyDtoH from a null pointer: %w", ErrInvalidArgument)
	}
	return check("cuMemcpyDtoHAsync_v2", C.gv_memcpy_dtoh(s.ctx.h, hostPtr(dst), C.CUdeviceptr(src), C.size_t(len(dst)), s.s))
}

// CopyDtoD queues a copy of n bytes between device buffers.
func (s *Stream) CopyDtoD(dst, src DevicePtr, n int) error {
	if err := s.live(); err != nil {
		return err
	}
	if n < 0 || (n > 0 && (dst == 0 || src == 0)) {
		return fmt.Errorf("cuda: CopyDtoD(%#x, %#x, %d): %w", dst, src, n, ErrInvalidArgument)
	}
	if n == 0 {
		return nil
	}
	return check("cuMemcpyDtoDAsync_v2", C.gv_memcpy_dtod(s.ctx.h, C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(n), s.s))
}

func check2D(op string, dstPitch, srcPitch, widthBytes, height int) error {
	if widthBytes < 0 || height < 0 || dstPitch < widthBytes || srcPitch < widthBytes {
		return fmt.Errorf("cuda: %s: width %d bytes, height %d, pitches dst %d src %d: %w",
			op, widthBytes, height, dstPitch, srcPitch, ErrInvalidArgument)
	}
	return nil
}

// span is the number of bytes a pitched region of height rows of widthBytes occupies.
func span(pitch, widthBytes, height int) int {
	if height == 0 {
		return 0
	}
	return (height-1)*pitch + widthBytes
}

// CopyDtoD2D queues a pitched copy of height rows of widthBytes, e.g. one plane of a decoded
// frame into a packed buffer.
func (s *Stream) CopyDtoD2D(dst DevicePtr, dstPitch int, src DevicePtr, srcPitch, widthBytes, height int) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := check2D("CopyDtoD2D", dstPitch, srcPitch, widthBytes, height); err != nil {
		return err
	}
	if widthBytes == 0 || height == 0 {
		return nil
	}
	return check("cuMemcpy2DAsync_v2", C.gv_memcpy_2d(s.ctx.h, memDevice, C.CUdeviceptr(dst), nil, C.size_t(dstPitch),
		memDevice, C.CUdeviceptr(src), nil, C.size_t(srcPitch), C.size_t(widthBytes), C.size_t(height), s.s))
}

// CopyHtoD2D queues a pitched copy from host memory (same rules for src as CopyHtoD).
func (s *Stream) CopyHtoD2D(dst DevicePtr, dstPitch int, src []byte, srcPitch, widthBytes, height int) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := check2D("CopyHtoD2D", dstPitch, srcPitch, widthBytes, height); err != nil {
		return err
	}
	if widthBytes == 0 || height == 0 {
		return nil
	}
	if need := span(srcPitch, widthBytes, height); len(src) < need {
		return fmt.Errorf("cuda: CopyHtoD2D: source has %d bytes, needs %d: %w", len(src), need, ErrInvalidArgument)
	}
	return check("cuMemcpy2DAsync_v2", C.gv_memcpy_2d(s.ctx.h, memDevice, C.CUdeviceptr(dst), nil, C.size_t(dstPitch),
		memHost, 0, hostPtr(src), C.size_t(srcPitch), C.size_t(widthBytes), C.size_t(height), s.s))
}

// CopyDtoH2D queues a pitched copy into host memory (same rules for dst as CopyDtoH).
func (s *Stream) CopyDtoH2D(dst []byte, dstPitch int, src DevicePtr, srcPitch, widthBytes, height int) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := check2D("CopyDtoH2D", dstPitch, srcPitch, widthBytes, height); err != nil {
		return err
	}
	if widthBytes == 0 || height == 0 {
		return nil
	}
	if need := span(dstPitch, widthBytes, height); len(dst) < need {
		return fmt.Errorf("cuda: CopyDtoH2D: destination has %d bytes, needs %d: %w", len(dst), need, ErrInvalidArgument)
	}
	return check("cuMemcpy2DAsync_v2", C.gv_memcpy_2d(s.ctx.h, memHost, 0, hostPtr(dst), C.size_t(dstPitch),
		memDevice, C.CUdeviceptr(src), nil, C.size_t(srcPitch), C.size_t(widthBytes), C.size_t(height), s.s))
}

// Memset queues setting n bytes at dst to v.
func (s *Stream) Memset(dst DevicePtr, v byte, n int) error {
	if err := s.live(); err != nil {
		return err
	}
	if n < 0 || (n > 0 && dst == 0) {
		return fmt.Errorf("cuda: Memset(%#x, %d): %w", dst, n, ErrInvalidArgument)
	}
	if n == 0 {
		return nil
	}
	return check("cuMemsetD8Async", C.gv_memset_d8(s.ctx.h, C.CUdeviceptr(dst), C.uchar(v), C.size_t(n), s.s))
}

// Memset2D queues setting height rows of widthBytes at dst (rows pitch bytes apart) to v.
func (s *Stream) Memset2D(dst DevicePtr, pitch int, v byte, widthBytes, height int) error {
	if err := s.live(); err != nil {
		return err
	}
	if err := check2D("Memset2D", pitch, pitch, widthBytes, height); err != nil {
		return err
	}
	if widthBytes == 0 || height == 0 {
		return nil
	}
	return check("cuMemsetD2D8Async", C.gv_memset_d2d8(s.ctx.h, C.CUdeviceptr(dst), C.size_t(pitch), C.uchar(v),
		C.size_t(widthBytes), C.size_t(height), s.s))
}
