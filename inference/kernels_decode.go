package inference

import (
	"fmt"

	"github.com/gstvision/gstvision/cuda"
)

// candidateWords is the size of one candidate record of the decoding kernel, in 32-bit words:
// anchor (int32), class (int32), score, cx, cy, w, h (float32), one unused word
// (candidateRecord mirrors it; YOLO-NAS records carry x1, y1, x2, y2 instead).
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

// YOLO-NAS: boxes [N, A, 4] x1, y1, x2, y2 and scores [N, A, C]; the record carries the
// corners in place of cx, cy, w, h (the host reads them as such: CandidateBatch.xyxy).
template <typename T>
__device__ __forceinline__ void candidates_nas(const T *__restrict__ boxes, const T *__restrict__ scores, int classes,
    int anchors, float conf, int *counts, int *recs) {
  int a = blockIdx.x * blockDim.x + threadIdx.x;
  int img = blockIdx.y;
  if (a >= anchors) return;
  const T *s = scores + ((size_t)img * (size_t)anchors + (size_t)a) * (size_t)classes;
  float best = load<T>(s, 0);
  int cls = 0;
  for (int c = 1; c < classes; c++) {
    float v = load<T>(s, c);
    if (v > best) { best = v; cls = c; }
  }
  if (!(best > conf)) return;
  const T *b = boxes + ((size_t)img * (size_t)anchors + (size_t)a) * 4;
  put_candidate(counts, recs, img, anchors, a, cls, best, load<T>(b, 0), load<T>(b, 1), load<T>(b, 2), load<T>(b, 3));
}

#define CANDIDATES_NAS_ENTRY(NAME, T)                                                                    \
  extern "C" __global__ void NAME(const void *boxes, const void *scores, int classes, int anchors,      \
      float conf, int *counts, int *recs) {                                                             \
    candidates_nas<T>((const T *)boxes, (const T *)scores, classes, anchors, conf, counts, recs);       \
  }

CANDIDATES_NAS_ENTRY(candidates_nas_f32, float)
CANDIDATES_NAS_ENTRY(candidates_nas_f16, u16)

// ImageNet normalisation of one slot in place (RF-DETR): v = (v - mean[ch]) * inv_std[ch],
// as the CPU's normalizeImageNet. grid.y = channel.
template <typename T> __device__ __forceinline__ void store(T *p, size_t i, float v);
template <> __device__ __forceinline__ void store<float>(float *p, size_t i, float v) { p[i] = v; }
template <> __device__ __forceinline__ void store<u16>(u16 *p, size_t i, float v) { p[i] = f32_to_f16(v); }

template <typename T>
__device__ __forceinline__ void normalize(T *dst, int slot, int plane, float m0, float m1, float m2, float i0, float i1,
    float i2) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int ch = blockIdx.y;
  if (i >= plane) return;
  size_t k = ((size_t)slot * 3 + (size_t)ch) * (size_t)plane + (size_t)i;
  float m = ch == 0 ? m0 : (ch == 1 ? m1 : m2);
  float inv = ch == 0 ? i0 : (ch == 1 ? i1 : i2);
  store<T>(dst, k, __fmul_rn(__fsub_rn(load<T>(dst, k), m), inv));
}

#define NORMALIZE_ENTRY(NAME, T)                                                                         \
  extern "C" __global__ void NAME(void *dst, int slot, int plane, float m0, float m1, float m2, float i0, \
      float i1, float i2) {                                                                              \
    normalize<T>((T *)dst, slot, plane, m0, m1, m2, i0, i1, i2);                                         \
  }

NORMALIZE_ENTRY(normalize_f32, float)
NORMALIZE_ENTRY(normalize_f16, u16)

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

// nasEntries and normalizeEntries name the YOLO-NAS candidates and the normalisation kernels
// by [float16].
var (
	nasEntries       = [2]string{"candidates_nas_f32", "candidates_nas_f16"}
	normalizeEntries = [2]string{"normalize_f32", "normalize_f16"}
)

// decodeKernels are the decoding kernels loaded in one context (and the input normalisation,
// compiled in the same module). Safe for concurrent use.
type decodeKernels struct {
	ctx  *cuda.Context
	cand [2][2]*cuda.Function // [yolov5][float16]
	nas  [2]*cuda.Function    // [float16]
	norm [2]*cuda.Function    // [float16]
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
	for half := range 2 {
		if k.nas[half], err = m.Function(nasEntries[half]); err != nil {
			return nil, err
		}
		if k.norm[half], err = m.Function(normalizeEntries[half]); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// candidateParams describe a batch of raw detector output for candidates.
type candidateParams struct {
	layout  Layout // LayoutYOLOv8, LayoutYOLOv5 or LayoutYOLONAS (then scores is its second output)
	half    bool   // the output is float16 (else float32)
	images  int    // images in the batch
	classes int
	anchors int
	conf    float32 // scores strictly above pass
	scores  cuda.DevicePtr
}

// candidates queues the thresholding of p.images images of raw output at out: counts
// (p.images int32) is zeroed, then for each anchor scoring above p.conf a record of
// candidateWords words is written into its image's region of recs (p.anchors records per
// image, so it never overflows) and counts[image] incremented. Copy counts back, then each
// image's first counts[image] records.
func (k *decodeKernels) candidates(s *cuda.Stream, out cuda.DevicePtr, p candidateParams, counts, recs cuda.DevicePtr) error {
	if s == nil || s.Context() != k.ctx || out == 0 || counts == 0 || recs == 0 || p.images <= 0 || p.images > 65535 ||
		p.classes <= 0 || p.anchors <= 0 || (p.layout != LayoutYOLOv8 && p.layout != LayoutYOLOv5 && p.layout != LayoutYOLONAS) ||
		(p.layout == LayoutYOLONAS && p.scores == 0) {
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
	fn := k.cand[v5][half]
	if p.layout == LayoutYOLONAS {
		a.Ptr(out).Ptr(p.scores)
		fn = k.nas[half]
	} else {
		a.Ptr(out)
	}
	a.Int32(int32(p.classes)).Int32(int32(p.anchors)).Float32(p.conf).Ptr(counts).Ptr(recs)
	const bx = 256
	return fn.Launch(s, cuda.Dim3{X: (p.anchors + bx - 1) / bx, Y: p.images}, cuda.Dim3{X: bx}, 0, &a)
}

// normalize queues ImageNet normalisation of slot (3 planes of plane pixels) of the input at
// dst, in place (float16 when half).
func (k *decodeKernels) normalize(s *cuda.Stream, dst cuda.DevicePtr, slot, plane int, half bool) error {
	if s == nil || s.Context() != k.ctx || dst == 0 || slot < 0 || plane <= 0 {
		return fmt.Errorf("inference: normalize(%#x, slot %d, %d): %w", dst, slot, plane, cuda.ErrInvalidArgument)
	}
	h := 0
	if half {
		h = 1
	}
	var a cuda.Args
	a.Ptr(dst).Int32(int32(slot)).Int32(int32(plane))
	for _, m := range ImageNetMean {
		a.Float32(m)
	}
	for _, sd := range ImageNetStd {
		a.Float32(1 / sd)
	}
	const bx = 256
	return k.norm[h].Launch(s, cuda.Dim3{X: (plane + bx - 1) / bx, Y: 3}, cuda.Dim3{X: bx}, 0, &a)
}
