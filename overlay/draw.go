// Package overlay draws detections on decoded I420 frames on the CPU (the cpu mode's overlay;
// the cuda mode's kernel draws the same thing with the same [Palette] and glyphs of package
// [font]), and encodes I420 frames as JPEG for snapshots.
//
// A box is an outline in its class colour, [Thickness] pixels wide and drawn inside the box,
// with a filled label bar in the same colour above it (inside the box where the box touches
// the top of the frame) holding the label in the 5×7 [font], scaled by [FontScale]. Everything
// is clipped to the frame; no box, however odd, makes it panic.
package overlay

import (
	"errors"
	"fmt"

	"github.com/gstvision/gstvision/overlay/font"
)

// ErrBadFrame is returned (wrapped) for planes, strides or sizes that do not describe an I420
// frame.
var ErrBadFrame = errors.New("bad I420 frame")

// MaxDimension bounds frame width and height.
const MaxDimension = 1 << 15

// Box is a detection to draw, in pixel coordinates of the frame: corners (X1, Y1) and (X2, Y2),
// X2 and Y2 exclusive. Inverted corners are swapped.
type Box struct {
	X1, Y1, X2, Y2 int
	ClassID        int    // picks the colour, see ColorFor
	Text           string // the label, e.g. "person 0.87"; empty draws no label bar
}

// Thickness is the outline width for a w×h frame: min(w, h)/240, at least 2 (2 px at 480p, 3 at
// 720p, 4 at 1080p).
func Thickness(w, h int) int { return max(min(w, h)/240, 2) }

// FontScale is the label glyph scale for a w×h frame: min(w, h)/360, at least 1 (1 up to 480p,
// 2 at 720p, 3 at 1080p). A glyph cell is 6×8 pixels times the scale.
func FontScale(w, h int) int { return max(min(w, h)/360, 1) }

// i420 is a validated view of a frame.
type i420 struct {
	y, u, v    []byte
	ys, us, vs int // strides
	w, h       int // luma size
	cw, ch     int // chroma size
}

func newI420(planes [3][]byte, strides [3]int, w, h int) (i420, error) {
	f := i420{y: planes[0], u: planes[1], v: planes[2], ys: strides[0], us: strides[1], vs: strides[2],
		w: w, h: h, cw: (w + 1) / 2, ch: (h + 1) / 2}
	if w <= 0 || h <= 0 || w > MaxDimension || h > MaxDimension {
		return f, fmt.Errorf("%w: size %dx%d", ErrBadFrame, w, h)
	}
	check := func(name string, p []byte, stride, pw, ph int) error {
		if stride < pw {
			return fmt.Errorf("%w: %s stride %d < width %d", ErrBadFrame, name, stride, pw)
		}
		if need := stride*(ph-1) + pw; len(p) < need {
			return fmt.Errorf("%w: %s plane has %d bytes, need %d", ErrBadFrame, name, len(p), need)
		}
		return nil
	}
	if err := check("Y", f.y, f.ys, f.w, f.h); err != nil {
		return f, err
	}
	if err := check("U", f.u, f.us, f.cw, f.ch); err != nil {
		return f, err
	}
	return f, check("V", f.v, f.vs, f.cw, f.ch)
}

// fillLuma sets luma in [x0,x1)×[y0,y1), clipped.
func (f *i420) fillLuma(x0, y0, x1, y1 int, y uint8) {
	x0, x1 = max(x0, 0), min(x1, f.w)
	y0, y1 = max(y0, 0), min(y1, f.h)
	for r := y0; r < y1; r++ {
		row := f.y[r*f.ys+x0 : r*f.ys+x1]
		for i := range row {
			row[i] = y
		}
	}
}

// fill paints [x0,x1)×[y0,y1) with a colour, clipped. Chroma covers every sample the rectangle
// touches, so an odd edge bleeds into at most one neighbouring luma column or row.
func (f *i420) fill(x0, y0, x1, y1 int, y, u, v uint8) {
	x0, x1 = max(x0, 0), min(x1, f.w)
	y0, y1 = max(y0, 0), min(y1, f.h)
	if x0 >= x1 || y0 >= y1 {
		return
	}
	f.fillLuma(x0, y0, x1, y1, y)
	cx0, cx1 := x0/2, (x1+1)/2
	for r := y0 / 2; r < (y1+1)/2; r++ {
		ur := f.u[r*f.us+cx0 : r*f.us+cx1]
		vr := f.v[r*f.vs+cx0 : r*f.vs+cx1]
		for i := range ur {
			ur[i] = u
			vr[i] = v
		}
	}
}

// DrawI420 draws boxes on an I420 frame in place: the Y plane is w×h, U and V are
// ((w+1)/2)×((h+1)/2), each row of plane i starting strides[i] bytes after the previous one.
// Outlines are drawn first and label bars on top, so labels stay readable where boxes overlap.
// A frame whose planes are too small for w, h and strides is left alone.
func DrawI420(planes [3][]byte, strides [3]int, w, h int, boxes []Box) {
	f, err := newI420(planes, strides, w, h)
	if err != nil {
		return
	}
	t, s := Thickness(w, h), FontScale(w, h)
	for i := range boxes {
		if x1, y1, x2, y2, ok := f.visible(boxes[i], t); ok {
			y, u, v := RGBToYCbCr(ColorFor(boxes[i].ClassID))
			f.fill(x1, y1, x2, y1+t, y, u, v) // top
			f.fill(x1, y2-t, x2, y2, y, u, v) // bottom
			f.fill(x1, y1, x1+t, y2, y, u, v) // left
			f.fill(x2-t, y1, x2, y2, y, u, v) // right
		}
	}
	for i := range boxes {
		if x1, y1, _, _, ok := f.visible(boxes[i], t); ok && boxes[i].Text != "" {
			f.label(x1, y1, boxes[i], s)
		}
	}
}

// visible normalises a box (swapped corners, coordinates clamped just outside the frame so
// that the arithmetic cannot overflow and off-frame edges stay off-frame) and reports whether
// any of it is inside the frame.
func (f *i420) visible(b Box, t int) (x1, y1, x2, y2 int, ok bool) {
	x1, x2 = min(b.X1, b.X2), max(b.X1, b.X2)
	y1, y2 = min(b.Y1, b.Y2), max(b.Y1, b.Y2)
	clamp := func(v, hi int) int { return min(max(v, -t-1), hi+t+1) }
	x1, x2 = clamp(x1, f.w), clamp(x2, f.w)
	y1, y2 = clamp(y1, f.h), clamp(y2, f.h)
	ok = x1 < x2 && y1 < y2 && x2 > 0 && y2 > 0 && x1 < f.w && y1 < f.h
	return x1, y1, x2, y2, ok
}

// Glyphs sit in cells of 6×8 font pixels: a column and a row of spacing.
const cellW = font.Advance

// LabelSize is the size of the label bar for text at font scale s: a margin of s around glyph
// cells of 6s×8s (without the last cell's trailing column and row of spacing).
func LabelSize(text string, s int) (w, h int) {
	return len(text)*cellW*s + s, font.Height*s + 2*s
}

// label draws the bar and text of a box whose (clamped) top-left corner is x1, y1.
func (f *i420) label(x1, y1 int, b Box, s int) {
	text := b.Text
	// Truncate to what fits in the frame's width.
	if maxChars := (f.w - s) / (cellW * s); len(text) > maxChars {
		if maxChars <= 0 {
			return
		}
		text = text[:maxChars]
	}
	bw, bh := LabelSize(text, s)
	if bh > f.h {
		return
	}
	// Left-aligned with the box, pushed inside the frame at the right edge.
	bx := min(max(x1, 0), f.w-bw)
	// Above the box; inside it when there is no room above; never below the frame.
	by := y1 - bh
	if by < 0 {
		by = max(y1, 0)
	}
	by = min(by, f.h-bh)

	col := ColorFor(b.ClassID)
	y, u, v := RGBToYCbCr(col)
	f.fill(bx, by, bx+bw, by+bh, y, u, v)
	// Text in luma only: strokes are thinner than a chroma sample at small scales.
	ink := TextColor(col)
	for i := 0; i < len(text); i++ {
		g := font.Of(text[i])
		gx, gy := bx+s+i*cellW*s, by+s
		for r := range font.Height {
			for c := range font.Width {
				if g.Ink(c, r) {
					px, py := gx+c*s, gy+r*s
					f.fillLuma(px, py, px+s, py+s, ink)
				}
			}
		}
	}
}
