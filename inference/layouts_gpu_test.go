//go:build gpu

// GPU tests of every detector layout on the CUDA backend, run on the GPU machine like
// backend_cuda_gpu_test.go:
//
//	go test -c -tags gpu -o /tmp/inference-gpu.test ./inference/   (here), then there:
//	source .gpu/env.sh && /tmp/inference-gpu.test -test.v -test.run GPULayout
package inference

import (
	"fmt"
	"math"
	"testing"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/cudatest"
	"github.com/gstvision/gstvision/internal/onnxgen"
)

func layoutGPUContext(t testing.TB) *cuda.Context {
	t.Helper()
	if _, err := InitRuntime(""); err != nil {
		t.Fatalf("ONNX Runtime: %v (source .gpu/env.sh first)", err)
	}
	return cudatest.Open(t)
}

// toDevice uploads a host frame's planes (same pitches) and returns the device twin.
func toDevice(t testing.TB, ctx *cuda.Context, s *cuda.Stream, f *defs.Frame) *defs.Frame {
	t.Helper()
	var buf []byte
	var offs [3]int
	for p := range 3 {
		offs[p] = len(buf)
		buf = append(buf, f.Host[p]...)
	}
	dev := cudatest.Upload(t, ctx, s, buf)
	d := &defs.Frame{Format: f.Format, Width: f.Width, Height: f.Height, Strides: f.Strides}
	for p := range 3 {
		if len(f.Host[p]) > 0 {
			d.Device[p] = uintptr(dev) + uintptr(offs[p])
		}
	}
	return d
}

// layoutFrames are the family's hand-computed cases (letterbox or resize) twice, so that a
// batch of 4 holds both camera sizes in every position.
func layoutFrames(info ModelInfo) []cellCase {
	cases := letterboxCases
	if info.Preprocess != PreLetterbox {
		cases = stretchCases
	}
	return []cellCase{cases[0], cases[1], cases[1], cases[0]}
}

func gpuLayoutModel(t *testing.T, layout string, batch int64, half bool) string {
	t.Helper()
	typ := int32(onnxgen.Float)
	if half {
		typ = onnxgen.Float16
	}
	g, err := onnxgen.LayoutCells(layout, batch, typ, typ)
	if err != nil {
		t.Fatal(err)
	}
	return writeModel(t, g, fmt.Sprintf("%s_b%d_f16_%v.onnx", layout, batch, half))
}

// compareDetections: GPU and CPU agree detection for detection (sorted the same way: NMS or
// Top order), boxes within boxTol pixels, scores within scoreTol.
func compareDetections(t *testing.T, what string, got, want []defs.Detection, boxTol, scoreTol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: GPU %d detections %+v, CPU %d %+v", what, len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		ok := g.ClassID == w.ClassID && g.Label == w.Label && math.Abs(float64(g.Score-w.Score)) <= scoreTol
		for k := range 4 {
			ok = ok && math.Abs(float64(g.Box[k]-w.Box[k])) <= boxTol
		}
		if !ok {
			t.Errorf("%s detection %d: GPU %+v, CPU %+v", what, i, g, w)
		}
	}
}

// TestGPULayoutsMatchCPU: for every layout, the cuda backend's detections (GPU decoding for
// YOLO-NAS, host decoding of the copied outputs for the 300-row layouts, orig_target_sizes
// from the device buffer, ImageNet normalisation on the GPU for RF-DETR) equal the cpu
// backend's and the hand-computed boxes, at batch 1 and 4, with and without a CUDA graph, in
// the unified (Inline) and decoupled (Batcher-sized) shapes.
func TestGPULayoutsMatchCPU(t *testing.T) {
	ctx := layoutGPUContext(t)
	s := cudatest.Stream(t, ctx)
	for _, layout := range onnxgen.CellLayouts {
		for _, maxBatch := range []int{1, 4} {
			for _, graph := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/batch%d/graph=%v", layout, maxBatch, graph), func(t *testing.T) {
					info, err := Inspect(gpuLayoutModel(t, layout, -1, false))
					if err != nil {
						t.Fatal(err)
					}
					l, err := ResolveLabels("", info)
					if err != nil {
						t.Fatal(err)
					}
					cpuB, err := NewCPUBackend(info, maxBatch, 1)
					if err != nil {
						t.Fatal(err)
					}
					defer cpuB.Close()
					gpuB, err := NewCUDABackend(info, maxBatch, ctx, CUDAOptions{Graph: graph})
					if err != nil {
						t.Fatal(err)
					}
					defer gpuB.Close()
					cd := NewDetector(cpuB, info, l.Names, 0.5, 0.45)
					gd := NewDetector(gpuB, info, l.Names, 0.5, 0.45)
					cases := layoutFrames(info)
					var hosts, devs []*defs.Frame
					for _, c := range cases {
						f := cellFrame(c)
						hosts, devs = append(hosts, f), append(devs, toDevice(t, ctx, s, f))
					}
					want, err := cd.DetectBatch(hosts)
					if err != nil {
						t.Fatal(err)
					}
					for round := range 3 { // replays (graph) reuse the same buffers
						got, err := gd.DetectBatch(devs)
						if err != nil {
							t.Fatal(err)
						}
						for i, c := range cases {
							what := fmt.Sprintf("round %d frame %d (%s)", round, i, c.name)
							checkDetections(t, what, got[i], c.want, l.Names, 0.5)
							compareDetections(t, what, got[i], want[i], 0.05, 1e-3)
						}
					}
					one, err := NewInline(gd).Detect(devs[1])
					if err != nil {
						t.Fatal(err)
					}
					checkDetections(t, "inline", one, cases[1].want, l.Names, 0.5)
				})
			}
		}
	}
}

// TestGPULayoutsFloat16: the float16 exports (image input and every float output in float16;
// DETR's labels stay int64) on the GPU find the hand-computed boxes, within float16's
// precision, at batch 4 with a CUDA graph and at batch 1 without.
func TestGPULayoutsFloat16(t *testing.T) {
	ctx := layoutGPUContext(t)
	s := cudatest.Stream(t, ctx)
	for _, layout := range onnxgen.CellLayouts {
		for _, c := range []struct {
			maxBatch int
			graph    bool
		}{{1, false}, {4, true}} {
			t.Run(fmt.Sprintf("%s/batch%d/graph=%v", layout, c.maxBatch, c.graph), func(t *testing.T) {
				info, err := Inspect(gpuLayoutModel(t, layout, -1, true))
				if err != nil {
					t.Fatal(err)
				}
				f16 := false
				for _, o := range info.Outputs {
					f16 = f16 || o.Type == ElemFloat16
				}
				if !info.InputFloat16 || !f16 {
					t.Fatalf("not a float16 model: %+v", info)
				}
				l, err := ResolveLabels("", info)
				if err != nil {
					t.Fatal(err)
				}
				gpuB, err := NewCUDABackend(info, c.maxBatch, ctx, CUDAOptions{Graph: c.graph})
				if err != nil {
					t.Fatal(err)
				}
				defer gpuB.Close()
				gd := NewDetector(gpuB, info, l.Names, 0.5, 0.45)
				cases := layoutFrames(info)
				var devs []*defs.Frame
				for _, cc := range cases {
					devs = append(devs, toDevice(t, ctx, s, cellFrame(cc)))
				}
				got, err := gd.DetectBatch(devs)
				if err != nil {
					t.Fatal(err)
				}
				for i, cc := range cases {
					// float16 boxes of up to 64 input pixels: 1/32 px, times the camera scale.
					if len(got[i]) != len(cc.want) {
						t.Fatalf("frame %d (%s): %+v, want %+v", i, cc.name, got[i], cc.want)
					}
					compareDetections(t, fmt.Sprintf("frame %d (%s)", i, cc.name), sortLike(got[i], cc.want), withLabels(cc.want, l.Names, got[i]), 1.5, 1)
				}
			})
		}
	}
}

// sortLike orders got by class as want is ordered (each class appears once in the cases).
func sortLike(got, want []defs.Detection) []defs.Detection {
	out := make([]defs.Detection, 0, len(got))
	for _, w := range want {
		for _, g := range got {
			if g.ClassID == w.ClassID {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// withLabels is want with its labels filled in and got's scores (float16 scores are checked
// by the threshold alone).
func withLabels(want []defs.Detection, labels []string, got []defs.Detection) []defs.Detection {
	out := make([]defs.Detection, len(want))
	for i, w := range want {
		w.Label = labels[w.ClassID]
		for _, g := range got {
			if g.ClassID == w.ClassID {
				w.Score = g.Score
			}
		}
		out[i] = w
	}
	return out
}

// TestGPULayoutOutputsMatchCPU: the raw outputs (RunOutputs) of both backends agree for each
// layout on the same frames, fixed batch 2 included: DETR's boxes scale by the device's
// orig_target_sizes buffer, RF-DETR's scores need the GPU normalisation.
func TestGPULayoutOutputsMatchCPU(t *testing.T) {
	ctx := layoutGPUContext(t)
	s := cudatest.Stream(t, ctx)
	for _, layout := range onnxgen.CellLayouts {
		for _, batch := range []int64{-1, 2} {
			t.Run(fmt.Sprintf("%s/batch%d", layout, batch), func(t *testing.T) {
				info, err := Inspect(gpuLayoutModel(t, layout, batch, false))
				if err != nil {
					t.Fatal(err)
				}
				cpuB, err := NewCPUBackend(info, 2, 1)
				if err != nil {
					t.Fatal(err)
				}
				defer cpuB.Close()
				gpuB, err := NewCUDABackend(info, 2, ctx, CUDAOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer gpuB.Close()
				cases := layoutFrames(info)[:2]
				for i, c := range cases {
					f := cellFrame(c)
					lb := NewPreprocess(info.Preprocess, c.w, c.h, info.InputW, info.InputH)
					if err := cpuB.Fill(i, f, lb); err != nil {
						t.Fatal(err)
					}
					if err := gpuB.Fill(i, toDevice(t, ctx, s, f), lb); err != nil {
						t.Fatal(err)
					}
				}
				want, err := cpuB.(OutputsBackend).RunOutputs(2)
				if err != nil {
					t.Fatal(err)
				}
				got, err := gpuB.(OutputsBackend).RunOutputs(2)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("GPU %d outputs, CPU %d", len(got), len(want))
				}
				for k := range want {
					g, w := got[k].Data, want[k].Data
					if fmt.Sprint(got[k].Shape) != fmt.Sprint(want[k].Shape) || len(g) != len(w) {
						t.Fatalf("output %d: GPU shape %v (%d values), CPU %v (%d)", k, got[k].Shape, len(g), want[k].Shape, len(w))
					}
					worst := 0.0
					for i := range w {
						gv, wv := float64(g[i]), float64(w[i])
						if layout == onnxgen.LayoutRFDETR && k == 1 { // logits: compare as scores
							gv, wv = float64(sigmoid(g[i])), float64(sigmoid(w[i]))
						}
						worst = max(worst, math.Abs(gv-wv)/max(1, math.Abs(wv)))
					}
					if worst > 0.02 {
						t.Errorf("output %d (%s): GPU and CPU differ by up to %.4f", k, info.Outputs[k].Name, worst)
					}
				}
			})
		}
	}
}
