package scenematch

import "testing"

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
