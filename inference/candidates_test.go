package inference

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gstvision/gstvision/defs"
)

// candidateBatch builds what a CandidateBackend returns: per image, records of the anchors
// whose score passes, shuffled as the GPU's atomics leave them.
func candidateBatch(images, anchors, per int, seed uint64) *CandidateBatch {
	r := rand.New(rand.NewPCG(seed, 9))
	cb := &CandidateBatch{counts: make([]int32, images), recs: make([]candidateRecord, images*anchors), anchors: anchors}
	for i := range images {
		picked := r.Perm(anchors)[:per]
		for k, a := range picked {
			cb.recs[i*anchors+k] = candidateRecord{Anchor: int32(a), Class: int32(r.IntN(80)), Score: float32(r.IntN(1000)) / 1000,
				CX: r.Float32() * 640, CY: r.Float32() * 640, W: 5 + r.Float32()*80, H: 5 + r.Float32()*80}
		}
		cb.counts[i] = int32(per)
	}
	return cb
}

func TestCandidateBatchImageInAnchorOrder(t *testing.T) {
	cb := candidateBatch(3, 500, 120, 1)
	var d Decoder
	for i := range 3 {
		got, err := cb.Image(i, &d)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 120 {
			t.Fatalf("image %d: %d candidates, want 120", i, len(got))
		}
		// Anchor order: the records sorted by anchor, converted to corner boxes.
		byAnchor := map[int32]candidateRecord{}
		for _, r := range cb.recs[i*500 : i*500+120] {
			byAnchor[r.Anchor] = r
		}
		k := 0
		for a := range int32(500) {
			r, ok := byAnchor[a]
			if !ok {
				continue
			}
			want := Candidate{Box: xywh(r.CX, r.CY, r.W, r.H), Score: r.Score, ClassID: int(r.Class)}
			if got[k] != want {
				t.Fatalf("image %d candidate %d: %+v, want anchor %d %+v", i, k, got[k], a, want)
			}
			k++
		}
	}
	// The scratch is left clean for the next image: an empty image stays empty.
	cb.counts[1] = 0
	if got, err := cb.Image(1, &d); err != nil || len(got) != 0 {
		t.Errorf("empty image: %d candidates, %v", len(got), err)
	}
	cb.counts[2] = 501
	if _, err := cb.Image(2, &d); !errors.Is(err, ErrBadOutput) {
		t.Errorf("count above the anchors: %v, want ErrBadOutput", err)
	}
	cb.counts[2] = 1
	cb.recs[2*500].Anchor = 900
	if _, err := cb.Image(2, &d); !errors.Is(err, ErrBadOutput) {
		t.Errorf("anchor out of range: %v, want ErrBadOutput", err)
	}
	if _, err := cb.Image(3, &d); !errors.Is(err, ErrBatch) {
		t.Errorf("image 3 of 3: %v, want ErrBatch", err)
	}
}

// candidateBackend serves one prepared CandidateBatch, as the CUDA backend would.
type candidateBackend struct{ cb *CandidateBatch }

func (b candidateBackend) Fill(int, *defs.Frame, Letterbox) error { return nil }
func (b candidateBackend) Run(int) ([]float32, []int64, error) {
	return nil, nil, errors.New("the detector must use RunCandidates")
}
func (b candidateBackend) MaxBatch() int { return b.cb.Images() }
func (b candidateBackend) Close() error  { return nil }
func (b candidateBackend) RunCandidates(n int, _ Layout, _ float32) (*CandidateBatch, error) {
	return b.cb, nil
}

// The host half of a batch of 32 frames of a random-weight YOLOv8n at confidence 0.25
// (thousands of candidates per image): anchor ordering, NMS and mapping to the frames.
func BenchmarkDetectorHostHalf(b *testing.B) {
	cb := candidateBatch(32, 8400, 6000, 2)
	d := NewDetector(candidateBackend{cb}, ModelInfo{Path: "bench.onnx", InputW: 640, InputH: 640, Layout: LayoutYOLOv8, NumClasses: 80}, nil, 0.25, 0.45)
	lbs := make([]Letterbox, 32)
	for i := range lbs {
		lbs[i] = NewLetterbox(1920, 1080, 640, 640)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Run(lbs); err != nil {
			b.Fatal(err)
		}
	}
}

// The CUDA backend runs a handful of batch sizes (all warmed at start-up): never fewer slots
// than filled, at most 3 more, never more than allocated.
func TestCUDARunSize(t *testing.T) {
	b := &cudaBackend{maxBatch: 30}
	sizes := map[int]bool{}
	for n := 1; n <= 30; n++ {
		s := b.runSize(n)
		if s < n || s > 30 || s-n > 3 {
			t.Errorf("runSize(%d) = %d", n, s)
		}
		sizes[s] = true
	}
	if len(sizes) != 10 { // 1 2 4 8 12 16 20 24 28 30
		t.Errorf("%d distinct sizes %v, want 10", len(sizes), sizes)
	}
	fixed := &cudaBackend{maxBatch: 8, info: ModelInfo{FixedBatch: 8}}
	if s := fixed.runSize(3); s != 8 {
		t.Errorf("fixed batch 8: runSize(3) = %d", s)
	}
}
