package overlay

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/overlay/font"
)

// testFrame is a grey I420 frame with padded strides.
type testFrame struct {
	planes  [3][]byte
	strides [3]int
	w, h    int
}

const grey = 128

func newTestFrame(w, h, pad int) *testFrame {
	cw, ch := (w+1)/2, (h+1)/2
	f := &testFrame{w: w, h: h, strides: [3]int{w + pad, cw + pad/2, cw + pad/2}}
	f.planes[0] = bytes.Repeat([]byte{grey}, f.strides[0]*h)
	f.planes[1] = bytes.Repeat([]byte{128}, f.strides[1]*ch)
	f.planes[2] = bytes.Repeat([]byte{128}, f.strides[2]*ch)
	return f
}

func (f *testFrame) draw(boxes ...Box) { DrawI420(f.planes, f.strides, f.w, f.h, boxes) }

func (f *testFrame) y(x, y int) uint8 { return f.planes[0][y*f.strides[0]+x] }

func (f *testFrame) uv(x, y int) (uint8, uint8) {
	return f.planes[1][(y/2)*f.strides[1]+x/2], f.planes[2][(y/2)*f.strides[2]+x/2]
}

func (f *testFrame) clone() *testFrame {
	c := *f
	for i := range c.planes {
		c.planes[i] = bytes.Clone(f.planes[i])
	}
	return &c
}

func (f *testFrame) equal(g *testFrame) bool {
	for i := range f.planes {
		if !bytes.Equal(f.planes[i], g.planes[i]) {
			return false
		}
	}
	return true
}

// isColor reports whether pixel (x, y) has exactly the class colour.
func (f *testFrame) isColor(x, y, class int) bool {
	wy, wu, wv := RGBToYCbCr(ColorFor(class))
	u, v := f.uv(x, y)
	return f.y(x, y) == wy && u == wu && v == wv
}

func TestPalette(t *testing.T) {
	if len(Palette) < 10 {
		t.Fatalf("palette has %d colours", len(Palette))
	}
	seen := map[[3]uint8]bool{}
	for _, c := range Palette {
		if seen[c] {
			t.Errorf("colour %v twice", c)
		}
		seen[c] = true
	}
	n := len(Palette)
	if ColorFor(3) != Palette[3] || ColorFor(n+3) != Palette[3] || ColorFor(-1) != Palette[n-1] ||
		ColorFor(math.MinInt) != Palette[((math.MinInt%n)+n)%n] {
		t.Error("ColorFor does not wrap around the palette")
	}
	for _, tc := range []struct {
		rgb       [3]uint8
		y, cb, cr uint8
	}{
		{[3]uint8{0, 0, 0}, 16, 128, 128},
		{[3]uint8{255, 255, 255}, 235, 128, 128},
		{[3]uint8{255, 0, 0}, 82, 90, 240},
	} {
		if y, cb, cr := RGBToYCbCr(tc.rgb); y != tc.y || cb != tc.cb || cr != tc.cr {
			t.Errorf("RGBToYCbCr(%v) = %d,%d,%d, want %d,%d,%d", tc.rgb, y, cb, cr, tc.y, tc.cb, tc.cr)
		}
	}
}

// TestGlyphsDrawn draws every character of the font at scale 2 and reads the label back: each
// glyph's pixels are exactly the ink of its rows in package font.
func TestGlyphsDrawn(t *testing.T) {
	const size = 720
	s := FontScale(size, size)
	if s != 2 {
		t.Fatalf("font scale %d at %dx%d, want 2", s, size, size)
	}
	for c := byte(font.First); c <= font.Last; c++ {
		f := newTestFrame(size, size, 0)
		b := Box{X1: 10, Y1: 30, X2: 40, Y2: 46, ClassID: 1, Text: string(c)}
		f.draw(b)
		ink := TextColor(ColorFor(b.ClassID))
		_, bh := LabelSize(b.Text, s)
		gx, gy := b.X1+s, b.Y1-bh+s // the glyph's top left, inside the bar's margin
		g := font.Of(c)
		for r := range font.Height {
			for col := range font.Width {
				got := f.y(gx+col*s, gy+r*s) == ink && f.y(gx+col*s+s-1, gy+r*s+s-1) == ink
				if got != g.Ink(col, r) {
					t.Errorf("%q: pixel at column %d, row %d is ink=%v, want %v", c, col, r, got, g.Ink(col, r))
				}
			}
		}
	}
}

func TestScales(t *testing.T) {
	for _, tc := range []struct{ w, h, t, s int }{
		{320, 240, 2, 1}, {640, 480, 2, 1}, {1280, 720, 3, 2}, {1920, 1080, 4, 3}, {16, 16, 2, 1},
	} {
		if got := Thickness(tc.w, tc.h); got != tc.t {
			t.Errorf("Thickness(%d, %d) = %d, want %d", tc.w, tc.h, got, tc.t)
		}
		if got := FontScale(tc.w, tc.h); got != tc.s {
			t.Errorf("FontScale(%d, %d) = %d, want %d", tc.w, tc.h, got, tc.s)
		}
	}
}

// inkCount is the number of ink pixels of text at scale s.
func inkCount(text string, s int) int {
	n := 0
	for i := 0; i < len(text); i++ {
		for _, bits := range font.Of(text[i]) {
			for ; bits != 0; bits &= bits - 1 {
				n++
			}
		}
	}
	return n * s * s
}

func TestDrawBox(t *testing.T) {
	for _, size := range []struct{ w, h int }{{320, 240}, {1920, 1080}} {
		f := newTestFrame(size.w, size.h, 24)
		th, s := Thickness(f.w, f.h), FontScale(f.w, f.h)
		const class = 2
		b := Box{X1: 40, Y1: 80, X2: 200, Y2: 180, ClassID: class, Text: "car 0.91"}
		f.draw(b)

		// Every pixel of each edge band, and nothing just inside it.
		for x := b.X1; x < b.X2; x++ {
			for d := range th {
				if !f.isColor(x, b.Y1+d, class) || !f.isColor(x, b.Y2-1-d, class) {
					t.Fatalf("%dx%d: horizontal edge at x=%d, d=%d not in the class colour", f.w, f.h, x, d)
				}
			}
		}
		for y := b.Y1; y < b.Y2; y++ {
			for d := range th {
				if !f.isColor(b.X1+d, y, class) || !f.isColor(b.X2-1-d, y, class) {
					t.Fatalf("%dx%d: vertical edge at y=%d, d=%d not in the class colour", f.w, f.h, y, d)
				}
			}
		}
		if f.y(b.X1+th+2, b.Y1+th+2) != grey || f.y(120, 130) != grey || f.y(b.X2+2, 130) != grey {
			t.Errorf("%dx%d: drawing leaked inside or outside the box", f.w, f.h)
		}

		// The label bar sits right above the box: bar colour plus exactly the text's ink.
		bw, bh := LabelSize(b.Text, s)
		by := b.Y1 - bh
		wy, _, _ := RGBToYCbCr(ColorFor(class))
		ink := TextColor(ColorFor(class))
		bar, text, other := 0, 0, 0
		for y := by; y < b.Y1; y++ {
			for x := b.X1; x < b.X1+bw; x++ {
				switch f.y(x, y) {
				case wy:
					bar++
				case ink:
					text++
				default:
					other++
				}
			}
		}
		if want := inkCount(b.Text, s); text != want || other != 0 || bar != bw*bh-want {
			t.Errorf("%dx%d: label bar has %d bar, %d text (want %d), %d other pixels",
				f.w, f.h, bar, text, want, other)
		}
		if f.y(b.X1, by-1) != grey || f.y(b.X1+bw, by+1) != grey {
			t.Errorf("%dx%d: label bar larger than %dx%d", f.w, f.h, bw, bh)
		}
	}
}

func TestLabelPlacement(t *testing.T) {
	f := newTestFrame(320, 240, 0)
	s := FontScale(f.w, f.h)
	// Touching the top: the bar is inside the frame, at the top of the box.
	f.draw(Box{X1: 10, Y1: 0, X2: 100, Y2: 60, ClassID: 0, Text: "AAAA"})
	bw, bh := LabelSize("AAAA", s)
	wy, _, _ := RGBToYCbCr(ColorFor(0))
	if f.y(10+bw-1, bh-1) != wy || f.y(10+bw, bh-1) != grey {
		t.Error("label bar of a box at the top edge is not at the top inside the box")
	}
	if !hasValue(f, 10, 0, 10+bw, bh, TextColor(ColorFor(0))) {
		t.Error("no text pixels in the top label bar")
	}

	// At the right edge: the bar is pushed left to stay whole.
	g := newTestFrame(320, 240, 0)
	g.draw(Box{X1: 300, Y1: 100, X2: 319, Y2: 150, ClassID: 1, Text: "truck 0.55"})
	bw, bh = LabelSize("truck 0.55", s)
	if !g.isColor(319, 100-bh, 1) || !g.isColor(320-bw, 100-bh, 1) || g.y(320-bw-1, 100-bh) != grey {
		t.Error("label bar at the right edge not pushed inside the frame")
	}

	// Text wider than the frame is truncated to whole glyphs that fit.
	h := newTestFrame(64, 48, 0)
	h.draw(Box{X1: 0, Y1: 20, X2: 10, Y2: 40, ClassID: 3, Text: strings.Repeat("W", 50)})
	bw, bh = LabelSize(strings.Repeat("W", 10), s) // (64 - 1) / 6 glyphs
	if !h.isColor(bw-1, 20-bh, 3) || h.y(bw, 20-bh) != grey ||
		!hasValue(h, 0, 20-bh, bw, 20, TextColor(ColorFor(3))) {
		t.Error("truncated label")
	}
}

func hasValue(f *testFrame, x0, y0, x1, y1 int, v uint8) bool {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			if f.y(x, y) == v {
				return true
			}
		}
	}
	return false
}

func TestClipping(t *testing.T) {
	base := newTestFrame(321, 241, 8) // odd sizes: the last chroma column covers one luma column
	th := Thickness(base.w, base.h)

	// Inverted corners draw the same as normal ones.
	a, b := base.clone(), base.clone()
	a.draw(Box{X1: 30, Y1: 40, X2: 130, Y2: 140, ClassID: 5, Text: "x"})
	b.draw(Box{X1: 130, Y1: 140, X2: 30, Y2: 40, ClassID: 5, Text: "x"})
	if !a.equal(b) {
		t.Error("inverted box drawn differently")
	}

	// Boxes entirely outside, empty, or absurd change nothing and do not panic.
	c := base.clone()
	c.draw(
		Box{X1: -100, Y1: -100, X2: -10, Y2: -10, Text: "off"},
		Box{X1: 400, Y1: 10, X2: 500, Y2: 100, Text: "off"},
		Box{X1: 10, Y1: 300, X2: 100, Y2: 400, Text: "off"},
		Box{X1: 50, Y1: 50, X2: 50, Y2: 90, Text: "empty"},
		Box{X1: math.MinInt, Y1: math.MinInt, X2: math.MinInt + 5, Y2: math.MinInt + 5},
		Box{X1: math.MaxInt - 5, Y1: 0, X2: math.MaxInt, Y2: 10},
	)
	if !c.equal(base) {
		t.Error("boxes outside the frame changed it")
	}

	// Partly outside: visible edges drawn up to the frame edge, off-frame edges not at all.
	d := base.clone()
	d.draw(Box{X1: -50, Y1: 60, X2: 100, Y2: 120, ClassID: 4})
	if !d.isColor(0, 60, 4) || !d.isColor(99, 90, 4) || d.y(0, 90) != grey {
		t.Error("box crossing the left edge")
	}
	d.draw(Box{X1: 200, Y1: 200, X2: 1000, Y2: 1000, ClassID: 6})
	if !d.isColor(320, 200, 6) || !d.isColor(200, 240, 6) || d.y(320, 230) != grey {
		t.Error("box crossing the bottom right corner")
	}
	// The whole frame as a box: the outline runs along the frame's edges.
	e := base.clone()
	e.draw(Box{X1: math.MinInt, Y1: -5, X2: math.MaxInt, Y2: 1 << 40, ClassID: 7, Text: "all"})
	if e.y(0, 120) != grey || e.y(160, 239) != grey {
		t.Error("a box larger than the frame has no visible edges, yet some were drawn")
	}
	f := base.clone()
	f.draw(Box{X1: 0, Y1: 0, X2: 321, Y2: 241, ClassID: 7})
	if !f.isColor(0, 120, 7) || !f.isColor(320, 120, 7) || !f.isColor(160, 0, 7) ||
		!f.isColor(160, 240, 7) || f.y(th, 120) != grey {
		t.Error("frame-sized box")
	}

	// Non-ASCII text draws '?' glyphs.
	g := base.clone()
	g.draw(Box{X1: 20, Y1: 100, X2: 60, Y2: 140, ClassID: 0, Text: "é"})
	h := base.clone()
	h.draw(Box{X1: 20, Y1: 100, X2: 60, Y2: 140, ClassID: 0, Text: "??"}) // é is two bytes
	if !g.equal(h) {
		t.Error("non-ASCII text not drawn as '?'")
	}
}

func TestBadFrames(t *testing.T) {
	f := newTestFrame(64, 48, 0)
	bad := []struct {
		planes  [3][]byte
		strides [3]int
		w, h    int
	}{
		{f.planes, f.strides, 0, 48},
		{f.planes, f.strides, 64, -1},
		{f.planes, f.strides, 65, 48},          // stride < width
		{f.planes, f.strides, 64, 49},          // planes too short
		{f.planes, [3]int{64, 16, 32}, 64, 48}, // chroma stride too small
		{[3][]byte{f.planes[0], nil, nil}, f.strides, 64, 48},
		{f.planes, f.strides, MaxDimension + 1, 1},
	}
	before := f.clone()
	for i, tc := range bad {
		DrawI420(tc.planes, tc.strides, tc.w, tc.h, []Box{{X1: 0, Y1: 0, X2: 30, Y2: 30, Text: "x"}})
		if _, err := EncodeJPEG(tc.planes, tc.strides, tc.w, tc.h, 80); err == nil {
			t.Errorf("case %d: EncodeJPEG accepted a bad frame", i)
		}
	}
	if !f.equal(before) {
		t.Error("DrawI420 changed a frame it rejected")
	}
}

func TestEncodeJPEG(t *testing.T) {
	f := newTestFrame(320, 240, 32)
	// Left part red (class 0), a blue square (class 2), the rest grey.
	fr, _ := newI420(f.planes, f.strides, f.w, f.h)
	y, u, v := RGBToYCbCr(ColorFor(0))
	fr.fill(0, 0, 160, 240, y, u, v)
	y, u, v = RGBToYCbCr(ColorFor(2))
	fr.fill(200, 40, 280, 120, y, u, v)

	data, err := EncodeJPEG(f.planes, f.strides, f.w, f.h, 90)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, 320, 240) {
		t.Fatalf("bounds %v", b)
	}
	near := func(x, y int, want [3]uint8) {
		r, g, b, _ := img.At(x, y).RGBA()
		got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
		for i := range got {
			if d := got[i] - int(want[i]); d < -12 || d > 12 {
				t.Errorf("pixel (%d,%d) = %v, want about %v", x, y, got, want)
				return
			}
		}
	}
	near(80, 120, ColorFor(0))
	near(240, 80, ColorFor(2))
	near(240, 200, [3]uint8{130, 130, 130}) // limited 128 → full 130

	// Odd size, and the default quality.
	g := newTestFrame(33, 17, 3)
	data, err = EncodeJPEG(g.planes, g.strides, g.w, g.h, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width != 33 || cfg.Height != 17 {
		t.Errorf("odd-sized JPEG: %+v, %v", cfg, err)
	}
}

// TestEncodeJPEGAllocations: apart from the output, a call allocates far less than a frame.
func TestEncodeJPEGAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	f := newTestFrame(1280, 720, 0)
	out, err := EncodeJPEG(f.planes, f.strides, f.w, f.h, 80) // warm the pool
	if err != nil {
		t.Fatal(err)
	}
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := EncodeJPEG(f.planes, f.strides, f.w, f.h, 80); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perCall := int((after.TotalAlloc - before.TotalAlloc) / runs)
	// The output buffer starts at w*h/8; the encoder itself needs a few tens of KiB; sync.Pool
	// may drop the pooled frame copy now and then (a quarter of a copy per call allowed).
	frameCopy := f.w * f.h * 3 / 2
	if limit := f.w*f.h/8 + len(out) + 128<<10 + frameCopy/4; perCall > limit {
		t.Errorf("EncodeJPEG allocates %d bytes per call, want < %d (frame copy is %d)",
			perCall, limit, frameCopy)
	}
}

func BenchmarkDrawI420(b *testing.B) {
	f := newTestFrame(1920, 1080, 0)
	boxes := make([]Box, 20)
	for i := range boxes {
		boxes[i] = Box{X1: 50 + i*80, Y1: 100 + i*30, X2: 250 + i*80, Y2: 400 + i*30, ClassID: i, Text: "person 0.87"}
	}
	b.ReportAllocs()
	for b.Loop() {
		DrawI420(f.planes, f.strides, f.w, f.h, boxes)
	}
}

func BenchmarkEncodeJPEG(b *testing.B) {
	f := newTestFrame(1280, 720, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeJPEG(f.planes, f.strides, f.w, f.h, 80); err != nil {
			b.Fatal(err)
		}
	}
}
