package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/overlay/font"
)

// MaxLabel is the longest label drawn, in characters; longer labels are cut.
const MaxLabel = 48

// Box is one detection to draw: an outline over [X1, X2) × [Y1, Y2) in frame pixels (clipped to
// the frame), in Color (RGB), and, when Text is not empty, a label bar in the same colour above
// the box (inside its top edge when there is no room above) with Text in black or white,
// whichever contrasts. Printable ASCII is drawn; other characters show as '?'.
type Box struct {
	X1, Y1, X2, Y2 int
	Color          [3]uint8
	Text           string
}

// Drawer draws boxes on NV12 frames in device memory. It owns a small device buffer and a
// pinned staging buffer for up to MaxBoxes boxes, allocated once, so drawing allocates nothing.
// Its methods may be called from several goroutines (they are serialised).
type Drawer struct {
	ctx *Context
	k   *Kernels
	max int

	mu     sync.Mutex
	dev    DevicePtr // records (max × boxFields int32), then labels (max × MaxLabel bytes)
	host   []byte    // pinned, same layout
	recs   []int32   // layout scratch, max × boxFields
	closed bool
}

// NewDrawer compiles the kernels if needed and allocates buffers for maxBoxes boxes a frame.
func (c *Context) NewDrawer(maxBoxes int) (*Drawer, error) {
	if maxBoxes <= 0 || maxBoxes > 1<<16 {
		return nil, fmt.Errorf("cuda: NewDrawer(%d): %w", maxBoxes, ErrInvalidArgument)
	}
	k, err := c.Kernels()
	if err != nil {
		return nil, err
	}
	d := &Drawer{ctx: c, k: k, max: maxBoxes, recs: make([]int32, maxBoxes*boxFields)}
	n := d.textOffset() + maxBoxes*MaxLabel
	if d.dev, err = c.Alloc(n); err != nil {
		return nil, err
	}
	if d.host, err = c.AllocHost(n); err != nil {
		_ = c.Free(d.dev)
		return nil, err
	}
	return d, nil
}

func (d *Drawer) textOffset() int { return d.max * boxFields * 4 }

// MaxBoxes is the number of boxes drawn per call; boxes beyond it are not drawn.
func (d *Drawer) MaxBoxes() int { return d.max }

// DrawBoxes draws boxes in place on the NV12 frame whose Y plane is at y (pitchY bytes per row)
// and interleaved UV plane at uv (pitchUV), w×h pixels, using stream s. It returns when the
// drawing is done (the stream is synchronised), so the frame may be passed on at once.
func (d *Drawer) DrawBoxes(s *Stream, y, uv DevicePtr, pitchY, pitchUV, w, h int, boxes []Box) error {
	if err := s.live(); err != nil {
		return err
	}
	if s.ctx != d.ctx {
		return fmt.Errorf("cuda: DrawBoxes on a stream of another context: %w", ErrInvalidArgument)
	}
	if w <= 0 || h <= 0 || y == 0 || uv == 0 || pitchY < w || pitchUV < 2*((w+1)/2) {
		return fmt.Errorf("cuda: DrawBoxes on NV12 %dx%d at %#x/%#x pitches %d/%d: %w", w, h, y, uv, pitchY, pitchUV, ErrInvalidArgument)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("cuda: drawer: %w", defs.ErrClosed)
	}
	if len(boxes) > d.max {
		boxes = boxes[:d.max]
	}
	toff := d.textOffset()
	n, region := layoutBoxes(d.recs, d.host[toff:], w, h, boxes)
	if n == 0 {
		return nil
	}
	for i, v := range d.recs[:n*boxFields] {
		binary.LittleEndian.PutUint32(d.host[4*i:], uint32(v))
	}
	if err := s.CopyHtoD(d.dev, d.host[:n*boxFields*4]); err != nil {
		return err
	}
	if err := s.CopyHtoD(d.dev+DevicePtr(toff), d.host[toff:toff+n*MaxLabel]); err != nil {
		return err
	}
	rw, rh := (region[2]-region[0]+1)/2, (region[3]-region[1]+1)/2
	const bx, by = 32, 8
	a := C.gv_draw_args{
		y: C.CUdeviceptr(y), uv: C.CUdeviceptr(uv), boxes: C.CUdeviceptr(d.dev), text: C.CUdeviceptr(d.dev + DevicePtr(toff)),
		pitch_y: C.int(pitchY), pitch_uv: C.int(pitchUV), w: C.int(w), h: C.int(h),
		ox: C.int(region[0]), oy: C.int(region[1]), nboxes: C.int(n),
	}
	if r := C.gv_launch_draw(d.ctx.h, d.k.drawFns.f, C.uint((rw+bx-1)/bx), C.uint((rh+by-1)/by), bx, by, s.s, a); r != 0 {
		return fmt.Errorf("launching %s: %w", fnDrawBoxes, check("cuLaunchKernel", r))
	}
	return s.Synchronize()
}

// Close frees the drawer's buffers. Idempotent.
func (d *Drawer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.ctx.closed.Load() {
		return nil
	}
	err := d.ctx.Free(d.dev)
	if err2 := d.ctx.FreeHost(d.host); err == nil {
		err = err2
	}
	return err
}

// drawStyle is the outline thickness and glyph scale for a frame height: 2 px and 1× up to
// 720p, 2 px and 2× at 1080p, 6 px and 4× at 4K. Even sizes keep drawing aligned with NV12's
// 2×2 chroma blocks.
func drawStyle(h int) (thick, scale int) {
	return max(2, (h/360)&^1), max(1, h/540)
}

// rgbToYUV converts RGB to BT.601 limited-range YUV, packed Y | U<<8 | V<<16.
func rgbToYUV(c [3]uint8) int32 {
	r, g, b := float64(c[0]), float64(c[1]), float64(c[2])
	y := 16 + (65.481*r+128.553*g+24.966*b)/255
	u := 128 + (-37.797*r-74.203*g+112.0*b)/255
	v := 128 + (112.0*r-93.786*g-18.214*b)/255
	q := func(x float64) int32 { return int32(min(255, max(0, x+0.5))) }
	return q(y) | q(u)<<8 | q(v)<<16
}

const (
	yuvBlack = int32(16 | 128<<8 | 128<<16)
	yuvWhite = int32(235 | 128<<8 | 128<<16)
)

// layoutBoxes computes the kernel's box records (boxFields int32 each) and labels (MaxLabel
// bytes each, in text) for a w×h frame. It returns how many records it wrote (boxes entirely
// outside the frame are skipped) and the even-aligned region [x0, y0, x1, y1) they cover.
func layoutBoxes(recs []int32, text []byte, w, h int, boxes []Box) (n int, region [4]int) {
	thick, scale := drawStyle(h)
	region = [4]int{w, h, 0, 0}
	grow := func(x1, y1, x2, y2 int) {
		region[0], region[1] = min(region[0], x1), min(region[1], y1)
		region[2], region[3] = max(region[2], x2), max(region[3], y2)
	}
	clampEven := func(lo, hi, limit int) (int, int) {
		lo, hi = min(lo, hi), max(lo, hi)
		lo = max(0, min(lo, limit)) &^ 1
		hi = min(limit, (max(0, min(hi, limit))+1)&^1)
		return lo, hi
	}
	for _, b := range boxes {
		x1, x2 := clampEven(b.X1, b.X2, w)
		y1, y2 := clampEven(b.Y1, b.Y2, h)
		if x2 <= x1 || y2 <= y1 {
			continue
		}
		r := recs[n*boxFields : (n+1)*boxFields]
		clear(r)
		col := rgbToYUV(b.Color)
		r[boxX1], r[boxY1], r[boxX2], r[boxY2] = int32(x1), int32(y1), int32(x2), int32(y2)
		r[boxThick], r[boxColor], r[boxScale] = int32(thick), col, int32(scale)
		grow(x1, y1, x2, y2)

		label := text[n*MaxLabel : (n+1)*MaxLabel]
		k := 0
		for _, ch := range b.Text {
			if k == MaxLabel {
				break
			}
			if ch < font.First || ch > font.Last {
				ch = '?'
			}
			label[k] = byte(ch)
			k++
		}
		if k > 0 {
			pad := scale
			barW := ((k*font.Advance-1)*scale + 2*pad + 1) &^ 1
			barH := (font.Height*scale + 2*pad + 1) &^ 1
			bx1 := x1
			if bx1+barW > w {
				bx1 = max(0, w-barW) &^ 1
			}
			by1 := y1 - barH
			if by1 < 0 {
				by1 = y1
			}
			bx2, by2 := min(bx1+barW, w), min(by1+barH, h)
			r[boxBarX1], r[boxBarY1], r[boxBarX2], r[boxBarY2] = int32(bx1), int32(by1), int32(bx2), int32(by2)
			r[boxTextX], r[boxTextY] = int32(bx1+pad), int32(by1+pad)
			r[boxTextOff], r[boxTextLen] = int32(n*MaxLabel), int32(k)
			r[boxTextColor] = yuvWhite
			if col&0xff > 140 {
				r[boxTextColor] = yuvBlack
			}
			grow(bx1, by1, bx2, by2)
		}
		n++
	}
	region[0] &^= 1
	region[1] &^= 1
	return n, region
}
