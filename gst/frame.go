package gst

// #include "gstv.h"
import "C"

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gstvision/gstvision/defs"
)

// VideoInfo is the negotiated format of a video pad (C-allocated: call Free).
type VideoInfo struct {
	info   *C.GstVideoInfo
	Width  int
	Height int
	Format defs.PixelFormat
	CUDA   bool // caps carry memory:CUDAMemory
}

// NewVideoInfo parses caps (a *GstCaps, e.g. from go-gst's Caps.Instance()).
func NewVideoInfo(caps unsafe.Pointer) (*VideoInfo, error) {
	c := (*C.GstCaps)(caps)
	info := C.gstv_info_from_caps(c)
	if info == nil {
		return nil, fmt.Errorf("%w: caps are not raw video", ErrCaps)
	}
	vi := &VideoInfo{info: info, Width: int(C.gstv_info_width(info)), Height: int(C.gstv_info_height(info)),
		CUDA: C.gstv_caps_is_cuda(c) != 0}
	switch f := C.GoString(C.gstv_info_format(info)); f {
	case "I420":
		vi.Format = defs.I420
	case "NV12":
		vi.Format = defs.NV12
	default:
		C.gstv_info_free(info)
		return nil, fmt.Errorf("%w: format %s (want I420 or NV12)", ErrCaps, f)
	}
	return vi, nil
}

// Free releases the C memory.
func (v *VideoInfo) Free() {
	if v != nil && v.info != nil {
		C.gstv_info_free(v.info)
		v.info = nil
	}
}

// mapped counts frames mapped in CUDA memory and in host memory: the GPU tests' proof that
// the cuda path never touches pixels on the host.
var mappedCUDA, mappedHost atomic.Uint64

// MappedCounts returns how many frames were mapped in CUDA memory and in host memory.
func MappedCounts() (cuda, host uint64) { return mappedCUDA.Load(), mappedHost.Load() }

// MappedFrame is a decoded buffer mapped for reading. It holds a reference on the buffer, so
// the decoder's pool gets the buffer back only at Unmap: call it as soon as the pixels have
// been consumed, never leave it to a finalizer.
type MappedFrame struct {
	m *C.gstv_mapped
	// Frame describes the planes (host slices, or CUDA device pointers in cuda mode).
	Frame defs.Frame
}

// MapFrame maps buf (a *GstBuffer) with info's layout; with info.CUDA the planes are CUDA
// device pointers (GST_MAP_CUDA) and no pixel is copied.
func MapFrame(buf unsafe.Pointer, info *VideoInfo) (*MappedFrame, error) {
	var why *C.char
	cuda := 0
	if info.CUDA {
		cuda = 1
	}
	m := C.gstv_map((*C.GstBuffer)(buf), info.info, C.int(cuda), &why)
	if m == nil {
		return nil, fmt.Errorf("%w: %s", ErrMap, C.GoString(why))
	}
	if info.CUDA {
		mappedCUDA.Add(1)
	} else {
		mappedHost.Add(1)
	}
	mf := &MappedFrame{m: m}
	f := &mf.Frame
	f.Format, f.Width, f.Height = info.Format, info.Width, info.Height
	n := int(C.gstv_n_planes(m))
	for i := 0; i < n && i < 3; i++ {
		p := C.gstv_plane(m, C.int(i))
		stride := int(C.gstv_stride(m, C.int(i)))
		f.Strides[i] = stride
		if info.CUDA {
			f.Device[i] = uintptr(p)
		} else {
			rows := int(C.gstv_comp_height(m, C.int(i)))
			f.Host[i] = unsafe.Slice((*byte)(p), stride*rows)
		}
	}
	return mf, nil
}

// Unmap releases the mapping and the buffer reference. Safe to call once.
func (m *MappedFrame) Unmap() {
	if m.m != nil {
		C.gstv_unmap(m.m)
		m.m = nil
		m.Frame = defs.Frame{}
	}
}

// BufferIndex returns the frame index stamped by the decoder probe, or NoIndex.
func BufferIndex(buf unsafe.Pointer) uint64 { return uint64(C.gstv_buf_index((*C.GstBuffer)(buf))) }

// NoIndex is BufferIndex of a buffer the decoder probe did not stamp.
const NoIndex = ^uint64(0)

// BufferPTS returns the buffer's presentation timestamp, or -1 when it has none.
func BufferPTS(buf unsafe.Pointer) time.Duration {
	p := C.gstv_buf_pts((*C.GstBuffer)(buf))
	if p == C.guint64(C.GST_CLOCK_TIME_NONE) {
		return -1
	}
	return time.Duration(p)
}
