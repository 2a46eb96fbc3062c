package inference

import (
	"fmt"
	"math"
	"slices"

	"github.com/gstvision/gstvision/defs"
)

// Candidate is one decoded box before mapping to the source frame: x1, y1, x2, y2 in model-input
// pixels.
type Candidate struct {
	Box     [4]float32
	Score   float32
	ClassID int
}

// Decoder decodes raw outputs into candidates, reusing its buffers from call to call so that
// the per-frame path does not allocate once warm. A Decoder is not safe for concurrent use.
type Decoder struct {
	best   []float32 // per anchor: highest class score (YOLOv8)
	cands  []Candidate
	keys   []uint64    // NMS: sort keys
	sorted []Candidate // NMS: candidates in score order
	last   []int32     // NMS: per class, the latest kept box
	prev   []int32     // NMS: per kept box, the one kept before it in its class

	byAnchor []int32 // CandidateBatch.Image: per anchor, its record, else -1 (kept all -1)

	imgs [3][]float32 // DecodeOutputs: one image's part of each output
}

// Decode returns the candidates of image batchIndex in out (shape as the model returned it)
// whose score exceeds conf. YOLOv8: score = best class score. YOLOv5: score = objectness ×
// best class probability, anchors whose objectness is at most conf skipped first. The returned
// slice is owned by d and valid until its next Decode.
func (d *Decoder) Decode(out []float32, shape []int64, layout Layout, batchIndex int, conf float32) ([]Candidate, error) {
	if len(shape) != 3 {
		return nil, fmt.Errorf("%w: shape %v, expected 3 dimensions", ErrBadOutput, shape)
	}
	n, d1, d2 := int(shape[0]), int(shape[1]), int(shape[2])
	if batchIndex < 0 || batchIndex >= n {
		return nil, fmt.Errorf("%w: image %d of a batch of %d", ErrBatch, batchIndex, n)
	}
	per := d1 * d2
	if d1 <= 0 || d2 <= 0 || len(out) < n*per {
		return nil, fmt.Errorf("%w: %d values for shape %v", ErrBadOutput, len(out), shape)
	}
	img := out[batchIndex*per : (batchIndex+1)*per]
	d.cands = d.cands[:0]
	switch layout {
	case LayoutYOLOv8:
		if d1 < 5 {
			return nil, fmt.Errorf("%w: shape %v, expected [N, 4+C, A] with C >= 1", ErrBadOutput, shape)
		}
		d.decodeV8(img, d1-4, d2, conf)
	case LayoutYOLOv5:
		if d2 < 6 {
			return nil, fmt.Errorf("%w: shape %v, expected [N, A, 5+C] with C >= 1", ErrBadOutput, shape)
		}
		d.decodeV5(img, d2-5, d1, conf)
	default:
		return nil, fmt.Errorf("%w: layout %v", ErrUnknownLayout, layout)
	}
	return d.cands, nil
}

// decodeV8 walks the class rows in memory order (anchors innermost), keeping a running max per
// anchor, rather than striding across rows per anchor: far kinder to the cache on 84×8400. The
// class of the few anchors that pass conf is found afterwards, by a strided scan of theirs alone.
func (d *Decoder) decodeV8(img []float32, classes, anchors int, conf float32) {
	if cap(d.best) < anchors {
		d.best = make([]float32, anchors)
	}
	best := d.best[:anchors]
	copy(best, img[4*anchors:5*anchors])
	for c := 1; c < classes; c++ {
		row := img[(4+c)*anchors : (5+c)*anchors]
		row = row[:len(best)]
		for a, s := range row {
			best[a] = max(best[a], s)
		}
	}
	cx, cy := img[:anchors], img[anchors:2*anchors]
	w, h := img[2*anchors:3*anchors], img[3*anchors:4*anchors]
	scores := img[4*anchors:]
	for a, s := range best {
		if !(s > conf) {
			continue
		}
		cls := 0
		for c := range classes {
			if scores[c*anchors+a] == s {
				cls = c
				break
			}
		}
		d.cands = append(d.cands, Candidate{Box: xywh(cx[a], cy[a], w[a], h[a]), Score: s, ClassID: cls})
	}
}

// decodeV5 reads one contiguous row per anchor; most anchors fail on objectness alone.
func (d *Decoder) decodeV5(img []float32, classes, anchors int, conf float32) {
	stride := 5 + classes
	for a := range anchors {
		row := img[a*stride : (a+1)*stride]
		obj := row[4]
		if obj <= conf {
			continue // score = obj × p ≤ obj: cannot pass
		}
		probs := row[5:]
		bc, bp := 0, probs[0]
		for c, p := range probs {
			if p > bp {
				bc, bp = c, p
			}
		}
		if s := obj * bp; s > conf {
			d.cands = append(d.cands, Candidate{Box: xywh(row[0], row[1], row[2], row[3]), Score: s, ClassID: bc})
		}
	}
}

func xywh(cx, cy, w, h float32) [4]float32 {
	return [4]float32{cx - w/2, cy - h/2, cx + w/2, cy + h/2}
}

// maxNMSCandidates bounds the greedy NMS's quadratic work when a very low threshold lets most
// anchors through; only the best-scoring candidates are considered (as Ultralytics' max_nms).
const maxNMSCandidates = 30000

// NMS performs class-wise greedy non-maximum suppression in place: candidates sorted by score
// (ties keep their order: anchor order, as decoders return them), each dropped if it overlaps
// a kept one of the same class with IoU above iouThr; at most maxDet (if > 0) are kept. It
// returns the kept prefix of c, best first. It allocates; per-frame paths use Decoder.NMS.
func NMS(c []Candidate, iouThr float32, maxDet int) []Candidate {
	var d Decoder
	return d.NMS(c, iouThr, maxDet)
}

// NMS is the package-level NMS, reusing d's buffers. Thousands of candidates (a low threshold)
// stay cheap: the sort orders 8-byte keys (score, then position) rather than the candidates,
// and a candidate is compared only with the kept boxes of its own class (chained per class).
func (d *Decoder) NMS(c []Candidate, iouThr float32, maxDet int) []Candidate {
	if cap(d.keys) < len(c) {
		d.keys = make([]uint64, len(c))
		d.sorted = make([]Candidate, len(c))
	}
	keys := d.keys[:len(c)]
	for i := range c {
		keys[i] = uint64(^orderedBits(c[i].Score))<<32 | uint64(i) // best first, then position
	}
	slices.Sort(keys)
	if len(keys) > maxNMSCandidates {
		keys = keys[:maxNMSCandidates]
	}
	sorted := d.sorted[:len(keys)]
	for i, k := range keys {
		sorted[i] = c[uint32(k)]
	}
	c = c[:len(sorted)]
	copy(c, sorted)
	// last[class]: index in c of that class's latest kept box (-1: none yet); prev[k]: the
	// kept box of the same class kept before c[k].
	maxClass := -1
	for i := range c {
		maxClass = max(maxClass, c[i].ClassID)
	}
	if cap(d.last) < maxClass+1 {
		d.last = make([]int32, maxClass+1)
	}
	last := d.last[:maxClass+1]
	for i := range last {
		last[i] = -1
	}
	if cap(d.prev) < len(c) {
		d.prev = make([]int32, len(c))
	}
	prev := d.prev[:len(c)]
	kept := 0
	for i := range c {
		cand := c[i]
		cls := cand.ClassID
		suppressed := false
		if cls >= 0 {
			for k := last[cls]; k >= 0; k = prev[k] {
				if IoU(c[k].Box, cand.Box) > iouThr {
					suppressed = true
					break
				}
			}
		} else { // negative class ids (not from a decoder): compare with every kept box
			for _, k := range c[:kept] {
				if k.ClassID == cls && IoU(k.Box, cand.Box) > iouThr {
					suppressed = true
					break
				}
			}
		}
		if suppressed {
			continue
		}
		c[kept] = cand
		if cls >= 0 {
			prev[kept], last[cls] = last[cls], int32(kept)
		}
		kept++
		if maxDet > 0 && kept == maxDet {
			break
		}
	}
	return c[:kept]
}

// orderedBits maps a float32 to a uint32 that sorts in the same order (negatives flipped).
func orderedBits(f float32) uint32 {
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

// IoU is the intersection over union of two x1, y1, x2, y2 boxes (0 when either is empty):
// defs.IoU, which the tracker shares.
func IoU(a, b [4]float32) float32 { return defs.IoU(a, b) }
