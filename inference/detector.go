package inference

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/gstvision/gstvision/defs"
)

// DefaultMaxDet is the most detections a Detector keeps per frame (as Ultralytics' max_det).
const DefaultMaxDet = 300

// Detector turns frames into detections with one Backend: fill slots, run once, decode and
// suppress each image, map boxes back to the source frame. It keeps its decoding buffers from
// call to call. Like its Backend, a Detector is used by one goroutine at a time (Inline and
// Batcher serialise access for their callers).
type Detector struct {
	b      Backend
	info   ModelInfo
	labels []string
	conf   float32
	iou    float32
	maxDet int

	decs []*Decoder  // one per decoding worker
	lbs  []Letterbox // DetectBatch's per-slot letterboxes
}

// NewDetector wraps b, which must run the model info describes. labels name the classes (a
// class without a label is called "class<N>"); conf is the score threshold (strictly above)
// and iou the class-wise NMS overlap threshold (boxes overlapping a better one of the same class
// by more are dropped).
func NewDetector(b Backend, info ModelInfo, labels []string, conf, iou float32) *Detector {
	// Every class of the model gets its name up front, so that naming a detection allocates
	// nothing.
	names := slices.Clone(labels)
	for id := len(names); id < info.NumClasses; id++ {
		names = append(names, "class"+strconv.Itoa(id))
	}
	return &Detector{b: b, info: info, labels: names, conf: conf, iou: iou, maxDet: DefaultMaxDet}
}

// SetMaxDet sets the most detections kept per frame (<= 0: no limit).
func (d *Detector) SetMaxDet(n int) { d.maxDet = n }

// Backend is the backend the Detector runs (the caller still owns and closes it).
func (d *Detector) Backend() Backend { return d.b }

// Info is the model the Detector runs.
func (d *Detector) Info() ModelInfo { return d.info }

// MaxBatch is the number of frames one Run can take.
func (d *Detector) MaxBatch() int { return d.b.MaxBatch() }

// Letterbox is the mapping of a w×h frame into the model's input: a letterbox, or a plain
// resize for the DETR family (ModelInfo.Preprocess).
func (d *Detector) Letterbox(w, h int) Letterbox {
	return NewPreprocess(d.info.Preprocess, w, h, d.info.InputW, d.info.InputH)
}

// Fill writes f into input slot and returns the letterbox to pass to Run for that slot. After
// Fill returns, f is no longer read (its buffer can go back to the decoder).
func (d *Detector) Fill(slot int, f *defs.Frame) (Letterbox, error) {
	if f == nil || f.Width <= 0 || f.Height <= 0 {
		return Letterbox{}, fmt.Errorf("%w: missing frame or empty size", ErrBadFrame)
	}
	lb := d.Letterbox(f.Width, f.Height)
	if err := d.b.Fill(slot, f, lb); err != nil {
		return Letterbox{}, err
	}
	return lb, nil
}

// Run runs slots [0, len(lbs)) filled by Fill and returns each slot's detections, in
// source-frame pixels. A zero Letterbox marks a slot to skip (its fill failed): its result is
// nil. Each returned slice is newly allocated and owned by the caller.
func (d *Detector) Run(lbs []Letterbox) ([][]defs.Detection, error) {
	p, err := d.infer(lbs)
	if err != nil {
		return nil, err
	}
	return p.detections()
}

// inferred is a batch that has run on the backend, waiting to become detections. Its
// candidates or raw output are the backend's buffers: detections must be done before the
// Detector's next run (the Batcher overlaps it with other Detectors' runs).
type inferred struct {
	d     *Detector
	lbs   []Letterbox
	cands *CandidateBatch // from a CandidateBackend
	outs  []Tensor        // else the raw outputs
}

// infer is the backend half of Run: the device work and the copy back.
func (d *Detector) infer(lbs []Letterbox) (inferred, error) {
	p := inferred{d: d, lbs: lbs}
	var err error
	// Where the backend can decode on its device (the anchor layouts), only candidates come
	// back; otherwise the raw outputs are decoded on the host (the 300-row layouts' are small).
	l := d.info.Layout
	cb, ok := d.b.(CandidateBackend)
	if dd, can := d.b.(deviceDecoder); ok && can {
		ok = dd.DecodesOnDevice(l)
	}
	switch ob, multi := d.b.(OutputsBackend); {
	case ok && (l == LayoutYOLOv8 || l == LayoutYOLOv5 || l == LayoutYOLONAS):
		p.cands, err = cb.RunCandidates(len(lbs), l, d.conf)
	case multi:
		p.outs, err = ob.RunOutputs(len(lbs))
	case l.Outputs() > 1:
		err = fmt.Errorf("%w: %s: layout %v needs a backend returning every output", ErrBadOutput, d.info.Path, l)
	default:
		var t Tensor
		t.Data, t.Shape, err = d.b.Run(len(lbs))
		p.outs = []Tensor{t}
	}
	return p, err
}

// detections is the host half of Run: decoding (raw output only), NMS (for the layouts that
// need it; the others are only sorted and capped at maxDet), and mapping to the
// source frames, per image spread over the cores, each worker with its own Decoder buffers (a
// model with many candidates costs milliseconds per image).
func (p inferred) detections() ([][]defs.Detection, error) {
	d, n := p.d, len(p.lbs)
	res := make([][]defs.Detection, n)
	workers := min(n, runtime.GOMAXPROCS(0))
	for len(d.decs) < workers {
		d.decs = append(d.decs, &Decoder{})
	}
	errs := make([]error, workers)
	spec, nms := SpecOf(d.info), d.info.Layout.NeedsNMS()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			dec := d.decs[w]
			for i := w; i < n; i += workers {
				lb := p.lbs[i]
				if lb.SrcW == 0 {
					continue
				}
				var (
					c   []Candidate
					err error
				)
				if p.cands != nil {
					c, err = p.cands.Image(i, dec)
				} else {
					c, err = dec.DecodeOutputs(p.outs, spec, i, d.conf)
				}
				if err != nil {
					errs[w] = fmt.Errorf("%s: %w", d.info.Path, err)
					return
				}
				if nms {
					c = dec.NMS(c, d.iou, d.maxDet)
				} else {
					c = dec.Top(c, d.maxDet)
				}
				res[i] = d.toDetections(c, lb)
			}
		}(w)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return res, nil
}

// toDetections maps kept candidates to the source frame; a box that lies wholly in the padding
// clips to nothing and is dropped.
func (d *Detector) toDetections(kept []Candidate, lb Letterbox) []defs.Detection {
	dets := make([]defs.Detection, 0, len(kept))
	for _, c := range kept {
		box := lb.ToSource(c.Box)
		if box[2] <= box[0] || box[3] <= box[1] {
			continue
		}
		dets = append(dets, defs.Detection{ClassID: c.ClassID, Label: d.label(c.ClassID), Score: c.Score, Box: box})
	}
	return dets
}

func (d *Detector) label(id int) string {
	if id >= 0 && id < len(d.labels) {
		return d.labels[id]
	}
	return "class" + strconv.Itoa(id)
}

// DetectBatch detects in every frame, running as many batches of up to MaxBatch as needed.
// It returns one slice of detections per frame, in order.
func (d *Detector) DetectBatch(frames []*defs.Frame) ([][]defs.Detection, error) {
	res := make([][]defs.Detection, 0, len(frames))
	maxB := d.b.MaxBatch()
	for start := 0; start < len(frames); start += maxB {
		chunk := frames[start:min(start+maxB, len(frames))]
		d.lbs = d.lbs[:0]
		for i, f := range chunk {
			lb, err := d.Fill(i, f)
			if err != nil {
				return nil, fmt.Errorf("frame %d: %w", start+i, err)
			}
			d.lbs = append(d.lbs, lb)
		}
		r, err := d.Run(d.lbs)
		if err != nil {
			return nil, err
		}
		res = append(res, r...)
	}
	return res, nil
}

// Inline is the unified-mode path: one frame at a time, synchronously, in the caller's
// goroutine (a camera's streaming thread). Several cameras may share one Inline; their frames
// then take turns on its Detector.
type Inline struct {
	mu  sync.Mutex
	d   *Detector
	lbs [1]Letterbox
}

// NewInline wraps d for batch-1 use.
func NewInline(d *Detector) *Inline { return &Inline{d: d} }

// Detect runs the model on f alone. f's planes are read only during the call.
func (in *Inline) Detect(f *defs.Frame) ([]defs.Detection, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	lb, err := in.d.Fill(0, f)
	if err != nil {
		return nil, err
	}
	in.lbs[0] = lb
	res, err := in.d.Run(in.lbs[:])
	if err != nil {
		return nil, err
	}
	return res[0], nil
}
