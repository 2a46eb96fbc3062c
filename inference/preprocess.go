package inference

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/gstvision/gstvision/defs"
)

// BT.601 limited-range YUV → RGB, with the 1/255 normalisation folded in, so that
// r = kY*(Y-16) + kRV*(V-128) lands directly in 0..1 (before clamping). The CUDA kernel uses the
// same constants so that both devices feed the model the same numbers.
const (
	yuvKY  = float32(1.164383 / 255)
	yuvKRV = float32(1.596027 / 255)
	yuvKGU = float32(0.391762 / 255)
	yuvKGV = float32(0.812968 / 255)
	yuvKBU = float32(2.017232 / 255)
)

// YUVToRGB converts one BT.601 limited-range sample to RGB in 0..1, as LetterboxInto does.
func YUVToRGB(y, u, v float32) (r, g, b float32) {
	yy := yuvKY * (y - 16)
	u -= 128
	v -= 128
	return clamp01(yy + yuvKRV*v), clamp01(yy - yuvKGU*u - yuvKGV*v), clamp01(yy + yuvKBU*u)
}

func clamp01(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// tap is one output coordinate's bilinear source: the two luma neighbours and the weight of the
// second, and the same for chroma (plane coordinates at half resolution).
type tap struct {
	l0, l1 int32
	c0, c1 int32
	lw, cw float32
}

// lbTables holds the per-column and per-row taps of one Letterbox; immutable once built, so
// any number of goroutines may share it.
type lbTables struct {
	cols []tap // NewW entries
	rows []tap // NewH entries
}

// tablesCache maps a Letterbox to its tables. Cameras have few distinct sizes; the bound only
// guards against a stream whose size changes constantly.
var tablesCache struct {
	m sync.Map // Letterbox → *lbTables
	n atomic.Int32
}

const tablesCacheMax = 64

func tablesFor(lb Letterbox) *lbTables {
	if t, ok := tablesCache.m.Load(lb); ok {
		return t.(*lbTables)
	}
	t := &lbTables{
		cols: buildTaps(lb.SrcW, lb.NewW, true),
		rows: buildTaps(lb.SrcH, lb.NewH, false),
	}
	if tablesCache.n.Add(1) > tablesCacheMax {
		tablesCache.m.Clear()
		tablesCache.n.Store(1)
	}
	actual, _ := tablesCache.m.LoadOrStore(lb, t)
	return actual.(*lbTables)
}

// buildTaps computes the bilinear taps of n outputs resampling src inputs, with pixel centres
// aligned (as cv2.resize INTER_LINEAR, which YOLO training uses). Chroma has H.264's default
// siting: co-sited with even luma columns horizontally, centred between luma rows vertically.
func buildTaps(src, n int, horizontal bool) []tap {
	taps := make([]tap, n)
	ratio := float64(src) / float64(n)
	csrc := (src + 1) / 2
	for i := range taps {
		s := (float64(i)+0.5)*ratio - 0.5
		var cs float64
		if horizontal {
			cs = s / 2
		} else {
			cs = (s+0.5)/2 - 0.5
		}
		l0, l1, lw := neighbours(s, src)
		c0, c1, cw := neighbours(cs, csrc)
		taps[i] = tap{l0: l0, l1: l1, lw: lw, c0: c0, c1: c1, cw: cw}
	}
	return taps
}

// neighbours returns the two samples around coordinate s in [0, n) and the weight of the
// second, clamping at the edges (edge pixels are replicated).
func neighbours(s float64, n int) (i0, i1 int32, w float32) {
	if s <= 0 {
		return 0, 0, 0
	}
	if s >= float64(n-1) {
		return int32(n - 1), int32(n - 1), 0
	}
	f := math.Floor(s)
	return int32(f), int32(f) + 1, float32(s - f)
}

// checkFrame verifies that f's host planes cover its size with its strides, so that the hot
// loop cannot index out of range.
func checkFrame(f *defs.Frame) error {
	if f == nil {
		return fmt.Errorf("%w: nil frame", ErrBadFrame)
	}
	if f.Width <= 0 || f.Height <= 0 {
		return fmt.Errorf("%w: size %dx%d", ErrBadFrame, f.Width, f.Height)
	}
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	need := func(plane, rowBytes, rows int) error {
		st := f.Strides[plane]
		if st < rowBytes {
			return fmt.Errorf("%w: %s %dx%d plane %d stride %d < row of %d bytes",
				ErrBadFrame, f.Format, f.Width, f.Height, plane, st, rowBytes)
		}
		if min := st*(rows-1) + rowBytes; len(f.Host[plane]) < min {
			return fmt.Errorf("%w: %s %dx%d plane %d has %d bytes, needs %d",
				ErrBadFrame, f.Format, f.Width, f.Height, plane, len(f.Host[plane]), min)
		}
		return nil
	}
	if err := need(0, f.Width, f.Height); err != nil {
		return err
	}
	switch f.Format {
	case defs.I420:
		if err := need(1, cw, ch); err != nil {
			return err
		}
		return need(2, cw, ch)
	case defs.NV12:
		return need(1, 2*cw, ch)
	}
	return fmt.Errorf("%w: unsupported pixel format %d", ErrBadFrame, int(f.Format))
}

// LetterboxInto writes frame f, letterboxed by lb, into dst (one model input slot of
// 3*lb.DstH*lb.DstW floats): RGB planar, 0..1, bilinear resize, BT.601 limited-range
// conversion, PadValue around the picture. f must have host planes in I420 or NV12, and lb must
// have been computed for f's size. The resampling tables are cached per Letterbox, so the first
// frame of a new size pays for them once. Safe for concurrent use on distinct dst.
func LetterboxInto(dst []float32, f *defs.Frame, lb Letterbox) error {
	if err := checkFrame(f); err != nil {
		return err
	}
	if f.Width != lb.SrcW || f.Height != lb.SrcH {
		return fmt.Errorf("%w: frame is %dx%d, letterbox is for %dx%d", ErrBadFrame, f.Width, f.Height, lb.SrcW, lb.SrcH)
	}
	plane := lb.DstW * lb.DstH
	if lb.DstW <= 0 || lb.DstH <= 0 || len(dst) < 3*plane {
		return fmt.Errorf("%w: destination holds %d floats, letterbox %dx%d needs %d", ErrBatch, len(dst), lb.DstW, lb.DstH, 3*plane)
	}
	if lb.NewW <= 0 || lb.NewH <= 0 || lb.PadX < 0 || lb.PadY < 0 || lb.PadX+lb.NewW > lb.DstW || lb.PadY+lb.NewH > lb.DstH {
		return fmt.Errorf("%w: letterbox %+v does not fit its destination", ErrBadFrame, lb)
	}
	t := tablesFor(lb)
	rp, gp, bp := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	padLetterbox(rp, gp, bp, lb)

	// Separable resampling: per output row, blend the two source rows into float scratch rows
	// (through lookup tables that fold in the byte→float conversion and the YUV offsets), then
	// resample those horizontally and convert to RGB. Half the arithmetic of blending four
	// bytes per plane per output pixel, and no byte→float conversions in the inner loop.
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	w, cw := f.Width, (f.Width+1)/2
	ty, tu, tv := sc.rows(w, cw)
	ys, ystr := f.Host[0], f.Strides[0]
	for oy, rt := range t.rows {
		vblend(ty, ys[int(rt.l0)*ystr:][:w], ys[int(rt.l1)*ystr:][:w], rt.lw, &lutY)
		switch f.Format {
		case defs.I420:
			us, ustr, vs, vstr := f.Host[1], f.Strides[1], f.Host[2], f.Strides[2]
			vblend(tu, us[int(rt.c0)*ustr:][:cw], us[int(rt.c1)*ustr:][:cw], rt.cw, &lutC)
			vblend(tv, vs[int(rt.c0)*vstr:][:cw], vs[int(rt.c1)*vstr:][:cw], rt.cw, &lutC)
		case defs.NV12:
			uv, str := f.Host[1], f.Strides[1]
			vblendUV(tu, tv, uv[int(rt.c0)*str:][:2*cw], uv[int(rt.c1)*str:][:2*cw], rt.cw)
		}
		o := (lb.PadY+oy)*lb.DstW + lb.PadX
		hconvert(rp[o:o+lb.NewW], gp[o:o+lb.NewW], bp[o:o+lb.NewW], t.cols, ty, tu, tv)
	}
	return nil
}

// lutY maps a luma byte to its limited-range contribution kY*(Y-16); lutC maps a chroma byte
// to C-128. Interpolation is linear, so blending mapped values equals mapping blended ones.
var lutY, lutC = func() (y, c [256]float32) {
	for i := range 256 {
		y[i] = yuvKY * (float32(i) - 16)
		c[i] = float32(i) - 128
	}
	return
}()

// scratch holds one call's blended source rows; pooled so LetterboxInto does not allocate.
type scratch struct{ buf []float32 }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (s *scratch) rows(w, cw int) (y, u, v []float32) {
	if n := w + 2*cw; cap(s.buf) < n {
		s.buf = make([]float32, n)
	}
	return s.buf[:w], s.buf[w : w+cw], s.buf[w+cw : w+2*cw]
}

// vblend writes lut[a] + wy*(lut[b]-lut[a]) for each column: two source rows blended.
func vblend(dst []float32, a, b []byte, wy float32, lut *[256]float32) {
	dst = dst[:len(a)]
	if wy == 0 {
		for i, x := range a {
			dst[i] = lut[x]
		}
		return
	}
	b = b[:len(a)]
	for i, x := range a {
		p := lut[x]
		dst[i] = p + wy*(lut[b[i]]-p)
	}
}

// vblendUV is vblend for an interleaved UV row pair, splitting U and V.
func vblendUV(du, dv []float32, a, b []byte, wy float32) {
	n := len(a) / 2
	du, dv, a, b = du[:n], dv[:n], a[:2*n], b[:2*n]
	for i := range du {
		pu, pv := lutC[a[2*i]], lutC[a[2*i+1]]
		du[i] = pu + wy*(lutC[b[2*i]]-pu)
		dv[i] = pv + wy*(lutC[b[2*i+1]]-pv)
	}
}

// hconvert resamples the blended rows horizontally and converts each output pixel to RGB.
func hconvert(r, g, b []float32, cols []tap, ty, tu, tv []float32) {
	g = g[:len(r)]
	b = b[:len(r)]
	cols = cols[:len(r)]
	for i := range r {
		c := &cols[i]
		y0, u0, v0 := ty[c.l0], tu[c.c0], tv[c.c0]
		y := y0 + c.lw*(ty[c.l1]-y0)
		u := u0 + c.cw*(tu[c.c1]-u0)
		v := v0 + c.cw*(tv[c.c1]-v0)
		r[i] = clamp01(y + yuvKRV*v)
		g[i] = clamp01(y - yuvKGU*u - yuvKGV*v)
		b[i] = clamp01(y + yuvKBU*u)
	}
}

// padLetterbox fills the three planes outside the picture with PadValue.
func padLetterbox(r, g, b []float32, lb Letterbox) {
	w := lb.DstW
	top := lb.PadY * w
	bottom := (lb.PadY + lb.NewH) * w
	for _, p := range [3][]float32{r, g, b} {
		fill(p[:top])
		fill(p[bottom:])
		if lb.NewW == w {
			continue
		}
		right := lb.PadX + lb.NewW
		for y := lb.PadY; y < lb.PadY+lb.NewH; y++ {
			row := p[y*w : (y+1)*w]
			fill(row[:lb.PadX])
			fill(row[right:])
		}
	}
}

// fill sets every element of p to PadValue, doubling copies to run at memmove speed.
func fill(p []float32) {
	if len(p) == 0 {
		return
	}
	p[0] = PadValue
	for n := 1; n < len(p); n *= 2 {
		copy(p[n:], p[:n])
	}
}
