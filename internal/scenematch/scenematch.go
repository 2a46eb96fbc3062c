// Package scenematch finds which frame of a rendered scene (the simulator's ground truth) a
// picture shows, by mean absolute luma difference.
package scenematch

import "math"

// Luma is a picture's luma plane: Stride bytes a row, limited range (16–235) unless FullRange.
type Luma struct {
	Pix       []byte
	Stride    int
	FullRange bool
}

// Diff is the mean absolute difference between l and the luma of ref, a packed I420 picture of
// w×h, sampled every 2 pixels in both directions.
func Diff(l Luma, ref []byte, w, h int) float64 {
	var sum, cnt int
	for y := 0; y < h; y += 2 {
		for x := 0; x < w; x += 2 {
			r := int(ref[y*w+x])
			if l.FullRange {
				r = ((r-16)*255*2 + 219) / (219 * 2)
			}
			d := int(l.Pix[y*l.Stride+x]) - r
			if d < 0 {
				d = -d
			}
			sum += d
			cnt++
		}
	}
	return float64(sum) / float64(cnt)
}

// Best renders frames lo..hi of a w×h scene (render writes frame n as packed I420; frames
// below 0 are skipped) and returns the one closest to l (the first of equals), its
// difference, and the difference of every frame rendered, by frame number.
func Best(l Luma, w, h int, render func(n int, dst []byte), lo, hi int) (best int, diff float64, diffs map[int]float64) {
	ref := make([]byte, w*h*3/2)
	diff = math.Inf(1)
	diffs = map[int]float64{}
	for n := max(lo, 0); n <= hi; n++ {
		render(n, ref)
		v := Diff(l, ref, w, h)
		diffs[n] = v
		if v < diff {
			diff, best = v, n
		}
	}
	return best, diff, diffs
}
