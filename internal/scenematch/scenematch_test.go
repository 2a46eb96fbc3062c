package scenematch

import (
	"math"
	"testing"
)

func TestBest(t *testing.T) {
	const w, h = 8, 4
	render := func(n int, dst []byte) {
		for i := range dst {
			dst[i] = byte(16 + 10*n)
		}
	}
	pic := make([]byte, w*h*3/2)
	render(3, pic)
	best, diff, diffs := Best(Luma{Pix: pic, Stride: w}, w, h, render, -2, 5)
	if best != 3 || diff != 0 || len(diffs) != 6 || diffs[5] != 20 {
		t.Errorf("Best = %d, %v, %v; want 3, 0 and 6 frames (frame 5 at 20)", best, diff, diffs)
	}
	// Full range: limited-range 16 and 235 are 0 and 255.
	full := Luma{Pix: make([]byte, 2*w*h), Stride: 2 * w, FullRange: true}
	ref := make([]byte, w*h*3/2)
	render(0, ref)
	ref[0] = 235
	full.Pix[0] = 255
	if d := Diff(full, ref, w, h); d != 0 {
		t.Errorf("full-range Diff = %v, want 0", d)
	}
}

func TestFramesMatch(t *testing.T) {
	const w, h, step = 16, 8, 4
	renders := map[int]int{}
	render := func(n int, dst []byte) {
		renders[n]++
		for i := range dst {
			dst[i] = byte(16 + 10*n)
		}
		dst[0] = 0 // sampled: a pixel on the grid every step pixels
	}
	f := NewFrames(w, h, step, render)
	pic := make([]byte, w*h*3/2)
	render(4, pic)
	s := Sample(pic, w, w, h, step)
	if len(s) != (w/step)*(h/step) || s[0] != 0 || s[1] != 56 {
		t.Fatalf("Sample = %v", s)
	}
	best, diff, other := f.Match(s, -3, 9)
	// frames 0..9 rendered; 4 matches exactly; the closest frames 3 or more away are 1 and 7.
	if best != 4 || diff != 0 || math.Abs(other-30*float64(len(s)-1)/float64(len(s))) > 1e-9 {
		t.Errorf("Match = %d, %v, %v; want 4, 0 and the difference of frames 1 and 7", best, diff, other)
	}
	f.Match(s, 0, 9)
	for n := range 10 {
		if want := 1 + b2i(n == 4); renders[n] != want {
			t.Errorf("frame %d rendered %d times, want %d (once by Frames)", n, renders[n], want)
		}
	}
	if best, _, _ := f.Match(s, -5, -1); best != -1 {
		t.Errorf("Match over no frame = %d, want -1", best)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
