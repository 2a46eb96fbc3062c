package inference

import (
	"fmt"
	"math"

	"github.com/gstvision/gstvision/defs"
)

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
	// Stretch: the picture fills the whole input, each axis scaled on its own (no padding,
	// aspect not kept): the DETR family's resize. ToSource then maps each axis by its ratio.
	Stretch bool
}

// NewStretch computes the plain resize of a srcW×srcH frame to a dstW×dstH input (see
// Letterbox.Stretch): the same resampling as a letterbox whose picture covers the input.
func NewStretch(srcW, srcH, dstW, dstH int) Letterbox {
	return Letterbox{
		SrcW: srcW, SrcH: srcH, DstW: dstW, DstH: dstH,
		Scale: float32(math.Min(float64(dstW)/float64(srcW), float64(dstH)/float64(srcH))),
		NewW:  dstW, NewH: dstH, Stretch: true,
	}
}

// NewPreprocess is the mapping p uses for a srcW×srcH frame into a dstW×dstH input.
func NewPreprocess(p Preprocess, srcW, srcH, dstW, dstH int) Letterbox {
	if p == PreStretch || p == PreStretchImageNet {
		return NewStretch(srcW, srcH, dstW, dstH)
	}
	return NewLetterbox(srcW, srcH, dstW, dstH)
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
	if l.Stretch {
		sx, sy := float32(l.SrcW)/float32(l.DstW), float32(l.SrcH)/float32(l.DstH)
		return [4]float32{clip(b[0]*sx, l.SrcW), clip(b[1]*sy, l.SrcH), clip(b[2]*sx, l.SrcW), clip(b[3]*sy, l.SrcH)}
	}
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
	// Fill letterboxes (or, lb.Stretch, resizes) f into input slot (0 <= slot < MaxBatch): RGB
	// planar, 0..1 (ImageNet-normalised where the model's Preprocess says), in the model's
	// input type. After Fill returns, f's planes are no longer read.
	Fill(slot int, f *defs.Frame, lb Letterbox) error
	// Run runs the model on slots [0, n) and returns its raw output in host memory (valid until
	// the next Run) and the output's shape for this batch.
	Run(n int) (out []float32, shape []int64, err error)
	// MaxBatch is the number of input slots allocated up front.
	MaxBatch() int
	Close() error
}

// OutputsBackend is a Backend that returns every output the layout reads (ModelInfo.Outputs),
// converted to float32 on the host; both backends of this package implement it. The Detector
// uses it for layouts of more than one output.
type OutputsBackend interface {
	Backend
	// RunOutputs runs slots [0, n) like Run and returns one Tensor per ModelInfo.Outputs
	// entry, valid until the next run.
	RunOutputs(n int) ([]Tensor, error)
}

// CandidateBackend is a Backend that decodes the raw output where it lies (the CUDA backend,
// on the GPU): instead of the whole output, only the candidates cross to the host. The
// Detector uses it when the backend offers it.
type CandidateBackend interface {
	Backend
	// RunCandidates runs slots [0, n) like Run and thresholds the output on the device with
	// layout and conf; the batch it returns holds, per image, what Decoder.Decode would
	// return. It is the backend's, valid until the next run.
	RunCandidates(n int, layout Layout, conf float32) (*CandidateBatch, error)
}

// deviceDecoder is a CandidateBackend that can tell, per layout, whether it decodes on its
// device; one without the method is asked for every anchor layout.
type deviceDecoder interface {
	DecodesOnDevice(Layout) bool
}

// candidateRecord mirrors a record of the decoding kernel (candidateWords words).
type candidateRecord struct {
	Anchor, Class       int32
	Score, CX, CY, W, H float32
	_                   int32
}

// CandidateBatch is a batch's candidates as a CandidateBackend copied them back: per image,
// the passing anchors' records in no set order. Images are read independently (Image), so
// several goroutines can turn one batch into detections.
type CandidateBatch struct {
	counts  []int32           // per image
	recs    []candidateRecord // image i's at [i*anchors, i*anchors+counts[i])
	anchors int
	xyxy    bool // records carry x1, y1, x2, y2 (YOLO-NAS), not cx, cy, w, h
}

// Images is the number of images in the batch.
func (cb *CandidateBatch) Images() int { return len(cb.counts) }

// Image returns image i's candidates in anchor order, as Decoder.Decode returns them, so that
// NMS breaks score ties the same way on both paths. The slice is d's, valid until d's next
// Decode or Image; d is one goroutine's.
func (cb *CandidateBatch) Image(i int, d *Decoder) ([]Candidate, error) {
	if i < 0 || i >= len(cb.counts) {
		return nil, fmt.Errorf("%w: image %d of a batch of %d", ErrBatch, i, len(cb.counts))
	}
	n := int(cb.counts[i])
	if n < 0 || n > cb.anchors {
		return nil, fmt.Errorf("%w: the device counted %d candidates for image %d of %d anchors", ErrBadOutput, n, i, cb.anchors)
	}
	recs := cb.recs[i*cb.anchors : i*cb.anchors+n]
	// Scatter each record to its anchor, then walk the anchors: linear, unlike a sort.
	if len(d.byAnchor) < cb.anchors {
		d.byAnchor = make([]int32, cb.anchors)
		for a := range d.byAnchor {
			d.byAnchor[a] = -1
		}
	}
	at := d.byAnchor[:cb.anchors]
	for k, r := range recs {
		if r.Anchor < 0 || int(r.Anchor) >= cb.anchors {
			return nil, fmt.Errorf("%w: the device returned anchor %d of %d", ErrBadOutput, r.Anchor, cb.anchors)
		}
		at[r.Anchor] = int32(k)
	}
	d.cands = d.cands[:0]
	for a, k := range at {
		if k < 0 {
			continue
		}
		r := &recs[k]
		box := [4]float32{r.CX, r.CY, r.W, r.H}
		if !cb.xyxy {
			box = xywh(r.CX, r.CY, r.W, r.H)
		}
		d.cands = append(d.cands, Candidate{Box: box, Score: r.Score, ClassID: int(r.Class)})
		at[a] = -1
	}
	return d.cands, nil
}
