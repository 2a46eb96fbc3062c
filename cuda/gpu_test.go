//go:build gpu

// GPU tests of package cuda, run on the GPU machine:
//
//	go test -c -tags gpu -o /tmp/cuda-gpu.test ./cuda/   (here), then there:
//	source .gpu/env.sh && /tmp/cuda-gpu.test -test.v
//
// They need the NVIDIA driver (libcuda.so.1) and NVRTC (libnvrtc.so.13 on the loader's path,
// which env.sh arranges through /usr/local/cuda/lib64, or $GSTVISION_NVRTC).
package cuda_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/cudatest"
)

var (
	openGPU = cudatest.Open
	stream  = cudatest.Stream
)

func kernels(t testing.TB, ctx *cuda.Context) *cuda.Kernels {
	t.Helper()
	k, err := ctx.Kernels()
	if err != nil {
		t.Fatalf("compiling the kernels with NVRTC: %v", err)
	}
	return k
}

func TestGPUOpen(t *testing.T) {
	ctx := openGPU(t)
	major, minor := ctx.ComputeCapability()
	free, total, err := ctx.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("device %d: %s, sm_%d%d, driver CUDA %d, memory %d MiB free of %d MiB, context %#x",
		ctx.Device(), ctx.Name(), major, minor, ctx.DriverVersion(), free>>20, total>>20, ctx.Handle())
	if major < 5 || total == 0 || free > total || ctx.Handle() == 0 || ctx.Name() == "" {
		t.Errorf("implausible device info")
	}
	if ma, mi, lib, err := cuda.NVRTCVersion(); err != nil {
		t.Errorf("NVRTC: %v", err)
	} else {
		t.Logf("NVRTC %d.%d from %s", ma, mi, lib)
	}
	k := kernels(t, ctx)
	t.Logf("kernels compiled for %s", k.Module.Target)
	// a second Open shares the same primary context
	ctx2, err := cuda.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if ctx2.Handle() != ctx.Handle() {
		t.Errorf("second Open got context %#x, first %#x: the primary context must be shared", ctx2.Handle(), ctx.Handle())
	}
	ctx2.Close()
	if _, _, err := ctx.MemInfo(); err != nil {
		t.Errorf("closing a second retain broke the first: %v", err)
	}
	if err := ctx.Do(func() error { return nil }); err != nil {
		t.Errorf("Do: %v", err)
	}
}

// testFrame is a synthetic 4:2:0 frame in pitched planes, in host memory and on the device.
type testFrame struct {
	host    defs.Frame // CPU reference input
	img     cuda.Image // the same bytes on the device
	buf     []byte
	dev     cuda.DevicePtr
	devSize int
}

// newTestFrame makes a w×h frame of random bytes (so that any difference in sampling positions
// shows) with pitches larger than the rows, uploads it, and describes it both ways.
func newTestFrame(t testing.TB, ctx *cuda.Context, s *cuda.Stream, format defs.PixelFormat, w, h int, seed uint64) *testFrame {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	cw, ch := (w+1)/2, (h+1)/2
	pitchY := (w+255)&^255 + 64
	var pitches [3]int
	var sizes [3]int
	pitches[0], sizes[0] = pitchY, pitchY*h
	if format == defs.NV12 {
		pitches[1] = (2*cw+127)&^127 + 128
		sizes[1] = pitches[1] * ch
	} else {
		pitches[1] = (cw+127)&^127 + 32
		pitches[2] = (cw+127)&^127 + 96
		sizes[1], sizes[2] = pitches[1]*ch, pitches[2]*ch
	}
	total := sizes[0] + sizes[1] + sizes[2]
	buf := make([]byte, total)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	dev := cudatest.Upload(t, ctx, s, buf)
	f := &testFrame{buf: buf, dev: dev, devSize: total}
	f.host = defs.Frame{Format: format, Width: w, Height: h}
	f.img = cuda.Image{Width: w, Height: h, Format: cuda.NV12}
	if format == defs.I420 {
		f.img.Format = cuda.I420
	}
	off := 0
	for p := 0; p < 3; p++ {
		if sizes[p] == 0 {
			continue
		}
		f.host.Host[p] = buf[off : off+sizes[p]]
		f.host.Strides[p] = pitches[p]
		f.img.Planes[p] = dev + cuda.DevicePtr(off)
		f.img.Pitches[p] = pitches[p]
		off += sizes[p]
	}
	return f
}

// letterboxOnGPU runs the kernel into slot 1 of a 3-slot tensor pre-filled with 0xff bytes
// (NaN in both float types), checks that slots 0 and 2 were not touched, and returns slot 1
// as float32.
func letterboxOnGPU(t *testing.T, ctx *cuda.Context, k *cuda.Kernels, s *cuda.Stream, f *testFrame, lb inference.Letterbox, half bool) []float32 {
	t.Helper()
	es := 4
	if half {
		es = 2
	}
	slotBytes := 3 * lb.DstW * lb.DstH * es
	dst, err := ctx.Alloc(3 * slotBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Free(dst)
	if err := s.Memset(dst, 0xff, 3*slotBytes); err != nil {
		t.Fatal(err)
	}
	p := cuda.LetterboxParams{DstW: lb.DstW, DstH: lb.DstH, PadX: lb.PadX, PadY: lb.PadY, NewW: lb.NewW, NewH: lb.NewH, Pad: inference.PadValue}
	if err := k.Letterbox(s, f.img, dst, 1, p, half); err != nil {
		t.Fatal(err)
	}
	host := make([]byte, 3*slotBytes)
	if err := s.CopyDtoH(host, dst); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatalf("letterbox kernel failed: %v", err)
	}
	for i, b := range host[:slotBytes] {
		if b != 0xff {
			t.Fatalf("slot 0 byte %d was written (%#x): the kernel wrote outside its slot", i, b)
		}
	}
	for i, b := range host[2*slotBytes:] {
		if b != 0xff {
			t.Fatalf("slot 2 byte %d was written (%#x): the kernel wrote outside its slot", i, b)
		}
	}
	out := make([]float32, 3*lb.DstW*lb.DstH)
	slot := host[slotBytes : 2*slotBytes]
	for i := range out {
		if half {
			out[i] = cudatest.HalfToFloat(binary.LittleEndian.Uint16(slot[2*i:]))
		} else {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(slot[4*i:]))
		}
	}
	return out
}

// compare reports the largest per-channel difference and fails above tol (or on NaN: a pixel
// the kernel never wrote).
func compare(t *testing.T, what string, got, want []float32, lb inference.Letterbox, tol float64) {
	t.Helper()
	plane := lb.DstW * lb.DstH
	var worst [3]float64
	var at [3]int
	bad := 0
	for i := range want {
		g := float64(got[i])
		if math.IsNaN(g) {
			c, p := i/plane, i%plane
			t.Fatalf("%s: channel %d pixel (%d,%d) not written (NaN); CPU has %v", what, c, p%lb.DstW, p/lb.DstW, want[i])
		}
		d := math.Abs(g - float64(want[i]))
		c := i / plane
		if d > worst[c] {
			worst[c], at[c] = d, i%plane
		}
		if d > tol {
			bad++
		}
	}
	msg := fmt.Sprintf("%s: max |GPU-CPU| R %.2e at (%d,%d), G %.2e at (%d,%d), B %.2e at (%d,%d); %d of %d values over %.4f",
		what, worst[0], at[0]%lb.DstW, at[0]/lb.DstW, worst[1], at[1]%lb.DstW, at[1]/lb.DstW,
		worst[2], at[2]%lb.DstW, at[2]/lb.DstW, bad, len(want), tol)
	if bad > 0 {
		t.Error(msg)
	} else {
		t.Log(msg)
	}
}

// The kernel must match inference.LetterboxInto (the CPU path) within 2/255 per channel, for
// NV12 and I420, float32 and float16, landscape, portrait, odd sizes and no-op scaling.
func TestGPULetterboxMatchesCPU(t *testing.T) {
	ctx := openGPU(t)
	k := kernels(t, ctx)
	s := stream(t, ctx)
	const tol = 2.0 / 255
	sizes := []struct{ w, h, dw, dh int }{
		{1920, 1080, 640, 640}, {1280, 720, 640, 640}, {999, 561, 640, 640},
		{300, 500, 640, 640}, {640, 640, 640, 640}, {1920, 1080, 640, 384}, {37, 23, 64, 64},
	}
	for i, sz := range sizes {
		for _, format := range []defs.PixelFormat{defs.NV12, defs.I420} {
			f := newTestFrame(t, ctx, s, format, sz.w, sz.h, uint64(i))
			lb := inference.NewLetterbox(sz.w, sz.h, sz.dw, sz.dh)
			want := make([]float32, 3*sz.dw*sz.dh)
			if err := inference.LetterboxInto(want, &f.host, lb); err != nil {
				t.Fatal(err)
			}
			for _, half := range []bool{false, true} {
				name := fmt.Sprintf("%v %dx%d→%dx%d f16=%v", format, sz.w, sz.h, sz.dw, sz.dh, half)
				got := letterboxOnGPU(t, ctx, k, s, f, lb, half)
				tl := tol
				if !half {
					// float32 should agree to rounding; 2/255 is the contract, 1e-4 the expectation
					compare(t, name+" (tight)", got, want, lb, 1e-4)
				}
				compare(t, name, got, want, lb, tl)
			}
		}
	}
}

// 10,000 letterbox launches must not allocate device memory.
func TestGPULetterboxNoLeak(t *testing.T) {
	ctx := openGPU(t)
	k := kernels(t, ctx)
	s := stream(t, ctx)
	f := newTestFrame(t, ctx, s, defs.NV12, 1920, 1080, 1)
	lb := inference.NewLetterbox(1920, 1080, 640, 640)
	dst, err := ctx.Alloc(4 * 3 * 640 * 640 * 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Free(dst)
	p := cuda.LetterboxParams{DstW: 640, DstH: 640, PadX: lb.PadX, PadY: lb.PadY, NewW: lb.NewW, NewH: lb.NewH, Pad: inference.PadValue}
	launch := func(n int) {
		for i := 0; i < n; i++ {
			if err := k.Letterbox(s, f.img, dst, i%4, p, i%2 == 1); err != nil {
				t.Fatalf("launch %d: %v", i, err)
			}
			if i%500 == 499 {
				if err := s.Synchronize(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Synchronize(); err != nil {
			t.Fatal(err)
		}
	}
	launch(200) // warm-up: the driver may set things up on first launches
	before, _, err := ctx.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	launch(10000)
	el := time.Since(start)
	after, _, err := ctx.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10000 letterboxes 1920x1080 NV12 → 640x640: %.1f µs each (launch-bound, one stream); free memory %d → %d bytes",
		float64(el.Microseconds())/10000, before, after)
	if before != after {
		t.Errorf("free device memory changed by %d bytes over 10000 launches", int64(before)-int64(after))
	}
}

// Pitched 2D copies: upload a pitched plane, pack it with CopyDtoD2D, read it back.
func TestGPUCopy2D(t *testing.T) {
	ctx := openGPU(t)
	s := stream(t, ctx)
	const w, h, pitch = 1000, 37, 1280
	src := make([]byte, pitch*h)
	for i := range src {
		src[i] = byte(i * 7)
	}
	a, err := ctx.Alloc(pitch * h)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Free(a)
	b, err := ctx.Alloc(w * h)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Free(b)
	pinned, err := ctx.AllocHost(w * h)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.FreeHost(pinned)
	if err := s.CopyHtoD2D(a, pitch, src, pitch, w, h); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyDtoD2D(b, w, a, pitch, w, h); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyDtoH(pinned, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if pinned[y*w+x] != src[y*pitch+x] {
				t.Fatalf("pixel (%d,%d) = %d, want %d", x, y, pinned[y*w+x], src[y*pitch+x])
			}
		}
	}
	// DtoH2D back into a pitched Go buffer, and Memset2D
	if err := s.Memset2D(a, pitch, 9, w, h); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, pitch*h)
	if err := s.CopyDtoH2D(back, pitch, a, pitch, w, h); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if back[0] != 9 || back[(h-1)*pitch+w-1] != 9 || back[w] != 0 {
		t.Errorf("Memset2D/CopyDtoH2D: %d %d %d, want 9 9 0", back[0], back[(h-1)*pitch+w-1], back[w])
	}
}
