package inference

import (
	"fmt"

	"github.com/gstvision/gstvision/cuda"
)

// candidateWords is the size of one candidate record of the decoding kernel, in 32-bit words:
// anchor (int32), class (int32), score, cx, cy, w, h (float32), one unused word
// (candidateRecord mirrors it).
const candidateWords = 8

// kernelCandidates thresholds a detector's raw output where it lies, so that only the few
// anchors that pass cross PCIe instead of the whole output. One thread per anchor and image
// (grid.y = image). The scores are Decoder's, step for step: YOLOv8 [N, 4+C, A] takes the best
// class score (first class on ties); YOLOv5 [N, A, 5+C] skips anchors whose objectness is at
// most conf, then takes objectness × the best class probability. An anchor scoring above conf
// appends a record of CAND_WORDS 32-bit words (anchor, class, score, cx, cy, w, h, unused) to
// its image's region of A records, counted in counts[image] (zeroed by the caller); order
// within an image is arbitrary, the host sorts.
const kernelCandidates = `
template <typename T> __device__ __forceinline__ float load(const T *p, size_t i);
template <> __device__ __forceinline__ float load<float>(const float *p, size_t i) { return p[i]; }
template <> __device__ __forceinline__ float load<u16>(const u16 *p, size_t i) { return f16_to_f32(p[i]); }

__device__ __forceinline__ void put_candidate(int *counts, int *recs, int img, int anchors, int a, int cls,
    float score, float cx, float cy, float w, float h) {
  int k = atomicAdd(&counts[img], 1);
  int *r = recs + ((size_t)img * (size_t)anchors + (size_t)k) * CAND_WORDS;
  r[0] = a;
  r[1] = cls;
  r[2] = __float_as_int(score);
  r[3] = __float_as_int(cx);
  r[4] = __float_as_int(cy);
  r[5] = __float_as_int(w);
  r[6] = __float_as_int(h);
  r[7] = 0;
}

template <typename T>
__device__ __forceinline__ void candidates_v8(const T *__restrict__ out, int classes, int anchors, float conf,
    int *counts, int *recs) {
  int a = blockIdx.x * blockDim.x + threadIdx.x;
  int img = blockIdx.y;
  if (a >= anchors) return;
  const T *o = out + (size_t)img * (size_t)(4 + classes) * (size_t)anchors;
  float best = load<T>(o, (size_t)4 * anchors + a);
  int cls = 0;
  for (int c = 1; c < classes; c++) {
    float s = load<T>(o, (size_t)(4 + c) * anchors + a);
    if (s > best) { best = s; cls = c; }
  }
  if (!(best > conf)) return;
  put_candidate(counts, recs, img, anchors, a, cls, best, load<T>(o, a), load<T>(o, (size_t)anchors + a),
      load<T>(o, (size_t)2 * anchors + a), load<T>(o, (size_t)3 * anchors + a));
}

template <typename T>
__device__ __forceinline__ void candidates_v5(const T *__restrict__ out, int classes, int anchors, float conf,
    int *counts, int *recs) {
  int a = blockIdx.x * blockDim.x + threadIdx.x;
  int img = blockIdx.y;
  if (a >= anchors) return;
  const T *row = out + ((size_t)img * (size_t)anchors + (size_t)a) * (size_t)(5 + classes);
  float obj = load<T>(row, 4);
  if (obj <= conf) return; // score = obj × p <= obj cannot pass
  float bp = load<T>(row, 5);
  int cls = 0;
  for (int c = 1; c < classes; c++) {
    float p = load<T>(row, 5 + c);
    if (p > bp) { bp = p; cls = c; }
  }
  float s = __fmul_rn(obj, bp);
  if (!(s > conf)) return;
  put_candidate(counts, recs, img, anchors, a, cls, s, load<T>(row, 0), load<T>(row, 1), load<T>(row, 2), load<T>(row, 3));
}

#define CANDIDATES_ENTRY(NAME, FN, T)                                                                   \
  extern "C" __global__ void NAME(const void *out, int classes, int anchors, float conf, int *counts,  \
      int *recs) {                                                                                      \
    FN<T>((const T *)out, classes, anchors, conf, counts, recs);                                        \
  }

CANDIDATES_ENTRY(candidates_v8_f32, candidates_v8, float)
CANDIDATES_ENTRY(candidates_v8_f16, candidates_v8, u16)
CANDIDATES_ENTRY(candidates_v5_f32, candidates_v5, float)
CANDIDATES_ENTRY(candidates_v5_f16, candidates_v5, u16)
`

// candidateEntries names the kernel's entry points by [yolov5][float16].
var candidateEntries = [2][2]string{
	{"candidates_v8_f32", "candidates_v8_f16"},
	{"candidates_v5_f32", "candidates_v5_f16"},
}

// decodeSource is the complete CUDA source of the decoding kernels: cuda's shared helpers, the
// record size, then the kernels.
func decodeSource() string {
	return cuda.KernelHelpers + fmt.Sprintf("\n#define CAND_WORDS %d\n", candidateWords) + kernelCandidates
}

// decodeKernels are the decoding kernels loaded in one context. Safe for concurrent use.
type decodeKernels struct {
	ctx  *cuda.Context
	cand [2][2]*cuda.Function // [yolov5][float16]
}

// loadDecodeKernels compiles the decoding kernels for ctx's device (once per context: cuda
// keeps compiled modules) and looks up their entry points.
func loadDecodeKernels(ctx *cuda.Context) (*decodeKernels, error) {
	m, err := ctx.Compile("gstvision_decode.cu", decodeSource())
	if err != nil {
		return nil, err
	}
	k := &decodeKernels{ctx: ctx}
	for v5, byType := range candidateEntries {
		for half, name := range byType {
			if k.cand[v5][half], err = m.Function(name); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

// candidateParams describe a batch of raw detector output for candidates.
type candidateParams struct {
	layout  Layout // LayoutYOLOv8 or LayoutYOLOv5
	half    bool   // the output is float16 (else float32)
	images  int    // images in the batch
	classes int
	anchors int
	conf    float32 // scores strictly above pass
}

// candidates queues the thresholding of p.images images of raw output at out: counts
// (p.images int32) is zeroed, then for each anchor scoring above p.conf a record of
// candidateWords words is written into its image's region of recs (p.anchors records per
// image, so it never overflows) and counts[image] incremented. Copy counts back, then each
// image's first counts[image] records.
func (k *decodeKernels) candidates(s *cuda.Stream, out cuda.DevicePtr, p candidateParams, counts, recs cuda.DevicePtr) error {
	if s == nil || s.Context() != k.ctx || out == 0 || counts == 0 || recs == 0 || p.images <= 0 || p.images > 65535 ||
		p.classes <= 0 || p.anchors <= 0 || (p.layout != LayoutYOLOv8 && p.layout != LayoutYOLOv5) {
		return fmt.Errorf("inference: candidates(%#x, %+v, %#x, %#x): %w", out, p, counts, recs, cuda.ErrInvalidArgument)
	}
	if err := s.Memset(counts, 0, 4*p.images); err != nil {
		return err
	}
	v5, half := 0, 0
	if p.layout == LayoutYOLOv5 {
		v5 = 1
	}
	if p.half {
		half = 1
	}
	var a cuda.Args
	a.Ptr(out).Int32(int32(p.classes)).Int32(int32(p.anchors)).Float32(p.conf).Ptr(counts).Ptr(recs)
	const bx = 256
	return k.cand[v5][half].Launch(s, cuda.Dim3{X: (p.anchors + bx - 1) / bx, Y: p.images}, cuda.Dim3{X: bx}, 0, &a)
}
