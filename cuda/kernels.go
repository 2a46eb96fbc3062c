package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"strings"
)

// KernelHelpers is CUDA source for kernels compiled with Context.Compile, this package's and
// others': fixed-width types (u8, u16) and float16 conversion (f32_to_f16, f16_to_f32) written
// with inline PTX, so that no header (not even cuda_fp16.h) is needed.
const KernelHelpers = `
typedef unsigned char u8;
typedef unsigned short u16;

__device__ __forceinline__ u16 f32_to_f16(float f) {
  u16 h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}

__device__ __forceinline__ float f16_to_f32(u16 h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
`

// kernelLetterbox letterboxes a 4:2:0 frame (NV12 or I420, pitched planes) into one slot of a
// planar RGB tensor. The maths is inference.LetterboxInto's, step for step: per-axis ratio
// src/new with pixel centres aligned (cv2.resize INTER_LINEAR), edge samples replicated, chroma
// co-sited with even luma columns and centred between luma rows, bilinear interpolation of Y, U
// and V (in that order of operations), then BT.601 limited-range conversion with the 1/255
// normalisation folded into the constants, clamped to 0..1. Tap positions are computed in double
// precision as the CPU does. One thread per output pixel, writing R, G and B planes.
const kernelLetterbox = `
#define KY  ((float)(1.164383 / 255.0))
#define KRV ((float)(1.596027 / 255.0))
#define KGU ((float)(0.391762 / 255.0))
#define KGV ((float)(0.812968 / 255.0))
#define KBU ((float)(2.017232 / 255.0))

__device__ __forceinline__ float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

// neighbours: the two samples around coordinate s in 0..n-1 and the weight of the second.
__device__ __forceinline__ void neighbours(double s, int n, int *i0, int *i1, float *w) {
  if (s <= 0.0) { *i0 = 0; *i1 = 0; *w = 0.0f; return; }
  if (s >= (double)(n - 1)) { *i0 = n - 1; *i1 = n - 1; *w = 0.0f; return; }
  double f = floor(s);
  *i0 = (int)f; *i1 = (int)f + 1; *w = (float)(s - f);
}

__device__ __forceinline__ float bilerp(u8 p00, u8 p01, u8 p10, u8 p11, float wx, float wy) {
  float top = (float)p00 + wx * ((float)p01 - (float)p00);
  float bot = (float)p10 + wx * ((float)p11 - (float)p10);
  return top + wy * (bot - top);
}

template <typename T> __device__ __forceinline__ void store(T *dst, size_t i, float v);
template <> __device__ __forceinline__ void store<float>(float *dst, size_t i, float v) { dst[i] = v; }
template <> __device__ __forceinline__ void store<u16>(u16 *dst, size_t i, float v) { dst[i] = f32_to_f16(v); }

// CSTEP: bytes between chroma samples in a row (2 for NV12's interleaved UV, 1 for I420).
template <int CSTEP, typename T>
__device__ __forceinline__ void letterbox(const u8 *__restrict__ y, const u8 *__restrict__ u, const u8 *__restrict__ v,
    int pitchY, int pitchU, int pitchV, int srcW, int srcH, T *__restrict__ dst, int dstW, int dstH, int slot,
    int padX, int padY, int newW, int newH, float pad) {
  int ox = blockIdx.x * blockDim.x + threadIdx.x;
  int oy = blockIdx.y * blockDim.y + threadIdx.y;
  if (ox >= dstW || oy >= dstH) return;
  size_t plane = (size_t)dstW * (size_t)dstH;
  size_t o = (size_t)slot * 3 * plane + (size_t)oy * (size_t)dstW + (size_t)ox;
  float r = pad, g = pad, b = pad;
  int ix = ox - padX, iy = oy - padY;
  if (ix >= 0 && ix < newW && iy >= 0 && iy < newH) {
    double sx = ((double)ix + 0.5) * ((double)srcW / (double)newW) - 0.5;
    double sy = ((double)iy + 0.5) * ((double)srcH / (double)newH) - 0.5;
    int lx0, lx1, ly0, ly1, cx0, cx1, cy0, cy1;
    float lwx, lwy, cwx, cwy;
    neighbours(sx, srcW, &lx0, &lx1, &lwx);
    neighbours(sy, srcH, &ly0, &ly1, &lwy);
    neighbours(sx / 2.0, (srcW + 1) / 2, &cx0, &cx1, &cwx);
    neighbours((sy + 0.5) / 2.0 - 0.5, (srcH + 1) / 2, &cy0, &cy1, &cwy);
    const u8 *l0 = y + (size_t)ly0 * pitchY, *l1 = y + (size_t)ly1 * pitchY;
    float Y = bilerp(l0[lx0], l0[lx1], l1[lx0], l1[lx1], lwx, lwy);
    const u8 *u0 = u + (size_t)cy0 * pitchU, *u1 = u + (size_t)cy1 * pitchU;
    const u8 *v0 = v + (size_t)cy0 * pitchV, *v1 = v + (size_t)cy1 * pitchV;
    int a = cx0 * CSTEP, e = cx1 * CSTEP;
    float U = bilerp(u0[a], u0[e], u1[a], u1[e], cwx, cwy) - 128.0f;
    float V = bilerp(v0[a], v0[e], v1[a], v1[e], cwx, cwy) - 128.0f;
    float yy = KY * (Y - 16.0f);
    r = clamp01(yy + KRV * V);
    g = clamp01(yy - KGU * U - KGV * V);
    b = clamp01(yy + KBU * U);
  }
  store<T>(dst, o, r);
  store<T>(dst, o + plane, g);
  store<T>(dst, o + 2 * plane, b);
}

#define LETTERBOX_ENTRY(NAME, CSTEP, T)                                                                   \
  extern "C" __global__ void NAME(const u8 *y, const u8 *u, const u8 *v, int pitchY, int pitchU,          \
      int pitchV, int srcW, int srcH, void *dst, int dstW, int dstH, int slot, int padX, int padY,         \
      int newW, int newH, float pad) {                                                                    \
    letterbox<CSTEP, T>(y, u, v, pitchY, pitchU, pitchV, srcW, srcH, (T *)dst, dstW, dstH, slot, padX,    \
        padY, newW, newH, pad);                                                                           \
  }

LETTERBOX_ENTRY(letterbox_nv12_f32, 2, float)
LETTERBOX_ENTRY(letterbox_nv12_f16, 2, u16)
LETTERBOX_ENTRY(letterbox_i420_f32, 1, float)
LETTERBOX_ENTRY(letterbox_i420_f16, 1, u16)

extern "C" __global__ void half_to_float(float *dst, const u16 *src, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = f16_to_f32(src[i]);
}
`

// Box record layout shared by Drawer (Go) and draw_boxes_nv12 (CUDA): int32 fields.
const (
	boxX1 = iota // outline, [x1, x2) × [y1, y2), clipped to the frame
	boxY1
	boxX2
	boxY2
	boxThick // outline thickness in pixels
	boxColor // Y | U<<8 | V<<16
	boxBarX1 // label bar, [x1, x2) × [y1, y2); empty when x2 <= x1
	boxBarY1
	boxBarX2
	boxBarY2
	boxTextColor // Y | U<<8 | V<<16
	boxTextX     // top-left of the first glyph
	boxTextY
	boxTextOff // offset of the label in the text buffer
	boxTextLen
	boxScale       // glyph pixel size in frame pixels
	boxFields = 16 // int32 fields per record
)

// kernelDraw draws box outlines and labels in place on an NV12 frame. One thread per 2×2 luma
// block (one chroma sample) inside the region [ox, ox+2*gridW) × [oy, oy+2*gridH); each of the
// block's pixels takes the colour of the last box that covers it (outline, label bar or glyph),
// and the chroma sample takes the colour of the first drawn pixel of the block (top-left first).
const kernelDraw = `
__device__ __forceinline__ int draw_colour(int px, int py, const int *__restrict__ boxes, int nboxes,
    const u8 *__restrict__ text) {
  int c = -1;
  for (int i = 0; i < nboxes; i++) {
    const int *B = boxes + i * BOX_FIELDS;
    if (px >= B[BOX_X1] && px < B[BOX_X2] && py >= B[BOX_Y1] && py < B[BOX_Y2]) {
      int t = B[BOX_THICK];
      bool inner = px >= B[BOX_X1] + t && px < B[BOX_X2] - t && py >= B[BOX_Y1] + t && py < B[BOX_Y2] - t;
      if (!inner) c = B[BOX_COLOR];
    }
    if (px >= B[BOX_BAR_X1] && px < B[BOX_BAR_X2] && py >= B[BOX_BAR_Y1] && py < B[BOX_BAR_Y2]) {
      c = B[BOX_COLOR];
      int s = B[BOX_SCALE];
      int gx = px - B[BOX_TEXT_X], gy = py - B[BOX_TEXT_Y];
      if (gx >= 0 && gy >= 0 && s > 0) {
        gx /= s; gy /= s;
        int ci = gx / FONT_ADVANCE, col = gx % FONT_ADVANCE;
        if (ci < B[BOX_TEXT_LEN] && col < FONT_W && gy < FONT_H) {
          int ch = text[B[BOX_TEXT_OFF] + ci];
          if (ch < FONT_FIRST || ch > FONT_LAST) ch = '?';
          if (gv_font[ch - FONT_FIRST][gy] & (1 << (FONT_W - 1 - col))) c = B[BOX_TEXT_COLOR];
        }
      }
    }
  }
  return c;
}

extern "C" __global__ void draw_boxes_nv12(u8 *y, u8 *uv, int pitchY, int pitchUV, int w, int h, int ox, int oy,
    const int *boxes, int nboxes, const u8 *text) {
  int x0 = ox + 2 * (int)(blockIdx.x * blockDim.x + threadIdx.x);
  int y0 = oy + 2 * (int)(blockIdx.y * blockDim.y + threadIdx.y);
  if (x0 >= w || y0 >= h) return;
  int cuv = -1;
  for (int dy = 0; dy < 2; dy++) {
    for (int dx = 0; dx < 2; dx++) {
      int px = x0 + dx, py = y0 + dy;
      if (px >= w || py >= h) continue;
      int c = draw_colour(px, py, boxes, nboxes, text);
      if (c < 0) continue;
      y[(size_t)py * pitchY + px] = (u8)(c & 0xff);
      if (cuv < 0) cuv = c;
    }
  }
  if (cuv >= 0) {
    size_t o = (size_t)(y0 / 2) * pitchUV + (size_t)x0;
    uv[o] = (u8)((cuv >> 8) & 0xff);
    uv[o + 1] = (u8)((cuv >> 16) & 0xff);
  }
}
`

// Names of the kernels' entry points.
const (
	fnLetterboxNV12F32 = "letterbox_nv12_f32"
	fnLetterboxNV12F16 = "letterbox_nv12_f16"
	fnLetterboxI420F32 = "letterbox_i420_f32"
	fnLetterboxI420F16 = "letterbox_i420_f16"
	fnHalfToFloat      = "half_to_float"
	fnDrawBoxes        = "draw_boxes_nv12"
)

// KernelSource is the complete CUDA source of the project's kernels, as compiled by Kernels:
// the common helpers, the generated font table and box record layout, then the kernels.
func KernelSource() string {
	var b strings.Builder
	b.WriteString("// gstvision kernels (generated by cuda.KernelSource)\n")
	b.WriteString(KernelHelpers)
	fmt.Fprintf(&b, "\n#define BOX_FIELDS %d\n", boxFields)
	for _, d := range []struct {
		name string
		v    int
	}{{"BOX_X1", boxX1}, {"BOX_Y1", boxY1}, {"BOX_X2", boxX2}, {"BOX_Y2", boxY2}, {"BOX_THICK", boxThick},
		{"BOX_COLOR", boxColor}, {"BOX_BAR_X1", boxBarX1}, {"BOX_BAR_Y1", boxBarY1}, {"BOX_BAR_X2", boxBarX2},
		{"BOX_BAR_Y2", boxBarY2}, {"BOX_TEXT_COLOR", boxTextColor}, {"BOX_TEXT_X", boxTextX}, {"BOX_TEXT_Y", boxTextY},
		{"BOX_TEXT_OFF", boxTextOff}, {"BOX_TEXT_LEN", boxTextLen}, {"BOX_SCALE", boxScale}} {
		fmt.Fprintf(&b, "#define %s %d\n", d.name, d.v)
	}
	b.WriteString(fontSource())
	b.WriteString(kernelLetterbox)
	b.WriteString(kernelDraw)
	return b.String()
}

// KernelEntryPoints lists the extern "C" kernels in KernelSource.
func KernelEntryPoints() []string {
	return []string{fnLetterboxNV12F32, fnLetterboxNV12F16, fnLetterboxI420F32, fnLetterboxI420F16, fnHalfToFloat, fnDrawBoxes}
}

// Kernels holds the project's kernels compiled for one context. Safe for concurrent use.
type Kernels struct {
	ctx     *Context
	Module  *Module
	lb      [2][2]*Function // [format][float16]
	h2f     *Function
	drawFns *Function
}

// Kernels compiles (once per context, at start-up) and returns the project's kernels.
func (c *Context) Kernels() (*Kernels, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	k := c.kernels
	c.mu.Unlock()
	if k != nil {
		return k, nil
	}
	m, err := c.Compile("gstvision_kernels.cu", KernelSource())
	if err != nil {
		return nil, err
	}
	k = &Kernels{ctx: c, Module: m}
	for _, x := range []struct {
		dst  **Function
		name string
	}{
		{&k.lb[NV12][0], fnLetterboxNV12F32}, {&k.lb[NV12][1], fnLetterboxNV12F16},
		{&k.lb[I420][0], fnLetterboxI420F32}, {&k.lb[I420][1], fnLetterboxI420F16},
		{&k.h2f, fnHalfToFloat}, {&k.drawFns, fnDrawBoxes},
	} {
		if *x.dst, err = m.Function(x.name); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kernels == nil {
		c.kernels = k
	}
	return c.kernels, nil
}

// Format is the layout of a 4:2:0 frame's planes in device memory.
type Format int

const (
	NV12 Format = iota // plane 0 Y, plane 1 interleaved UV (nvh264dec's output)
	I420               // planes Y, U, V
)

func (f Format) String() string {
	switch f {
	case NV12:
		return "NV12"
	case I420:
		return "I420"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Image is a frame in device memory: plane pointers and their pitches (bytes per row).
type Image struct {
	Format        Format
	Width, Height int
	Planes        [3]DevicePtr
	Pitches       [3]int
}

func (im Image) check() error {
	if im.Width <= 0 || im.Height <= 0 {
		return fmt.Errorf("cuda: image size %dx%d: %w", im.Width, im.Height, ErrInvalidArgument)
	}
	cw := (im.Width + 1) / 2
	planes, rows := 2, [3]int{im.Width, 2 * cw, 0}
	switch im.Format {
	case NV12:
	case I420:
		planes, rows = 3, [3]int{im.Width, cw, cw}
	default:
		return fmt.Errorf("cuda: image format %v: %w", im.Format, ErrInvalidArgument)
	}
	for p := 0; p < planes; p++ {
		if im.Planes[p] == 0 || im.Pitches[p] < rows[p] {
			return fmt.Errorf("cuda: %v %dx%d plane %d at %#x pitch %d (row is %d bytes): %w",
				im.Format, im.Width, im.Height, p, im.Planes[p], im.Pitches[p], rows[p], ErrInvalidArgument)
		}
	}
	return nil
}

// LetterboxParams place the scaled picture in the model input: DstW×DstH input, picture of
// NewW×NewH at (PadX, PadY), Pad elsewhere. The same numbers as inference.Letterbox.
type LetterboxParams struct {
	DstW, DstH int
	PadX, PadY int
	NewW, NewH int
	Pad        float32
}

// Letterbox queues the letterboxing of src into slot slot of dst, a tensor of planar RGB
// images of DstW×DstH (float32, or float16 when half). The kernel reads src's planes until the
// stream reaches it: synchronise s before handing the frame back to its producer.
func (k *Kernels) Letterbox(s *Stream, src Image, dst DevicePtr, slot int, p LetterboxParams, half bool) error {
	if err := s.live(); err != nil {
		return err
	}
	if s.ctx != k.ctx {
		return fmt.Errorf("cuda: letterbox on a stream of another context: %w", ErrInvalidArgument)
	}
	if err := src.check(); err != nil {
		return err
	}
	if dst == 0 || slot < 0 || p.DstW <= 0 || p.DstH <= 0 || p.NewW <= 0 || p.NewH <= 0 || p.PadX < 0 || p.PadY < 0 ||
		p.PadX+p.NewW > p.DstW || p.PadY+p.NewH > p.DstH {
		return fmt.Errorf("cuda: letterbox into %#x slot %d with %+v: %w", dst, slot, p, ErrInvalidArgument)
	}
	a := C.gv_letterbox_args{
		y: C.CUdeviceptr(src.Planes[0]), pitch_y: C.int(src.Pitches[0]),
		src_w: C.int(src.Width), src_h: C.int(src.Height),
		dst: C.CUdeviceptr(dst), dst_w: C.int(p.DstW), dst_h: C.int(p.DstH), slot: C.int(slot),
		pad_x: C.int(p.PadX), pad_y: C.int(p.PadY), new_w: C.int(p.NewW), new_h: C.int(p.NewH), pad: C.float(p.Pad),
	}
	if src.Format == NV12 {
		a.u, a.v = C.CUdeviceptr(src.Planes[1]), C.CUdeviceptr(src.Planes[1]+1)
		a.pitch_u, a.pitch_v = C.int(src.Pitches[1]), C.int(src.Pitches[1])
	} else {
		a.u, a.v = C.CUdeviceptr(src.Planes[1]), C.CUdeviceptr(src.Planes[2])
		a.pitch_u, a.pitch_v = C.int(src.Pitches[1]), C.int(src.Pitches[2])
	}
	h := 0
	if half {
		h = 1
	}
	f := k.lb[src.Format][h]
	const bx, by = 32, 8
	gx, gy := (p.DstW+bx-1)/bx, (p.DstH+by-1)/by
	if r := C.gv_launch_letterbox(k.ctx.h, f.f, C.uint(gx), C.uint(gy), bx, by, s.s, a); r != 0 {
		return fmt.Errorf("launching %s: %w", f.Name, check("cuLaunchKernel", r))
	}
	return nil
}

// HalfToFloat queues the conversion of n float16 values at src to float32 at dst.
func (k *Kernels) HalfToFloat(s *Stream, dst, src DevicePtr, n int) error {
	if err := s.live(); err != nil {
		return err
	}
	if s.ctx != k.ctx || n < 0 || (n > 0 && (dst == 0 || src == 0)) || n > 1<<31-1-255 {
		return fmt.Errorf("cuda: HalfToFloat(%#x, %#x, %d): %w", dst, src, n, ErrInvalidArgument)
	}
	if n == 0 {
		return nil
	}
	const bx = 256
	if r := C.gv_launch_h2f(k.ctx.h, k.h2f.f, C.uint((n+bx-1)/bx), bx, s.s, C.CUdeviceptr(dst), C.CUdeviceptr(src), C.int(n)); r != 0 {
		return fmt.Errorf("launching %s: %w", fnHalfToFloat, check("cuLaunchKernel", r))
	}
	return nil
}
