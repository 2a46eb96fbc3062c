package inference

import (
	"errors"
	"math"
	"testing"

	"github.com/gstvision/gstvision/defs"
)

func TestNewLetterbox(t *testing.T) {
	cases := []struct {
		name       string
		sw, sh     int
		scale      float32
		newW, newH int
		padX, padY int
	}{
		{"640x360 scale 1", 640, 360, 1, 640, 360, 0, 140},
		{"1920x1080 full HD", 1920, 1080, 1.0 / 3, 640, 360, 0, 140},
		{"1080x1920 portrait", 1080, 1920, 1.0 / 3, 360, 640, 140, 0},
		{"640x640 square", 640, 640, 1, 640, 640, 0, 0},
		{"320x240 upscale", 320, 240, 2, 640, 480, 0, 80},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lb := NewLetterbox(c.sw, c.sh, 640, 640)
			if math.Abs(float64(lb.Scale-c.scale)) > 1e-6 || lb.NewW != c.newW || lb.NewH != c.newH || lb.PadX != c.padX || lb.PadY != c.padY {
				t.Fatalf("got %+v, want scale %v new %dx%d pad %d,%d", lb, c.scale, c.newW, c.newH, c.padX, c.padY)
			}
		})
	}
}

func TestLetterboxToSource(t *testing.T) {
	lb := NewLetterbox(1920, 1080, 640, 640) // scale 1/3, PadY 140
	cases := []struct {
		name    string
		in, out [4]float32
	}{
		{"inside", [4]float32{100, 140, 200, 240}, [4]float32{300, 0, 600, 300}},
		{"centre", [4]float32{310, 310, 330, 330}, [4]float32{930, 510, 990, 570}},
		{"over every edge", [4]float32{-10, 100, 700, 600}, [4]float32{0, 0, 1920, 1080}},
	}
	for _, c := range cases {
		got := lb.ToSource(c.in)
		for i := range got {
			if math.Abs(float64(got[i]-c.out[i])) > 1e-3 {
				t.Fatalf("%s: ToSource(%v) = %v, want %v", c.name, c.in, got, c.out)
			}
		}
	}
	// Portrait: the padding is left and right.
	p := NewLetterbox(1080, 1920, 640, 640)
	got := p.ToSource([4]float32{140, 0, 500, 640})
	want := [4]float32{0, 0, 1080, 1920}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-3 {
			t.Fatalf("portrait: got %v, want %v", got, want)
		}
	}
}

// yuvFrame builds a frame whose planes hold luma(x, y) and chroma(cx, cy) → (u, v) with rows
// padded to the given strides; padding bytes are 0xEE so that reading them shows.
func yuvFrame(format defs.PixelFormat, w, h, yStride, cStride int, luma func(x, y int) byte, chroma func(cx, cy int) (byte, byte)) *defs.Frame {
	cw, ch := (w+1)/2, (h+1)/2
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xEE
		}
		return b
	}
	f := &defs.Frame{Format: format, Width: w, Height: h}
	f.Strides[0] = yStride
	f.Host[0] = garbage(yStride * h)
	for y := range h {
		for x := range w {
			f.Host[0][y*yStride+x] = luma(x, y)
		}
	}
	switch format {
	case defs.I420:
		f.Strides[1], f.Strides[2] = cStride, cStride
		f.Host[1], f.Host[2] = garbage(cStride*ch), garbage(cStride*ch)
		for y := range ch {
			for x := range cw {
				u, v := chroma(x, y)
				f.Host[1][y*cStride+x] = u
				f.Host[2][y*cStride+x] = v
			}
		}
	case defs.NV12:
		f.Strides[1] = cStride
		f.Host[1] = garbage(cStride * ch)
		for y := range ch {
			for x := range cw {
				u, v := chroma(x, y)
				f.Host[1][y*cStride+2*x] = u
				f.Host[1][y*cStride+2*x+1] = v
			}
		}
	}
	return f
}

func grey(int, int) (byte, byte) { return 128, 128 }

// at returns (r, g, b) of model pixel (x, y) in a letterboxed slot.
func at(dst []float32, lb Letterbox, x, y int) [3]float32 {
	p := lb.DstW * lb.DstH
	i := y*lb.DstW + x
	return [3]float32{dst[i], dst[p+i], dst[2*p+i]}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-4 }

func expectRGB(t *testing.T, what string, got [3]float32, want [3]float32) {
	t.Helper()
	for i := range got {
		if !near(got[i], want[i]) {
			t.Fatalf("%s: rgb %v, want %v", what, got, want)
		}
	}
}

func expectPad(t *testing.T, dst []float32, lb Letterbox, x, y int) {
	t.Helper()
	expectRGB(t, "pad", at(dst, lb, x, y), [3]float32{PadValue, PadValue, PadValue})
}

// Limited-range grey: Y maps to 1.164383*(Y-16)/255 on all three channels.
func greyLevel(y float32) float32 { return clamp01(1.164383 * (y - 16) / 255) }

func TestLetterboxIntoScaleOne(t *testing.T) {
	for _, format := range []defs.PixelFormat{defs.I420, defs.NV12} {
		t.Run(format.String(), func(t *testing.T) {
			// 8x4 → 8x8: scale 1, PadY 2, picture rows 2..5.
			cStride := 7 // I420 needs 4, NV12 8: pad both
			if format == defs.NV12 {
				cStride = 10
			}
			f := yuvFrame(format, 8, 4, 12, cStride, func(x, y int) byte { return byte(16 + 10*x + 40*y) }, grey)
			lb := NewLetterbox(8, 4, 8, 8)
			if lb.PadY != 2 || lb.NewH != 4 || lb.Scale != 1 {
				t.Fatalf("letterbox %+v", lb)
			}
			dst := make([]float32, 3*8*8)
			if err := LetterboxInto(dst, f, lb); err != nil {
				t.Fatal(err)
			}
			for y := range 4 {
				for x := range 8 {
					v := greyLevel(float32(10*x + 40*y + 16))
					expectRGB(t, "picture", at(dst, lb, x, y+2), [3]float32{v, v, v})
				}
			}
			for _, y := range []int{0, 1, 6, 7} {
				for x := range 8 {
					expectPad(t, dst, lb, x, y)
				}
			}
		})
	}
}

func TestLetterboxIntoColour(t *testing.T) {
	// BT.601 limited-range red: Y=81 U=90 V=240 → R = (1.164383*65 + 1.596027*112)/255,
	// G and B negative before clamping.
	wantR := float32((1.164383*65 + 1.596027*112) / 255)
	for _, format := range []defs.PixelFormat{defs.I420, defs.NV12} {
		f := yuvFrame(format, 6, 6, 8, 16, func(int, int) byte { return 81 }, func(int, int) (byte, byte) { return 90, 240 })
		lb := NewLetterbox(6, 6, 4, 4) // downscale, no padding
		dst := make([]float32, 3*4*4)
		if err := LetterboxInto(dst, f, lb); err != nil {
			t.Fatal(err)
		}
		for y := range 4 {
			for x := range 4 {
				expectRGB(t, format.String()+" red", at(dst, lb, x, y), [3]float32{wantR, 0, 0})
			}
		}
	}
	r, g, b := YUVToRGB(235, 128, 128)
	expectRGB(t, "white", [3]float32{r, g, b}, [3]float32{1, 1, 1})
	r, g, b = YUVToRGB(16, 128, 128)
	expectRGB(t, "black", [3]float32{r, g, b}, [3]float32{0, 0, 0})
}

func TestLetterboxIntoDownscale(t *testing.T) {
	// 16x8 → 8x8: scale 1/2, PadY 2. Output pixel centre (dx+0.5)*2-0.5 = 2dx+0.5 averages
	// source columns 2dx and 2dx+1, likewise rows; a linear ramp Y = 16+4x+8y gives
	// 16 + 4(2dx+0.5) + 8(2dy+0.5) = 22 + 8dx + 16dy.
	f := yuvFrame(defs.I420, 16, 8, 20, 9, func(x, y int) byte { return byte(16 + 4*x + 8*y) }, grey)
	lb := NewLetterbox(16, 8, 8, 8)
	dst := make([]float32, 3*8*8)
	if err := LetterboxInto(dst, f, lb); err != nil {
		t.Fatal(err)
	}
	for dy := range 4 {
		for dx := range 8 {
			v := greyLevel(float32(22 + 8*dx + 16*dy))
			expectRGB(t, "ramp", at(dst, lb, dx, dy+2), [3]float32{v, v, v})
		}
	}
	expectPad(t, dst, lb, 0, 0)
	expectPad(t, dst, lb, 7, 7)
}

func TestLetterboxIntoPortraitAndChromaEdge(t *testing.T) {
	// 4x8 → 8x8: scale 1, PadX 2: columns 0, 1, 6, 7 are padding. Luma is flat (Y=16+x0)
	// and V ramps along chroma columns (V = 128 + 20cx), U neutral. Chroma is co-sited with
	// even luma columns: luma x reads chroma x/2, i.e. V-128 = 10x, except the last column
	// (x=3 → chroma 1.5) which clamps to the last chroma sample (V-128 = 20).
	f := yuvFrame(defs.NV12, 4, 8, 4, 6, func(int, int) byte { return 100 }, func(cx, _ int) (byte, byte) { return 128, byte(128 + 20*cx) })
	lb := NewLetterbox(4, 8, 8, 8)
	if lb.PadX != 2 || lb.NewW != 4 {
		t.Fatalf("letterbox %+v", lb)
	}
	dst := make([]float32, 3*8*8)
	if err := LetterboxInto(dst, f, lb); err != nil {
		t.Fatal(err)
	}
	for _, y := range []int{0, 3, 7} {
		for x := range 4 {
			dv := float32(10 * x)
			if x == 3 {
				dv = 20
			}
			yy := float32(1.164383 * (100 - 16))
			want := [3]float32{
				clamp01((yy + 1.596027*dv) / 255),
				clamp01((yy - 0.812968*dv) / 255),
				clamp01(yy / 255),
			}
			expectRGB(t, "picture", at(dst, lb, x+2, y), want)
		}
		for _, x := range []int{0, 1, 6, 7} {
			expectPad(t, dst, lb, x, y)
		}
	}
}

func TestLetterboxIntoErrors(t *testing.T) {
	good := func() *defs.Frame {
		return yuvFrame(defs.I420, 8, 4, 8, 4, func(int, int) byte { return 16 }, grey)
	}
	lb := NewLetterbox(8, 4, 8, 8)
	dst := make([]float32, 3*64)
	cases := []struct {
		name string
		mut  func(f *defs.Frame)
		dst  []float32
		lb   Letterbox
		want error
	}{
		{"short luma", func(f *defs.Frame) { f.Host[0] = f.Host[0][:20] }, dst, lb, ErrBadFrame},
		{"stride below width", func(f *defs.Frame) { f.Strides[0] = 4 }, dst, lb, ErrBadFrame},
		{"missing V plane", func(f *defs.Frame) { f.Host[2] = nil }, dst, lb, ErrBadFrame},
		{"wrong letterbox", func(*defs.Frame) {}, dst, NewLetterbox(16, 4, 8, 8), ErrBadFrame},
		{"short destination", func(*defs.Frame) {}, dst[:100], lb, ErrBatch},
		{"unknown format", func(f *defs.Frame) { f.Format = 7 }, dst, lb, ErrBadFrame},
	}
	for _, c := range cases {
		f := good()
		c.mut(f)
		if err := LetterboxInto(c.dst, f, c.lb); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if err := LetterboxInto(dst, nil, lb); !errors.Is(err, ErrBadFrame) {
		t.Errorf("nil frame: %v", err)
	}
}

func benchFrame(format defs.PixelFormat, w, h int) *defs.Frame {
	return yuvFrame(format, w, h, w+64, w+64, func(x, y int) byte { return byte(x*7 + y*3) }, func(x, y int) (byte, byte) { return byte(x * 5), byte(y * 11) })
}

func BenchmarkLetterboxInto(b *testing.B) {
	cases := []struct {
		name   string
		format defs.PixelFormat
		w, h   int
	}{
		{"I420_640x360", defs.I420, 640, 360},
		{"NV12_640x360", defs.NV12, 640, 360},
		{"NV12_1920x1080", defs.NV12, 1920, 1080},
		{"I420_1280x720", defs.I420, 1280, 720},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := benchFrame(c.format, c.w, c.h)
			lb := NewLetterbox(c.w, c.h, 640, 640)
			dst := make([]float32, 3*640*640)
			b.ReportAllocs()
			for b.Loop() {
				if err := LetterboxInto(dst, f, lb); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
