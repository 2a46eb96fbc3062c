package inference

import "math"

// PadValue is the grey that letterboxing pads with, as YOLO models are trained (114/255).
const PadValue = float32(114.0 / 255.0)

// Letterbox maps a source frame into the model's input: scaled to fit, aspect kept, centred,
// padded with PadValue. A source pixel (x, y) lands at (x*Scale+PadX, y*Scale+PadY).
type Letterbox struct {
	SrcW, SrcH int // source frame size
	DstW, DstH int // model input size
	Scale      float32
	PadX, PadY int // left and top padding in model pixels
	NewW, NewH int // size of the scaled picture inside the padding
}

// NewLetterbox computes the letterbox of a srcW×srcH frame into a dstW×dstH input.
func NewLetterbox(srcW, srcH, dstW, dstH int) Letterbox {
	s := math.Min(float64(dstW)/float64(srcW), float64(dstH)/float64(srcH))
	nw := int(math.Round(float64(srcW) * s))
	nh := int(math.Round(float64(srcH) * s))
	return Letterbox{
		SrcW: srcW, SrcH: srcH, DstW: dstW, DstH: dstH,
		Scale: float32(s),
		PadX:  (dstW - nw) / 2, PadY: (dstH - nh) / 2,
		NewW: nw, NewH: nh,
	}
}

// ToSource maps a box in model-input pixels back to source-frame pixels, clipped to the frame.
func (l Letterbox) ToSource(b [4]float32) [4]float32 {
	clip := func(v float32, hi int) float32 { return float32(math.Max(0, math.Min(float64(v), float64(hi)))) }
	return [4]float32{
		clip((b[0]-float32(l.PadX))/l.Scale, l.SrcW),
		clip((b[1]-float32(l.PadY))/l.Scale, l.SrcH),
		clip((b[2]-float32(l.PadX))/l.Scale, l.SrcW),
		clip((b[3]-float32(l.PadY))/l.Scale, l.SrcH),
	}
}

// Backend runs the model on a batch whose input slots are filled one frame at a time, so that
// a frame can go back to its decoder as soon as its slot is written. Implementations: the CPU
// backend (onnxruntime_go, host tensors) and the CUDA backend (own preprocessing kernel writing
// into device tensors bound with IoBinding). A Backend is used by one goroutine at a time.
type Backend interface {
	// Fill letterboxes f into input slot (0 <= slot < MaxBatch): RGB planar, 0..1, in the
	// model's input type. After Fill returns, f's planes are no longer read.
	Fill(slot int, f *Frame, lb Letterbox) error
	// Run runs the model on slots [0, n) and returns its raw output in host memory (valid until
	// the next Run) and the output's shape for this batch.
	Run(n int) (out []float32, shape []int64, err error)
	// MaxBatch is the number of input slots allocated up front.
	MaxBatch() int
	Close() error
}
