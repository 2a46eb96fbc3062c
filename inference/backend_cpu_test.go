package inference

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/onnxgen"
)

// paint fills the luma rectangle [x0,x1)×[y0,y1) (even coordinates) with one YUV colour.
func paint(f *defs.Frame, x0, y0, x1, y1 int, y, u, v byte) {
	for yy := y0; yy < y1; yy++ {
		for xx := x0; xx < x1; xx++ {
			f.Host[0][yy*f.Strides[0]+xx] = y
		}
	}
	for cy := y0 / 2; cy < y1/2; cy++ {
		for cx := x0 / 2; cx < x1/2; cx++ {
			switch f.Format {
			case defs.I420:
				f.Host[1][cy*f.Strides[1]+cx] = u
				f.Host[2][cy*f.Strides[2]+cx] = v
			case defs.NV12:
				f.Host[1][cy*f.Strides[1]+2*cx] = u
				f.Host[1][cy*f.Strides[1]+2*cx+1] = v
			}
		}
	}
}

const (
	redY, redU, redV       = 81, 90, 240
	greenY, greenU, greenV = 145, 54, 34
)

// testFrames: A (64x64 I420) has a red square on cell row 2, column 3 and a green one on row 5,
// column 6; B (128x64 NV12, letterboxed at scale 1/2 with 16 rows of padding top and bottom)
// has a red 16x16 square at (48, 32) that lands on cell row 4, column 3; C (64x64) is flat dark
// grey, whose scores (0.3836) stay under 0.5.
func testFrames() (a, b, c *defs.Frame) {
	dark := func(int, int) byte { return 16 }
	a = yuvFrame(defs.I420, 64, 64, 80, 40, dark, grey)
	paint(a, 24, 16, 32, 24, redY, redU, redV)
	paint(a, 48, 40, 56, 48, greenY, greenU, greenV)
	b = yuvFrame(defs.NV12, 128, 64, 160, 144, dark, grey)
	paint(b, 48, 32, 64, 48, redY, redU, redV)
	c = yuvFrame(defs.I420, 64, 64, 64, 32, func(int, int) byte { return 100 }, grey)
	return a, b, c
}

// cellMeans is what cellModel computes for one slot: [7][64] of box channels and the 8x8 means.
func cellMeans(slot []float32) []float32 {
	out := make([]float32, 7*64)
	for a := range 64 {
		out[a] = float32(8*(a%8) + 4)
		out[64+a] = float32(8*(a/8) + 4)
		out[128+a] = 8
		out[192+a] = 8
		for ch := range 3 {
			var sum float64
			for y := range 8 {
				for x := range 8 {
					sum += float64(slot[ch*4096+(8*(a/8)+y)*64+8*(a%8)+x])
				}
			}
			out[(4+ch)*64+a] = float32(sum / 64)
		}
	}
	return out
}

func closeAll(t *testing.T, got, want []float32, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestCPUBackendNumeric(t *testing.T) {
	needRuntime(t)
	info, err := Inspect(cellModel(t, -1, onnxgen.Float))
	if err != nil {
		t.Fatal(err)
	}
	be, err := NewCPUBackend(info, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if be.MaxBatch() != 4 {
		t.Fatalf("max batch %d", be.MaxBatch())
	}
	a, b, c := testFrames()
	frames := []*defs.Frame{a, b, c}
	var want []float32
	for i, f := range frames {
		lb := NewLetterbox(f.Width, f.Height, 64, 64)
		if err := be.Fill(i, f, lb); err != nil {
			t.Fatal(err)
		}
		slot := make([]float32, 3*64*64)
		if err := LetterboxInto(slot, f, lb); err != nil {
			t.Fatal(err)
		}
		want = append(want, cellMeans(slot)...)
	}
	out, shape, err := be.Run(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 3 || shape[0] != 3 || shape[1] != 7 || shape[2] != 64 {
		t.Fatalf("shape %v", shape)
	}
	closeAll(t, out, want, "batch of 3")

	// Hand-computed spots: C is flat Y=100 → 1.164383*84/255 everywhere; B's top cell rows
	// are padding; A's red cell is nearly pure red.
	flat := float32(1.164383 * 84 / 255)
	if v := out[2*7*64+5*64+10]; !near(v, flat) {
		t.Errorf("flat frame G mean %v, want %v", v, flat)
	}
	if v := out[1*7*64+6*64+3]; !near(v, PadValue) {
		t.Errorf("padding cell B mean %v, want %v", v, PadValue)
	}
	if r, g := out[4*64+19], out[5*64+19]; r < 0.8 || g > 0.05 {
		t.Errorf("red cell: R %v G %v", r, g)
	}

	// A smaller batch reuses the slots already filled: its own cached tensor views.
	out, shape, err = be.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	if shape[0] != 1 {
		t.Fatalf("shape %v", shape)
	}
	closeAll(t, out, want[:7*64], "batch of 1")
}

func TestCPUBackendDynamicOutput(t *testing.T) {
	needRuntime(t)
	info, err := Inspect(reshapeModel(t))
	if err != nil {
		t.Fatal(err)
	}
	// Pretend the anchor dimension is dynamic (as with dynamic-size exports), so that the
	// backend lets ORT allocate the output.
	info.OutputDims = []int64{-1, 6, -1}
	be, err := NewCPUBackend(info, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	a, b, _ := testFrames()
	var want []float32
	for i, f := range []*defs.Frame{a, b} {
		lb := NewLetterbox(f.Width, f.Height, 64, 64)
		if err := be.Fill(i, f, lb); err != nil {
			t.Fatal(err)
		}
		slot := make([]float32, 3*64*64)
		LetterboxInto(slot, f, lb)
		want = append(want, slot...)
	}
	for range 3 { // repeated runs free the previous output
		out, shape, err := be.Run(2)
		if err != nil {
			t.Fatal(err)
		}
		if shape[0] != 2 || shape[1] != 6 || shape[2] != 2048 {
			t.Fatalf("shape %v", shape)
		}
		closeAll(t, out, want, "identity")
	}
}

func TestCPUBackendErrors(t *testing.T) {
	needRuntime(t)
	f16, err := Inspect(cellModel(t, 1, onnxgen.Float16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCPUBackend(f16, 1, 0); !errors.Is(err, ErrFloat16OnCPU) || !strings.Contains(err.Error(), "float16 input is supported on device cuda only") {
		t.Fatalf("float16: %v", err)
	}

	fixed, err := Inspect(cellModel(t, 1, onnxgen.Float))
	if err != nil {
		t.Fatal(err)
	}
	be, err := NewCPUBackend(fixed, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	if be.MaxBatch() != 1 {
		t.Fatalf("fixed batch 1 model: max batch %d", be.MaxBatch())
	}
	a, _, _ := testFrames()
	lb := NewLetterbox(64, 64, 64, 64)
	if err := be.Fill(1, a, lb); !errors.Is(err, ErrBatch) {
		t.Errorf("slot out of range: %v", err)
	}
	if err := be.Fill(0, &defs.Frame{Width: 64, Height: 64, Device: [3]uintptr{1}}, lb); !errors.Is(err, ErrBadFrame) {
		t.Errorf("device frame: %v", err)
	}
	if err := be.Fill(0, a, NewLetterbox(64, 64, 32, 32)); !errors.Is(err, ErrBadFrame) {
		t.Errorf("letterbox for another input size: %v", err)
	}
	if _, _, err := be.Run(0); !errors.Is(err, ErrBatch) {
		t.Errorf("batch 0: %v", err)
	}
	if err := be.Fill(0, a, lb); err != nil {
		t.Fatal(err)
	}
	if _, shape, err := be.Run(1); err != nil || shape[0] != 1 {
		t.Fatalf("fixed batch run: %v %v", shape, err)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	if err := be.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, _, err := be.Run(1); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("run after close: %v", err)
	}
}

func TestDetectorCPU(t *testing.T) {
	needRuntime(t)
	info, err := Inspect(cellModel(t, -1, onnxgen.Float))
	if err != nil {
		t.Fatal(err)
	}
	be, err := NewCPUBackend(info, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	d := NewDetector(be, info, []string{"red", "green", "blue"}, 0.5, 0.45)
	a, b, c := testFrames()
	// Five frames over a max batch of 2: three runs.
	res, err := d.DetectBatch([]*defs.Frame{a, b, c, b, a})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	checkA := func(what string, dets []defs.Detection) {
		t.Helper()
		if len(dets) != 2 {
			t.Fatalf("%s: %+v", what, dets)
		}
		byLabel := map[string]defs.Detection{}
		for _, d := range dets {
			byLabel[d.Label] = d
		}
		red, green := byLabel["red"], byLabel["green"]
		if red.ClassID != 0 || red.Box != [4]float32{24, 16, 32, 24} || red.Score < 0.7 {
			t.Errorf("%s: red %+v", what, red)
		}
		if green.ClassID != 1 || green.Box != [4]float32{48, 40, 56, 48} || green.Score < 0.7 {
			t.Errorf("%s: green %+v", what, green)
		}
	}
	checkB := func(what string, dets []defs.Detection) {
		t.Helper()
		// Model cell (24,32)-(32,40) back through scale 1/2 and PadY 16.
		if len(dets) != 1 || dets[0].Label != "red" || dets[0].Box != [4]float32{48, 32, 64, 48} {
			t.Fatalf("%s: %+v", what, dets)
		}
	}
	checkA("frame 0", res[0])
	checkB("frame 1", res[1])
	if len(res[2]) != 0 {
		t.Errorf("flat frame: %+v", res[2])
	}
	checkB("frame 3", res[3])
	checkA("frame 4", res[4])

	in := NewInline(d)
	dets, err := in.Detect(b)
	if err != nil {
		t.Fatal(err)
	}
	checkB("inline", dets)
}

// The input and output buffers live outside the Go heap (hostmem.go): a backend of 256 slots
// (12.6 MB of input) adds next to nothing to the heap the collector paces itself by, it
// still computes, and Close gives the memory back.
func TestCPUBackendBuffersOutsideGoHeap(t *testing.T) {
	needRuntime(t)
	info, err := Inspect(cellModel(t, -1, onnxgen.Float))
	if err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	be, err := NewCPUBackend(info, 256, 1)
	if err != nil {
		t.Fatal(err)
	}
	grown := int64(heap()) - int64(before)
	if grown > 2<<20 {
		t.Errorf("the Go heap grew by %.1f MB for a backend of 256 slots (12.6 MB of input)", float64(grown)/(1<<20))
	}
	a, _, _ := testFrames()
	if err := be.Fill(255, a, NewLetterbox(a.Width, a.Height, 64, 64)); err != nil {
		t.Fatal(err)
	}
	out, shape, err := be.Run(256)
	if err != nil || len(out) != 256*7*64 || shape[0] != 256 {
		t.Fatalf("run of 256: %d values, shape %v, %v", len(out), shape, err)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	if err := be.Fill(0, a, NewLetterbox(a.Width, a.Height, 64, 64)); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("Fill after Close: %v, want ErrClosed", err)
	}
}
