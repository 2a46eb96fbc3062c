//go:build gpu

package cuda

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/overlay/font"
)

func openInternal(t *testing.T) (*Context, *Stream) {
	t.Helper()
	ctx, err := Open(0)
	if err != nil {
		t.Fatalf("cuda.Open(0) failed on what should be the GPU machine: %v", err)
	}
	s, err := ctx.NewStream()
	if err != nil {
		ctx.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Destroy()
		ctx.Close()
	})
	return ctx, s
}

// refDraw is draw_boxes_nv12 in Go, over the whole frame: the expected result.
func refDraw(y, uv []byte, pitchY, pitchUV, w, h int, recs []int32, n int, text []byte) {
	colour := func(px, py int) int32 {
		c := int32(-1)
		for i := 0; i < n; i++ {
			B := recs[i*boxFields : (i+1)*boxFields]
			p, q := int32(px), int32(py)
			if p >= B[boxX1] && p < B[boxX2] && q >= B[boxY1] && q < B[boxY2] {
				t := B[boxThick]
				inner := p >= B[boxX1]+t && p < B[boxX2]-t && q >= B[boxY1]+t && q < B[boxY2]-t
				if !inner {
					c = B[boxColor]
				}
			}
			if p >= B[boxBarX1] && p < B[boxBarX2] && q >= B[boxBarY1] && q < B[boxBarY2] {
				c = B[boxColor]
				s := B[boxScale]
				gx, gy := p-B[boxTextX], q-B[boxTextY]
				if gx >= 0 && gy >= 0 && s > 0 {
					gx, gy = gx/s, gy/s
					ci, col := gx/font.Advance, gx%font.Advance
					if ci < B[boxTextLen] && col < font.Width && gy < font.Height {
						if font.Of(text[B[boxTextOff]+ci]).Ink(int(col), int(gy)) {
							c = B[boxTextColor]
						}
					}
				}
			}
		}
		return c
	}
	for by := 0; by < (h+1)/2; by++ {
		for bx := 0; bx < (w+1)/2; bx++ {
			cuv := int32(-1)
			for dy := 0; dy < 2; dy++ {
				for dx := 0; dx < 2; dx++ {
					px, py := 2*bx+dx, 2*by+dy
					if px >= w || py >= h {
						continue
					}
					c := colour(px, py)
					if c < 0 {
						continue
					}
					y[py*pitchY+px] = byte(c)
					if cuv < 0 {
						cuv = c
					}
				}
			}
			if cuv >= 0 {
				uv[by*pitchUV+2*bx] = byte(cuv >> 8)
				uv[by*pitchUV+2*bx+1] = byte(cuv >> 16)
			}
		}
	}
}

func TestGPUDrawBoxes(t *testing.T) {
	ctx, s := openInternal(t)
	for _, sz := range []struct{ w, h int }{{1920, 1080}, {1280, 720}, {641, 361}} {
		w, h := sz.w, sz.h
		pitchY, pitchUV := (w+255)&^255, (w+1+511)&^511
		ch := (h + 1) / 2
		dev, err := ctx.Alloc(pitchY*h + pitchUV*ch)
		if err != nil {
			t.Fatal(err)
		}
		y, uv := dev, dev+DevicePtr(pitchY*h)
		// grey frame: Y 100, UV 128
		if err := s.Memset(y, 100, pitchY*h); err != nil {
			t.Fatal(err)
		}
		if err := s.Memset(uv, 128, pitchUV*ch); err != nil {
			t.Fatal(err)
		}
		boxes := []Box{
			{X1: 100, Y1: 200, X2: 400, Y2: 500, Color: [3]uint8{255, 0, 0}, Text: "red block 0.93"},
			{X1: -20, Y1: 3, X2: 150, Y2: 90, Color: [3]uint8{0, 255, 0}, Text: "edge 0.51"},
			{X1: w - 120, Y1: h - 80, X2: w + 50, Y2: h + 10, Color: [3]uint8{40, 40, 255}, Text: "Person: ~(x)! \"pq\""}, // the glyphs CPU and GPU once drew differently
			{X1: 300, Y1: 300, X2: 340, Y2: 330, Color: [3]uint8{255, 255, 0}},
		}
		d, err := ctx.NewDrawer(8)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.DrawBoxes(s, y, uv, pitchY, pitchUV, w, h, boxes); err != nil {
			t.Fatal(err)
		}
		gotY := make([]byte, pitchY*h)
		gotUV := make([]byte, pitchUV*ch)
		if err := s.CopyDtoH(gotY, y); err != nil {
			t.Fatal(err)
		}
		if err := s.CopyDtoH(gotUV, uv); err != nil {
			t.Fatal(err)
		}
		if err := s.Synchronize(); err != nil {
			t.Fatal(err)
		}
		// expected: the same layout rendered by the Go reference
		wantY := make([]byte, pitchY*h)
		wantUV := make([]byte, pitchUV*ch)
		for i := range wantY {
			wantY[i] = 100
		}
		for i := range wantUV {
			wantUV[i] = 128
		}
		recs := make([]int32, len(boxes)*boxFields)
		text := make([]byte, len(boxes)*MaxLabel)
		n, _ := layoutBoxes(recs, text, w, h, boxes)
		refDraw(wantY, wantUV, pitchY, pitchUV, w, h, recs, n, text)
		diffs := 0
		for r := 0; r < h; r++ {
			for c := 0; c < w; c++ {
				if g, e := gotY[r*pitchY+c], wantY[r*pitchY+c]; g != e {
					if diffs < 5 {
						t.Errorf("%dx%d: Y(%d,%d) = %d, want %d", w, h, c, r, g, e)
					}
					diffs++
				}
			}
		}
		for r := 0; r < ch; r++ {
			for c := 0; c < 2*((w+1)/2); c++ {
				if g, e := gotUV[r*pitchUV+c], wantUV[r*pitchUV+c]; g != e {
					if diffs < 5 {
						t.Errorf("%dx%d: UV byte (%d,%d) = %d, want %d", w, h, c, r, g, e)
					}
					diffs++
				}
			}
		}
		if diffs > 0 {
			t.Errorf("%dx%d: %d bytes differ from the reference drawing", w, h, diffs)
		}
		// and directly: the red box's left edge at mid-height is red, its inside untouched
		red := rgbToYUV([3]uint8{255, 0, 0})
		if gotY[350*pitchY+100] != byte(red) || gotUV[175*pitchUV+100] != byte(red>>8) || gotUV[175*pitchUV+101] != byte(red>>16) {
			t.Errorf("%dx%d: left edge of the red box is Y %d U %d V %d, want %d %d %d", w, h,
				gotY[350*pitchY+100], gotUV[175*pitchUV+100], gotUV[175*pitchUV+101], byte(red), byte(red>>8), byte(red>>16))
		}
		if gotY[350*pitchY+250] != 100 || gotUV[175*pitchUV+250] != 128 {
			t.Errorf("%dx%d: inside of the red box was drawn on", w, h)
		}
		// the label bar above the red box holds text pixels (black or white) and bar pixels
		r := recs[:boxFields]
		ink, bar := 0, 0
		for py := r[boxBarY1]; py < r[boxBarY2]; py++ {
			for px := r[boxBarX1]; px < r[boxBarX2]; px++ {
				switch int32(gotY[int(py)*pitchY+int(px)]) {
				case r[boxTextColor] & 0xff:
					ink++
				case red & 0xff:
					bar++
				}
			}
		}
		if ink == 0 || bar == 0 {
			t.Errorf("%dx%d: label bar has %d text pixels and %d bar pixels", w, h, ink, bar)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.DrawBoxes(s, y, uv, pitchY, pitchUV, w, h, boxes); !errors.Is(err, defs.ErrClosed) {
			t.Errorf("DrawBoxes after Close = %v", err)
		}
		ctx.Free(dev)
	}
}

func TestGPUHalfToFloat(t *testing.T) {
	ctx, s := openInternal(t)
	k, err := ctx.Kernels()
	if err != nil {
		t.Fatal(err)
	}
	in := []uint16{0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x0000, 0x8000, 0x3555}
	want := []float32{1, -2, 0.5, 65504, float32(math.Pow(2, -24)), 0, float32(math.Copysign(0, -1)), 0.333251953125}
	src, err := ctx.Alloc(2 * len(in))
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Free(src)
	dst, err := ctx.Alloc(4 * len(in))
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Free(dst)
	b := make([]byte, 2*len(in))
	for i, v := range in {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	if err := s.CopyHtoD(src, b); err != nil {
		t.Fatal(err)
	}
	if err := k.HalfToFloat(s, dst, src, len(in)); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 4*len(in))
	if err := s.CopyDtoH(out, dst); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if g := math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:])); g != want[i] {
			t.Errorf("half %#04x → %v, want %v", in[i], g, want[i])
		}
	}
}

// A custom kernel through Compile, the module cache and Args.
func TestGPUCompileAndLaunch(t *testing.T) {
	ctx, s := openInternal(t)
	const src = `extern "C" __global__ void axpb(float *p, int n, float a, double b, unsigned long long tag) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = a * p[i] + (float)b + (tag == 0x1122334455667788ULL ? 0.0f : 1000.0f);
}`
	m, err := ctx.Compile("axpb.cu", src)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ctx.Compile("axpb.cu", src)
	if err != nil || m2 != m {
		t.Errorf("second Compile of the same source: %p %v, want the cached module %p", m2, err, m)
	}
	t.Logf("custom module compiled for %s", m.Target)
	f, err := m.Function("axpb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Function("nope"); err == nil {
		t.Error("looking up a missing kernel succeeded")
	}
	const n = 1000
	p, err := ctx.Alloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Free(p)
	host := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(host[4*i:], math.Float32bits(float32(i)))
	}
	if err := s.CopyHtoD(p, host); err != nil {
		t.Fatal(err)
	}
	var a Args
	a.Ptr(p).Int32(n).Float32(2).Float64(0.5).Uint64(0x1122334455667788)
	if err := f.Launch(s, Dim3{X: (n + 127) / 128}, Dim3{X: 128}, 0, &a); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyDtoH(host, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if g := math.Float32frombits(binary.LittleEndian.Uint32(host[4*i:])); g != 2*float32(i)+0.5 {
			t.Fatalf("p[%d] = %v, want %v (parameters packed wrongly?)", i, g, 2*float32(i)+0.5)
		}
	}
	if _, err := ctx.Compile("bad.cu", "this is not CUDA"); !errors.Is(err, ErrCompile) {
		t.Errorf("compiling garbage: %v, want ErrCompile with the log", err)
	} else {
		t.Logf("compile error as reported: %v", err)
	}
}
