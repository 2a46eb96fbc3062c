//go:build gpu

package inference

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/internal/cudatest"
)

// floatToHalf truncates a non-negative float32 to float16 (values below the smallest normal
// become 0); the tests feed the kernel and the CPU reference the same, exact, halves.
func floatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	exp := int32(b>>23&0xff) - 127 + 15
	switch {
	case exp <= 0:
		return 0
	case exp >= 31:
		return 0x7bff // largest finite
	}
	return uint16(exp)<<10 | uint16(b>>13&0x3ff)
}

// rawOutput makes n images of detector output in layout with skewed random scores (a minority
// of anchors pass conf 0.5), exact ties between two classes on some anchors, and boxes in
// model pixels. It returns the bytes to upload and the same values as float32.
func rawOutput(layout Layout, half bool, n, classes, anchors int, seed uint64) ([]byte, []float32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	per := (4 + classes) * anchors
	if layout == LayoutYOLOv5 {
		per = anchors * (5 + classes)
	}
	vals := make([]float32, n*per)
	at := func(img, a, ch int) *float32 { // ch: 0..3 box, 4.. scores (v5: 4 objectness, 5.. classes)
		if layout == LayoutYOLOv8 {
			return &vals[img*per+ch*anchors+a]
		}
		return &vals[img*per+a*(5+classes)+ch]
	}
	first := 4
	if layout == LayoutYOLOv5 {
		first = 5
	}
	for img := range n {
		for a := range anchors {
			for ch := range 4 {
				*at(img, a, ch) = float32(rng.Float64() * 640)
			}
			if layout == LayoutYOLOv5 {
				*at(img, a, 4) = float32(math.Pow(rng.Float64(), 0.5))
			}
			for c := range classes {
				*at(img, a, first+c) = float32(math.Pow(rng.Float64(), 200))
			}
			if a%97 == 0 { // a tie: the first class must win
				*at(img, a, first+3), *at(img, a, first+10) = 0.95, 0.95
			}
		}
	}
	var raw []byte
	for i, v := range vals {
		if half {
			h := floatToHalf(v)
			vals[i] = cudatest.HalfToFloat(h)
			raw = binary.LittleEndian.AppendUint16(raw, h)
		} else {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	return raw, vals
}

// The GPU decoder passes exactly the anchors Decode passes, with the same classes, scores and
// boxes, in both layouts and both element types.
func TestGPUCandidatesMatchDecode(t *testing.T) {
	ctx := cudatest.Open(t)
	k, err := loadDecodeKernels(ctx)
	if err != nil {
		t.Fatalf("compiling the decoding kernels with NVRTC: %v", err)
	}
	s := cudatest.Stream(t, ctx)
	const n, classes, anchors, conf = 3, 80, 8400, float32(0.5)
	for _, tc := range []struct {
		name   string
		layout Layout
		half   bool
	}{
		{"yolov8-f32", LayoutYOLOv8, false}, {"yolov8-f16", LayoutYOLOv8, true},
		{"yolov5-f32", LayoutYOLOv5, false}, {"yolov5-f16", LayoutYOLOv5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, vals := rawOutput(tc.layout, tc.half, n, classes, anchors, 42)
			out := alloc(t, ctx, len(raw))
			counts := alloc(t, ctx, 4*n)
			recs := alloc(t, ctx, n*anchors*candidateWords*4)
			if err := s.CopyHtoD(out, raw); err != nil {
				t.Fatal(err)
			}
			p := candidateParams{layout: tc.layout, half: tc.half, images: n, classes: classes, anchors: anchors, conf: conf}
			shape := []int64{n, 4 + classes, anchors}
			if tc.layout == LayoutYOLOv5 {
				shape = []int64{n, anchors, 5 + classes}
			}
			if err := k.candidates(s, out, p, counts, recs); err != nil {
				t.Fatal(err)
			}
			hc := make([]byte, 4*n)
			hr := make([]byte, n*anchors*candidateWords*4)
			if err := s.CopyDtoH(hc, counts); err != nil {
				t.Fatal(err)
			}
			if err := s.CopyDtoH(hr, recs); err != nil {
				t.Fatal(err)
			}
			if err := s.Synchronize(); err != nil {
				t.Fatal(err)
			}
			total := 0
			for img := range n {
				want, err := Decode(vals, shape, tc.layout, img, conf)
				if err != nil {
					t.Fatal(err)
				}
				cnt := int(int32(binary.LittleEndian.Uint32(hc[4*img:])))
				type rec struct {
					anchor, class int32
					score         float32
					box           [4]float32
				}
				got := make([]rec, cnt)
				for i := range got {
					w := func(j int) uint32 {
						return binary.LittleEndian.Uint32(hr[((img*anchors+i)*candidateWords+j)*4:])
					}
					f := func(j int) float32 { return math.Float32frombits(w(j)) }
					cx, cy, bw, bh := f(3), f(4), f(5), f(6)
					got[i] = rec{int32(w(0)), int32(w(1)), f(2), [4]float32{cx - bw/2, cy - bh/2, cx + bw/2, cy + bh/2}}
				}
				slices.SortFunc(got, func(a, b rec) int { return int(a.anchor - b.anchor) })
				if len(got) != len(want) {
					t.Fatalf("image %d: GPU passed %d anchors, CPU %d", img, len(got), len(want))
				}
				for i, w := range want {
					g := got[i]
					if int(g.class) != w.ClassID || g.score != w.Score || g.box != w.Box {
						t.Fatalf("image %d candidate %d: GPU anchor %d class %d score %v box %v; CPU class %d score %v box %v",
							img, i, g.anchor, g.class, g.score, g.box, w.ClassID, w.Score, w.Box)
					}
				}
				total += len(want)
			}
			if total == 0 || total == n*anchors {
				t.Fatalf("%d of %d anchors passed: the data does not exercise the threshold", total, n*anchors)
			}
			t.Logf("%d of %d anchors passed conf %.2f; all agree with inference.Decode", total, n*anchors, conf)
		})
	}

	// Cost of a full YOLOv8n batch of 32 (86 MiB of float32 output) on the device.
	const big = 32
	out := alloc(t, ctx, big*(4+classes)*anchors*4)
	counts, recs := alloc(t, ctx, 4*big), alloc(t, ctx, big*anchors*candidateWords*4)
	if err := s.Memset(out, 0, big*(4+classes)*anchors*4); err != nil {
		t.Fatal(err)
	}
	p := candidateParams{layout: LayoutYOLOv8, images: big, classes: classes, anchors: anchors, conf: 0.25}
	const iters = 50
	start := time.Now()
	for range iters {
		if err := k.candidates(s, out, p, counts, recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	t.Logf("candidates kernel, batch %d of [84, 8400] float32: %v per batch", big, time.Since(start)/iters)

	if err := k.candidates(s, out, candidateParams{layout: LayoutYOLOv8, images: 0, classes: 80, anchors: 8400}, counts, recs); err == nil {
		t.Error("candidates with 0 images succeeded")
	}
}

func alloc(t *testing.T, ctx *cuda.Context, n int) cuda.DevicePtr {
	t.Helper()
	p, err := ctx.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Free(p) })
	return p
}
