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

// Sample returns the luma of a w×h picture, stride bytes a row, sampled every step pixels in
// both directions: a small copy to keep and match later with Frames.
func Sample(y []byte, stride, w, h, step int) []byte {
	sw, sh := w/step, h/step
	out := make([]byte, sw*sh)
	for j := range sh {
		row := y[j*step*stride:]
		for i := range sw {
			out[j*sw+i] = row[i*step]
		}
	}
	return out
}

// Frames renders the frames of a w×h scene on demand, once each, and keeps them sampled every
// step pixels: matching many pictures against the same frames renders each frame only once.
// Not safe for concurrent use.
type Frames struct {
	w, h, step int
	render     func(n int, dst []byte)
	buf        []byte
	sampled    map[int][]byte
}

// NewFrames matches against the frames render draws (frame n as packed I420), sampled every
// step pixels.
func NewFrames(w, h, step int, render func(n int, dst []byte)) *Frames {
	return &Frames{w: w, h: h, step: step, render: render, sampled: map[int][]byte{}}
}

// frame returns frame n, sampled.
func (f *Frames) frame(n int) []byte {
	if s, ok := f.sampled[n]; ok {
		return s
	}
	if f.buf == nil {
		f.buf = make([]byte, f.w*f.h*3/2)
	}
	f.render(n, f.buf)
	s := Sample(f.buf, f.w, f.w, f.h, f.step)
	f.sampled[n] = s
	return s
}

// Match returns the frame in [lo, hi] (frames below 0 skipped) closest to pic, a picture
// sampled with Sample at the same step: the frame (the first of equals; -1 when the range
// holds none), its mean absolute difference, and the smallest difference among the frames at
// least 3 away from it, which says how clearly it won.
func (f *Frames) Match(pic []byte, lo, hi int) (best int, diff, other float64) {
	diffs := make(map[int]float64, max(hi-lo+1, 0))
	best, diff, other = -1, math.Inf(1), math.Inf(1)
	for n := max(lo, 0); n <= hi; n++ {
		d := meanAbsDiff(pic, f.frame(n))
		diffs[n] = d
		if d < diff {
			diff, best = d, n
		}
	}
	for n, d := range diffs {
		if (n < best-2 || n > best+2) && d < other {
			other = d
		}
	}
	return best, diff, other
}

func meanAbsDiff(a, b []byte) float64 {
	var sum int
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += d
	}
	return float64(sum) / float64(len(a))
}
