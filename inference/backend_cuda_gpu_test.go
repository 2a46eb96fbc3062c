//go:build gpu

// GPU tests of the CUDA backend, run on the GPU machine:
//
//	go test -c -tags gpu -o /tmp/inference-gpu.test ./inference/   (here), then there:
//	source .gpu/env.sh && /tmp/inference-gpu.test -test.v -test.run GPU
//
// env.sh provides ONNXRUNTIME_SHARED_LIBRARY_PATH (the CUDA-enabled ONNX Runtime, with its
// CUDA provider beside it), LD_LIBRARY_PATH with CUDA 13 / cuDNN 9, and GPU_TEST_MODEL (a
// YOLOv8n-architecture model, used when set).
package inference_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/inference/ortgpu"
	"github.com/gstvision/gstvision/internal/cudatest"
	"github.com/gstvision/gstvision/internal/onnxgen"
)

func gpuContext(t testing.TB) *cuda.Context {
	t.Helper()
	if _, err := inference.InitRuntime(""); err != nil {
		t.Fatalf("ONNX Runtime: %v (source .gpu/env.sh first)", err)
	}
	return cudatest.Open(t)
}

// gpuCellModel writes onnxgen.CellDetector (inType/outType: float32 or float16 at either end).
func gpuCellModel(t testing.TB, batch int64, inType, outType int32) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("cells_b%d_%d_%d.onnx", batch, inType, outType))
	if err := onnxgen.CellDetector(batch, inType, outType).WriteFile(p, 17); err != nil {
		t.Fatal(err)
	}
	return p
}

// gpuReshapeModel outputs its input reshaped to [N, 6, -1]: symbolic anchors, so the backend
// must probe the output shape.
func gpuReshapeModel(t testing.TB) string {
	t.Helper()
	g := onnxgen.NewGraph("gpu_reshape")
	g.Input("images", onnxgen.Float, -1, 3, 64, 64)
	g.InitializerInt64("shape", []int64{3}, []int64{0, 6, -1})
	g.Node("Reshape", []string{"images", "shape"}, []string{"output0"})
	g.Output("output0", onnxgen.Float, -1, 6, -1)
	p := filepath.Join(t.TempDir(), "reshape.onnx")
	if err := g.WriteFile(p, 17); err != nil {
		t.Fatal(err)
	}
	return p
}

// framePair is one random 4:2:0 frame twice: in host memory (for the CPU backend) and in device
// memory with the same pitches (as nvh264dec would hand it over).
type framePair struct{ host, dev *defs.Frame }

func newFramePair(t testing.TB, ctx *cuda.Context, s *cuda.Stream, format defs.PixelFormat, w, h int, seed uint64) framePair {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	cw, ch := (w+1)/2, (h+1)/2
	var pitch, size [3]int
	pitch[0] = (w+255)&^255 + 256
	size[0] = pitch[0] * h
	if format == defs.NV12 {
		pitch[1] = (2*cw+255)&^255 + 256
		size[1] = pitch[1] * ch
	} else {
		pitch[1], pitch[2] = (cw+127)&^127+128, (cw+127)&^127+256
		size[1], size[2] = pitch[1]*ch, pitch[2]*ch
	}
	buf := make([]byte, size[0]+size[1]+size[2])
	// smooth content with noise, so pooled cells differ and some pass the score threshold
	for i := 0; i < size[0]; i++ {
		x, y := i%pitch[0], i/pitch[0]
		buf[i] = byte(16 + (x*219/max(1, w)+y*37/max(1, h))%220 + int(rng.IntN(8)))
	}
	for i := size[0]; i < len(buf); i++ {
		buf[i] = byte(rng.IntN(256))
	}
	dev := cudatest.Upload(t, ctx, s, buf)
	hf := &defs.Frame{Format: format, Width: w, Height: h}
	df := &defs.Frame{Format: format, Width: w, Height: h}
	off := 0
	for p := 0; p < 3; p++ {
		if size[p] == 0 {
			continue
		}
		hf.Host[p], hf.Strides[p] = buf[off:off+size[p]], pitch[p]
		df.Device[p], df.Strides[p] = uintptr(dev)+uintptr(off), pitch[p]
		off += size[p]
	}
	return framePair{hf, df}
}

var testStream = cudatest.Stream

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// closeEnough fails when |got-want| > tol*max(1,|want|) anywhere, reporting the worst place.
func closeEnough(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, at := 0.0, 0
	for i := range want {
		d := math.Abs(float64(got[i]-want[i])) / math.Max(1, math.Abs(float64(want[i])))
		if math.IsNaN(float64(got[i])) {
			d = math.Inf(1)
		}
		if d > worst {
			worst, at = d, i
		}
	}
	msg := fmt.Sprintf("%s: worst difference %.3g at %d (GPU %v, CPU %v), tolerance %.0e", what, worst, at, got[at], want[at], tol)
	if worst > tol {
		t.Error(msg)
	} else {
		t.Log(msg)
	}
}

// largestDifference is the largest |got-want| over want's values, and the largest |want|: for
// comparing outputs whose scale is set by the largest ones (raw detector outputs).
func largestDifference(got, want []float32) (maxDiff, maxAbs float64) {
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
	}
	return maxDiff, maxAbs
}

// pairs of backends over the same model: fill both with the same frames, run, compare.
func compareBackends(t *testing.T, ctx *cuda.Context, cpuModel, gpuModel string, maxBatch int, frames []framePair, tol float64) {
	t.Helper()
	cpuInfo, err := inference.Inspect(cpuModel)
	if err != nil {
		t.Fatal(err)
	}
	gpuInfo, err := inference.Inspect(gpuModel)
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := inference.NewCPUBackend(cpuInfo, maxBatch, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	gpu, err := inference.NewCUDABackend(gpuInfo, maxBatch, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatalf("NewCUDABackend: %v", err)
	}
	defer gpu.Close()
	if gpu.MaxBatch() != cpu.MaxBatch() {
		t.Fatalf("MaxBatch: GPU %d, CPU %d", gpu.MaxBatch(), cpu.MaxBatch())
	}
	for _, n := range []int{len(frames), 1, len(frames)} { // a bigger batch again after a smaller one
		for i := 0; i < n; i++ {
			f := frames[i%len(frames)]
			lb := inference.NewLetterbox(f.host.Width, f.host.Height, cpuInfo.InputW, cpuInfo.InputH)
			if err := cpu.Fill(i, f.host, lb); err != nil {
				t.Fatal(err)
			}
			if err := gpu.Fill(i, f.dev, lb); err != nil {
				t.Fatalf("GPU Fill slot %d: %v", i, err)
			}
		}
		want, wshape, err := cpu.Run(n)
		if err != nil {
			t.Fatal(err)
		}
		want = append([]float32(nil), want...)
		got, gshape, err := gpu.Run(n)
		if err != nil {
			t.Fatalf("GPU Run(%d): %v", n, err)
		}
		if !sameShape(gshape, wshape) {
			t.Fatalf("batch %d: GPU output shape %v, CPU %v", n, gshape, wshape)
		}
		closeEnough(t, fmt.Sprintf("%s batch %d", filepath.Base(gpuModel), n), got, want, tol)
	}
}

func testFramesGPU(t *testing.T, ctx *cuda.Context, s *cuda.Stream) []framePair {
	return []framePair{
		newFramePair(t, ctx, s, defs.NV12, 1920, 1080, 1),
		newFramePair(t, ctx, s, defs.NV12, 1280, 720, 2),
		newFramePair(t, ctx, s, defs.I420, 640, 480, 3),
		newFramePair(t, ctx, s, defs.NV12, 333, 555, 4),
	}
}

// The CUDA backend must give the CPU backend's output within 1e-4 on the same frames.
func TestGPUBackendMatchesCPU(t *testing.T) {
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	frames := testFramesGPU(t, ctx, s)
	m := gpuCellModel(t, -1, onnxgen.Float, onnxgen.Float)
	compareBackends(t, ctx, m, m, 4, frames, 1e-4)
}

// Symbolic output dimensions: the backend probes the shape once.
func TestGPUBackendDynamicOutput(t *testing.T) {
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	m := gpuReshapeModel(t)
	compareBackends(t, ctx, m, m, 3, testFramesGPU(t, ctx, s)[:3], 1e-4)
}

// float16 input and output (the GPU converts): compared with the float32 model on the CPU,
// within float16's precision.
func TestGPUBackendFloat16(t *testing.T) {
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	compareBackends(t, ctx, gpuCellModel(t, -1, onnxgen.Float, onnxgen.Float),
		gpuCellModel(t, -1, onnxgen.Float16, onnxgen.Float16), 4, testFramesGPU(t, ctx, s), 2e-3)
}

// A fixed batch of 2: MaxBatch is 2 whatever was asked, and a batch of 1 runs both slots.
func TestGPUBackendFixedBatch(t *testing.T) {
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	m := gpuCellModel(t, 2, onnxgen.Float, onnxgen.Float)
	info, err := inference.Inspect(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := inference.NewCUDABackend(info, 8, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.MaxBatch() != 2 {
		t.Errorf("MaxBatch = %d, want the model's fixed 2", b.MaxBatch())
	}
	f := newFramePair(t, ctx, s, defs.NV12, 640, 360, 9)
	if err := b.Fill(0, f.dev, inference.NewLetterbox(640, 360, 64, 64)); err != nil {
		t.Fatal(err)
	}
	_, shape, err := b.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	if !sameShape(shape, []int64{2, 7, 64}) {
		t.Errorf("shape %v, want [2 7 64] (as the CPU backend)", shape)
	}
	compareBackends(t, ctx, m, m, 2, []framePair{f, newFramePair(t, ctx, s, defs.I420, 320, 240, 10)}, 1e-4)
}

func TestGPUBackendErrors(t *testing.T) {
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	info, err := inference.Inspect(gpuCellModel(t, -1, onnxgen.Float, onnxgen.Float))
	if err != nil {
		t.Fatal(err)
	}
	b, err := inference.NewCUDABackend(info, 2, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFramePair(t, ctx, s, defs.NV12, 640, 360, 5)
	lb := inference.NewLetterbox(640, 360, 64, 64)
	if err := b.Fill(0, f.host, lb); !errors.Is(err, inference.ErrBadFrame) {
		t.Errorf("Fill with a host frame = %v, want ErrBadFrame", err)
	}
	if err := b.Fill(2, f.dev, lb); !errors.Is(err, inference.ErrBatch) {
		t.Errorf("Fill slot 2 of 2 = %v, want ErrBatch", err)
	}
	if err := b.Fill(0, f.dev, inference.NewLetterbox(640, 360, 640, 640)); !errors.Is(err, inference.ErrBadFrame) {
		t.Errorf("Fill with a letterbox for another input size = %v, want ErrBadFrame", err)
	}
	if _, _, err := b.Run(3); !errors.Is(err, inference.ErrBatch) {
		t.Errorf("Run(3) of 2 = %v, want ErrBatch", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Fill(0, f.dev, lb); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("Fill after Close = %v, want ErrClosed", err)
	}
	if _, _, err := b.Run(1); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
}

// Detections through a Detector agree between the backends.
func TestGPUDetectorMatchesCPU(t *testing.T) {
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	m := gpuCellModel(t, -1, onnxgen.Float, onnxgen.Float)
	info, err := inference.Inspect(m)
	if err != nil {
		t.Fatal(err)
	}
	cpuB, err := inference.NewCPUBackend(info, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cpuB.Close()
	gpuB, err := inference.NewCUDABackend(info, 4, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gpuB.Close()
	labels := []string{"r", "g", "b"}
	cd := inference.NewDetector(cpuB, info, labels, 0.5, 0.5)
	gd := inference.NewDetector(gpuB, info, labels, 0.5, 0.5)
	pairs := testFramesGPU(t, ctx, s)
	var hosts, devs []*defs.Frame
	for _, p := range pairs {
		hosts, devs = append(hosts, p.host), append(devs, p.dev)
	}
	want, err := cd.DetectBatch(hosts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gd.DetectBatch(devs)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Errorf("frame %d: GPU %d detections, CPU %d", i, len(got[i]), len(want[i]))
			continue
		}
		for j := range want[i] {
			g, w := got[i][j], want[i][j]
			if g.ClassID != w.ClassID || math.Abs(float64(g.Score-w.Score)) > 1e-4 {
				t.Errorf("frame %d detection %d: GPU %+v, CPU %+v", i, j, g, w)
			}
		}
		total += len(want[i])
	}
	t.Logf("%d detections in %d frames agree", total, len(want))
}

// Many Fill/Run cycles after warm-up must not grow device memory use.
func TestGPUBackendNoLeak(t *testing.T) {
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	info, err := inference.Inspect(gpuCellModel(t, -1, onnxgen.Float, onnxgen.Float))
	if err != nil {
		t.Fatal(err)
	}
	b, err := inference.NewCUDABackend(info, 4, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	frames := testFramesGPU(t, ctx, s)
	cycle := func(iters int) {
		for it := 0; it < iters; it++ {
			n := 1 + it%4
			for i := 0; i < n; i++ {
				f := frames[i]
				if err := b.Fill(i, f.dev, inference.NewLetterbox(f.dev.Width, f.dev.Height, 64, 64)); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := b.Run(n); err != nil {
				t.Fatal(err)
			}
		}
	}
	cycle(40)
	before, _, err := ctx.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	cycle(2000)
	after, _, _ := ctx.MemInfo()
	t.Logf("free device memory %d → %d after 2000 Fill/Run cycles", before, after)
	if before != after {
		t.Errorf("device memory use changed by %d bytes over 2000 cycles after warm-up (ONNX Runtime's arena, or a leak)",
			int64(before)-int64(after))
	}
}

// kitModel inspects the model whose path the environment variable env holds, skipping the test
// when it is not set (hint says how to get it).
func kitModel(t *testing.T, env, hint string) inference.ModelInfo {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Skipf("%s not set (%s)", env, hint)
	}
	info, err := inference.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// The real YOLOv8n-architecture model, if env.sh made one: CPU and GPU outputs on the same
// 1080p frame (TF32 is on for the GPU, so the agreement is looser), and throughput per batch.
func TestGPUBackendYOLOv8n(t *testing.T) {
	info := kitModel(t, "GPU_TEST_MODEL", "source .gpu/env.sh")
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	const maxB = 32
	gpu, err := inference.NewCUDABackend(info, maxB, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	f := newFramePair(t, ctx, s, defs.NV12, 1920, 1080, 42)
	lb := inference.NewLetterbox(1920, 1080, info.InputW, info.InputH)

	cpu, err := inference.NewCPUBackend(info, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := cpu.Fill(0, f.host, lb); err != nil {
		t.Fatal(err)
	}
	want, _, err := cpu.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	want = append([]float32(nil), want...)
	cpu.Close()
	if err := gpu.Fill(0, f.dev, lb); err != nil {
		t.Fatal(err)
	}
	got, shape, err := gpu.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("output shape %v", shape)
	maxDiff, maxAbs := largestDifference(got, want)
	t.Logf("YOLOv8n 1080p frame: max |GPU-CPU| %.4g, max |CPU| %.4g (relative %.2g; TF32 convolutions)", maxDiff, maxAbs, maxDiff/maxAbs)
	if maxDiff > 2e-2*maxAbs {
		t.Errorf("GPU output differs from CPU by %.4g (max |output| %.4g)", maxDiff, maxAbs)
	}
	measureYOLOv8n(t, gpu, info, f, lb)
}

// CUDAOptions.Graph: the replayed graph gives the plain session's outputs, reads each run's
// new input (nothing of the captured run is baked in) whatever the number of frames, and runs
// a batch of 32 faster (a batch of 4 costs a full run: the price of fixed shapes).
func TestGPUBackendYOLOv8nCUDAGraph(t *testing.T) {
	info := kitModel(t, "GPU_TEST_MODEL", "source .gpu/env.sh")
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	const maxB = 32
	plain, err := inference.NewCUDABackend(info, maxB, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	graph, err := inference.NewCUDABackend(info, maxB, ctx, inference.CUDAOptions{Graph: true})
	if err != nil {
		t.Fatal(err)
	}
	defer graph.Close()
	frames := []framePair{
		newFramePair(t, ctx, s, defs.NV12, 1920, 1080, 42),
		newFramePair(t, ctx, s, defs.NV12, 1920, 1080, 7),
	}
	lb := inference.NewLetterbox(1920, 1080, info.InputW, info.InputH)
	run := func(b inference.Backend, order []int) []float32 {
		t.Helper()
		for slot, fi := range order {
			if err := b.Fill(slot, frames[fi].dev, lb); err != nil {
				t.Fatal(err)
			}
		}
		out, shape, err := b.Run(len(order))
		if err != nil {
			t.Fatal(err)
		}
		if shape[0] < int64(len(order)) {
			t.Fatalf("output shape %v for %d images", shape, len(order))
		}
		per := len(out) / int(shape[0])
		return append([]float32(nil), out[:per*len(order)]...)
	}
	twelve := make([]int, 12)
	for i := range twelve {
		twelve[i] = i % 2
	}
	for _, order := range [][]int{{0, 1}, {1, 0}, twelve, {1}} {
		want, got := run(plain, order), run(graph, order)
		maxDiff, maxAbs := largestDifference(got, want)
		t.Logf("%d frames %v: max |graph-plain| %.3g, max |plain| %.3g", len(order), order[:min(len(order), 4)], maxDiff, maxAbs)
		if maxDiff > 1e-3*maxAbs {
			t.Errorf("frames %v: the graph's output differs from the plain session's by %.3g (max |output| %.3g)", order, maxDiff, maxAbs)
		}
	}
	for _, b := range []struct {
		name string
		b    inference.Backend
	}{{"plain", plain}, {"graph", graph}} {
		for _, n := range []int{maxB, 4} {
			const iters = 100
			start := time.Now()
			for range iters {
				if _, _, err := b.b.Run(n); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s: batch %d run + raw output copy-back: %.0f img/s", b.name, n, float64(n*iters)/time.Since(start).Seconds())
		}
	}
}

// The float16 variant of the test model (scripts/make_fp16_model.py makes it on the GPU
// machine): the letterbox kernel writes float16, and the throughput that lifts the ceiling.
func TestGPUBackendYOLOv8nFloat16(t *testing.T) {
	info := kitModel(t, "GPU_TEST_MODEL_FP16", "scripts/gpu-suite.sh makes it")
	ctx := gpuContext(t)
	s := testStream(t, ctx)
	if !info.InputFloat16 {
		t.Fatalf("%s: input is not float16: %+v", info.Path, info)
	}
	gpu, err := inference.NewCUDABackend(info, 32, ctx, inference.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	f := newFramePair(t, ctx, s, defs.NV12, 1920, 1080, 42)
	lb := inference.NewLetterbox(1920, 1080, info.InputW, info.InputH)
	measureYOLOv8n(t, gpu, info, f, lb)
}

// measureYOLOv8n logs images/s at batches 1, 8 and 32 of the backend alone (fill + run + raw
// output copied back) and, at 32, of the whole detector (fill + run + GPU decoding + NMS).
func measureYOLOv8n(t *testing.T, gpu inference.Backend, info inference.ModelInfo, f framePair, lb inference.Letterbox) {
	fill := func(n int) time.Duration {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			if err := gpu.Fill(i, f.dev, lb); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	for _, n := range []int{1, 8, 32} {
		fill(n)
		if _, _, err := gpu.Run(n); err != nil { // warm-up (binding, cuDNN algorithms)
			t.Fatal(err)
		}
		iters := max(5, 200/n)
		start := time.Now()
		var filling time.Duration
		for it := 0; it < iters; it++ {
			filling += fill(n)
			if _, _, err := gpu.Run(n); err != nil {
				t.Fatal(err)
			}
		}
		el := time.Since(start)
		t.Logf("batch %2d: %.0f img/s including 1080p letterbox (fill %.0f µs/frame) and raw output copy-back",
			n, float64(n*iters)/el.Seconds(), float64(filling.Microseconds())/float64(n*iters))
	}
	for _, conf := range []float32{0.25, 0.9} {
		det := inference.NewDetector(gpu, info, nil, conf, 0.45)
		const n = 32
		lbs := make([]inference.Letterbox, n)
		for i := range lbs {
			lbs[i] = lb
		}
		fill(n)
		if _, err := det.Run(lbs); err != nil {
			t.Fatal(err)
		}
		const iters = 20
		start := time.Now()
		dets := 0
		for it := 0; it < iters; it++ {
			fill(n)
			res, err := det.Run(lbs)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				dets += len(r)
			}
		}
		el := time.Since(start)
		t.Logf("detector, batch 32, confidence %.2f: %.0f img/s (fill + run + GPU decoding + NMS), %.0f detections per image",
			conf, float64(n*iters)/el.Seconds(), float64(dets)/float64(n*iters))
	}
}

const childEnv = "GSTVISION_GPU_TEST_CHILD"

// With the core library alone in a directory (no libonnxruntime_providers_cuda.so beside it),
// NewCUDABackend must fail with ortgpu.ErrCUDAProviderUnavailable rather than run on the CPU.
// A child process, because the runtime can be loaded only once per process.
func TestGPUMissingProvider(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		ctx := gpuContext(t)
		info, err := inference.Inspect(os.Getenv(childEnv))
		if err != nil {
			t.Fatal(err)
		}
		b, err := inference.NewCUDABackend(info, 1, ctx, inference.CUDAOptions{})
		if err == nil {
			b.Close()
			t.Fatalf("NewCUDABackend succeeded with %s alone: it must not fall back to the CPU", inference.RuntimeLibraryPath())
		}
		if !errors.Is(err, ortgpu.ErrCUDAProviderUnavailable) {
			t.Fatalf("NewCUDABackend = %v, want ortgpu.ErrCUDAProviderUnavailable", err)
		}
		t.Logf("as expected: %v", err)
		return
	}
	if _, err := inference.InitRuntime(""); err != nil {
		t.Fatal(err)
	}
	src := inference.RuntimeLibraryPath()
	dir := t.TempDir()
	lone := filepath.Join(dir, "libonnxruntime.so.1")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(lone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	in.Close()
	out.Close()
	model := gpuCellModel(t, -1, onnxgen.Float, onnxgen.Float)
	cmd := exec.Command(os.Args[0], "-test.run=^TestGPUMissingProvider$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+model, "ONNXRUNTIME_SHARED_LIBRARY_PATH="+lone, "ORT_LIB="+lone)
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child with %s alone: %v\n%s", lone, err, res)
	}
	t.Logf("child:\n%s", res)
}
