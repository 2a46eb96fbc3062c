package inference

import (
	"fmt"
	"math"
	"slices"
)

// Tensor is one model output of a run in host memory: its values as float32 (float16 and
// integer outputs converted; class ids are small enough to be exact) and its shape.
type Tensor struct {
	Data  []float32
	Shape []int64
}

// DecodeSpec is what decoding needs from the model beyond its outputs.
type DecodeSpec struct {
	Layout Layout
	// InputW, InputH: the model input's size, which normalised boxes are scaled by (and which
	// the DETR layout's orig_target_sizes is fed, so its boxes come back in input pixels too).
	InputW, InputH int
}

// SpecOf is the DecodeSpec of a model.
func SpecOf(info ModelInfo) DecodeSpec {
	return DecodeSpec{Layout: info.Layout, InputW: info.InputW, InputH: info.InputH}
}

// DecodeOutputs returns the candidates of image batchIndex in the layout's outputs (in
// ModelInfo.Outputs order) whose score exceeds conf, boxes as x1, y1, x2, y2 in model-input
// pixels, in row order (anchor, query; then class for RF-DETR). The slice is d's, valid until
// its next decode.
func (d *Decoder) DecodeOutputs(outs []Tensor, spec DecodeSpec, batchIndex int, conf float32) ([]Candidate, error) {
	l := spec.Layout
	if len(outs) != l.Outputs() || len(outs) == 0 {
		return nil, fmt.Errorf("%w: layout %v reads %d outputs, got %d", ErrBadOutput, l, l.Outputs(), len(outs))
	}
	if l == LayoutYOLOv8 || l == LayoutYOLOv5 {
		return d.Decode(outs[0].Data, outs[0].Shape, l, batchIndex, conf)
	}
	if len(outs) > len(d.imgs) {
		return nil, fmt.Errorf("%w: %d outputs", ErrBadOutput, len(outs))
	}
	imgs := d.imgs[:len(outs)] // this image's part of each output
	var rows, n int64 = -1, -1
	for i, o := range outs {
		if len(o.Shape) < 2 {
			return nil, fmt.Errorf("%w: %v output %d has shape %v", ErrBadOutput, l, i, o.Shape)
		}
		if n < 0 {
			n, rows = o.Shape[0], o.Shape[1]
		}
		if o.Shape[0] != n || o.Shape[1] != rows {
			return nil, fmt.Errorf("%w: %v outputs disagree on batch and rows: %v vs [%d %d ...]", ErrBadOutput, l, o.Shape, n, rows)
		}
		per := int64(1)
		for _, v := range o.Shape[1:] {
			per *= v
		}
		if per <= 0 || int64(len(o.Data)) < n*per {
			return nil, fmt.Errorf("%w: %d values for shape %v", ErrBadOutput, len(o.Data), o.Shape)
		}
		if batchIndex < 0 || int64(batchIndex) >= n {
			return nil, fmt.Errorf("%w: image %d of a batch of %d", ErrBatch, batchIndex, n)
		}
		imgs[i] = o.Data[int64(batchIndex)*per : int64(batchIndex+1)*per]
	}
	last := func(i int) int64 { s := outs[i].Shape; return s[len(s)-1] }
	want := func(i int, rank int, lastDim int64, what string) error {
		if len(outs[i].Shape) != rank || (lastDim > 0 && last(i) != lastDim) || last(i) <= 0 {
			return fmt.Errorf("%w: %v output %d has shape %v; expected %s", ErrBadOutput, l, i, outs[i].Shape, what)
		}
		return nil
	}
	d.cands = d.cands[:0]
	q := int(rows)
	w, h := float32(spec.InputW), float32(spec.InputH)
	switch l {
	case LayoutEndToEnd:
		if err := want(0, 3, 6, "[N, K, 6]"); err != nil {
			return nil, err
		}
		d.decodeEndToEnd(imgs[0], q, conf)
	case LayoutRTDETRUltralytics:
		if err := want(0, 3, 0, "[N, Q, 4+C]"); err != nil {
			return nil, err
		}
		if last(0) < 5 {
			return nil, fmt.Errorf("%w: %v output has shape %v; expected [N, Q, 4+C] with C >= 1", ErrBadOutput, l, outs[0].Shape)
		}
		d.decodeRTDETR(imgs[0], q, int(last(0))-4, conf, w, h)
	case LayoutDETR:
		if err := want(0, 2, 0, "labels [N, Q]"); err != nil {
			return nil, err
		}
		if err := want(1, 3, 4, "boxes [N, Q, 4]"); err != nil {
			return nil, err
		}
		if err := want(2, 2, 0, "scores [N, Q]"); err != nil {
			return nil, err
		}
		d.decodeDETR(imgs[0], imgs[1], imgs[2], q, conf)
	case LayoutRFDETR:
		if err := want(0, 3, 4, "dets [N, Q, 4]"); err != nil {
			return nil, err
		}
		if err := want(1, 3, 0, "labels [N, Q, C+1]"); err != nil {
			return nil, err
		}
		if last(1) < 2 {
			return nil, fmt.Errorf("%w: %v labels have shape %v; expected [N, Q, C+1] with C >= 1", ErrBadOutput, l, outs[1].Shape)
		}
		d.decodeRFDETR(imgs[0], imgs[1], q, int(last(1)), conf, w, h)
	case LayoutYOLONAS:
		if err := want(0, 3, 4, "boxes [N, A, 4]"); err != nil {
			return nil, err
		}
		if err := want(1, 3, 0, "scores [N, A, C]"); err != nil {
			return nil, err
		}
		d.decodeNAS(imgs[0], imgs[1], q, int(last(1)), conf)
	default:
		return nil, fmt.Errorf("%w: layout %v", ErrUnknownLayout, l)
	}
	return d.cands, nil
}

// decodeEndToEnd: rows x1, y1, x2, y2, score, class in input pixels; padding rows score 0.
func (d *Decoder) decodeEndToEnd(img []float32, rows int, conf float32) {
	for r := range rows {
		row := img[r*6 : r*6+6]
		if !(row[4] > conf) {
			continue
		}
		d.cands = append(d.cands, Candidate{Box: [4]float32{row[0], row[1], row[2], row[3]}, Score: row[4], ClassID: classID(row[5])})
	}
}

// decodeRTDETR: per query cx, cy, w, h normalised to the input, then C sigmoid scores; the
// best class (first on ties) as Ultralytics' RTDETRPredictor takes it.
func (d *Decoder) decodeRTDETR(img []float32, rows, classes int, conf, w, h float32) {
	stride := 4 + classes
	for r := range rows {
		row := img[r*stride : (r+1)*stride]
		bc, bs := bestClass(row[4:])
		if !(bs > conf) {
			continue
		}
		d.cands = append(d.cands, Candidate{Box: xywh(row[0]*w, row[1]*h, row[2]*w, row[3]*h), Score: bs, ClassID: bc})
	}
}

// decodeDETR: the official post-processor's top-Q already: labels, boxes (x1, y1, x2, y2 in
// orig_target_sizes pixels, which the backends feed as the input size) and scores.
func (d *Decoder) decodeDETR(labels, boxes, scores []float32, rows int, conf float32) {
	for r := range rows {
		s := scores[r]
		if !(s > conf) {
			continue
		}
		b := boxes[4*r : 4*r+4]
		d.cands = append(d.cands, Candidate{Box: [4]float32{b[0], b[1], b[2], b[3]}, Score: s, ClassID: classID(labels[r])})
	}
}

// decodeRFDETR: per query and class, score = sigmoid(logit); RF-DETR's post-processor takes
// the top 300 (query, class) pairs over all classes, so a query may report two classes. Index
// 0 of the logits is the background (COCO's unused id 0, a Roboflow dataset's superclass):
// never reported; index c is class c-1. Boxes are cx, cy, w, h normalised to the input.
func (d *Decoder) decodeRFDETR(dets, logits []float32, rows, width int, conf, w, h float32) {
	// Compare logits, not sigmoids: sigmoid is monotonic, so only the few logits near or above
	// the threshold's logit need the exponential.
	lc := float32(math.Inf(-1))
	if conf > 0 && conf < 1 {
		lc = float32(math.Log(float64(conf)/(1-float64(conf)))) - 1e-3
	} else if conf >= 1 {
		return
	}
	for r := range rows {
		row := logits[r*width : (r+1)*width]
		b := dets[4*r : 4*r+4]
		for c := 1; c < width; c++ {
			x := row[c]
			if !(x > lc) {
				continue
			}
			s := sigmoid(x)
			if !(s > conf) {
				continue
			}
			d.cands = append(d.cands, Candidate{Box: xywh(b[0]*w, b[1]*h, b[2]*w, b[3]*h), Score: s, ClassID: c - 1})
		}
	}
}

// decodeNAS: boxes x1, y1, x2, y2 in input pixels, scores per class; best class per anchor.
func (d *Decoder) decodeNAS(boxes, scores []float32, anchors, classes int, conf float32) {
	for a := range anchors {
		bc, bs := bestClass(scores[a*classes : (a+1)*classes])
		if !(bs > conf) {
			continue
		}
		b := boxes[4*a : 4*a+4]
		d.cands = append(d.cands, Candidate{Box: [4]float32{b[0], b[1], b[2], b[3]}, Score: bs, ClassID: bc})
	}
}

// bestClass returns the index and value of the largest score, the first on ties.
func bestClass(s []float32) (int, float32) {
	bc, bs := 0, s[0]
	for c, v := range s {
		if v > bs {
			bc, bs = c, v
		}
	}
	return bc, bs
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// classID turns a class number carried as a float into an id (-1 if it is not a number).
func classID(v float32) int {
	if v != v || v < -1 || v > 1<<24 {
		return -1
	}
	return int(math.Round(float64(v)))
}

// Top sorts c by score, best first (ties keep their order), and keeps at most maxDet (if
// > 0): what a layout without NMS gets instead. It reuses d's buffers.
func (d *Decoder) Top(c []Candidate, maxDet int) []Candidate {
	if cap(d.keys) < len(c) {
		d.keys = make([]uint64, len(c))
		d.sorted = make([]Candidate, len(c))
	}
	keys := d.keys[:len(c)]
	for i := range c {
		keys[i] = uint64(^orderedBits(c[i].Score))<<32 | uint64(i)
	}
	slices.Sort(keys)
	if maxDet > 0 && len(keys) > maxDet {
		keys = keys[:maxDet]
	}
	sorted := d.sorted[:len(keys)]
	for i, k := range keys {
		sorted[i] = c[uint32(k)]
	}
	c = c[:len(sorted)]
	copy(c, sorted)
	return c
}
