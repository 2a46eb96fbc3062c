package defs

// PixelFormat is the layout of a decoded frame's planes.
type PixelFormat int

const (
	I420 PixelFormat = iota // three planes: Y, U, V (chroma at half resolution)
	NV12                    // two planes: Y, interleaved UV (chroma at half resolution)
)

func (f PixelFormat) String() string {
	switch f {
	case I420:
		return "I420"
	case NV12:
		return "NV12"
	}
	return "unknown"
}

// Frame is one decoded picture, borrowed from the decoder: its planes are valid only until the
// owner's release function runs. Exactly one of Host and Device is set.
type Frame struct {
	Format        PixelFormat
	Width, Height int
	Strides       [3]int     // bytes per row of each plane
	Host          [3][]byte  // cpu mode: plane bytes (may alias mapped GStreamer memory)
	Device        [3]uintptr // cuda mode: CUdeviceptr of each plane, in the shared context
}

// OnDevice reports whether the frame's planes live in CUDA memory.
func (f *Frame) OnDevice() bool { return f.Device[0] != 0 }
