// Run-time binding of the CUDA driver API and NVRTC; see shim.h.
#include "shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Values from the public CUDA headers.
#define CU_MEMORYTYPE_HOST 1
#define CU_MEMORYTYPE_DEVICE 2

// CUDA_MEMCPY2D (the _v2 layout used by cuMemcpy2DAsync_v2).
typedef struct {
  size_t srcXInBytes, srcY;
  int srcMemoryType;
  const void *srcHost;
  CUdeviceptr srcDevice;
  void *srcArray;
  size_t srcPitch;
  size_t dstXInBytes, dstY;
  int dstMemoryType;
  void *dstHost;
  CUdeviceptr dstDevice;
  void *dstArray;
  size_t dstPitch;
  size_t WidthInBytes, Height;
} gv_memcpy2d;

static void *cu_lib;
static CUresult (*p_cuGetErrorName)(CUresult, const char **);
static CUresult (*p_cuGetErrorString)(CUresult, const char **);
static CUresult (*p_cuInit)(unsigned);
static CUresult (*p_cuDriverGetVersion)(int *);
static CUresult (*p_cuDeviceGetCount)(int *);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDeviceGetName)(char *, int, CUdevice);
static CUresult (*p_cuDeviceGetAttribute)(int *, int, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRelease)(CUdevice);
static CUresult (*p_cuDevicePrimaryCtxSetFlags)(CUdevice, unsigned);
static CUresult (*p_cuCtxPushCurrent)(CUcontext);
static CUresult (*p_cuCtxPopCurrent)(CUcontext *);
static CUresult (*p_cuCtxSynchronize)(void);
static CUresult (*p_cuMemGetInfo)(size_t *, size_t *);
static CUresult (*p_cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemAllocHost)(void **, size_t);
static CUresult (*p_cuMemFreeHost)(void *);
static CUresult (*p_cuStreamCreate)(CUstream *, unsigned);
static CUresult (*p_cuStreamCreateWithPriority)(CUstream *, unsigned, int);
static CUresult (*p_cuCtxGetStreamPriorityRange)(int *, int *);
static CUresult (*p_cuStreamSynchronize)(CUstream);
static CUresult (*p_cuStreamDestroy)(CUstream);
static CUresult (*p_cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
static CUresult (*p_cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
static CUresult (*p_cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
static CUresult (*p_cuMemcpy2DAsync)(const gv_memcpy2d *, CUstream);
static CUresult (*p_cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
static CUresult (*p_cuMemsetD2D8Async)(CUdeviceptr, size_t, unsigned char, size_t, size_t, CUstream);
static CUresult (*p_cuModuleLoadData)(CUmodule *, const void *);
static CUresult (*p_cuModuleUnload)(CUmodule);
static CUresult (*p_cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                    unsigned, CUstream, void **, void **);

#define LOAD(lib, var, sym)                                                       \
  do {                                                                            \
    *(void **)&(var) = dlsym(lib, sym);                                           \
    if (!(var)) {                                                                 \
      snprintf(err, errlen, "%s has no symbol %s (driver too old?)", name, sym); \
      return 2;                                                                   \
    }                                                                             \
  } while (0)

int gv_cu_load(const char *name, char *err, size_t errlen) {
  if (cu_lib) return 0;
  void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(err, errlen, "%s", e ? e : "dlopen failed");
    return 1;
  }
  LOAD(h, p_cuGetErrorName, "cuGetErrorName");
  LOAD(h, p_cuGetErrorString, "cuGetErrorString");
  LOAD(h, p_cuInit, "cuInit");
  LOAD(h, p_cuDriverGetVersion, "cuDriverGetVersion");
  LOAD(h, p_cuDeviceGetCount, "cuDeviceGetCount");
  LOAD(h, p_cuDeviceGet, "cuDeviceGet");
  LOAD(h, p_cuDeviceGetName, "cuDeviceGetName");
  LOAD(h, p_cuDeviceGetAttribute, "cuDeviceGetAttribute");
  LOAD(h, p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  LOAD(h, p_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  LOAD(h, p_cuDevicePrimaryCtxSetFlags, "cuDevicePrimaryCtxSetFlags_v2");
  LOAD(h, p_cuCtxPushCurrent, "cuCtxPushCurrent_v2");
  LOAD(h, p_cuCtxPopCurrent, "cuCtxPopCurrent_v2");
  LOAD(h, p_cuCtxSynchronize, "cuCtxSynchronize");
  LOAD(h, p_cuMemGetInfo, "cuMemGetInfo_v2");
  LOAD(h, p_cuMemAlloc, "cuMemAlloc_v2");
  LOAD(h, p_cuMemFree, "cuMemFree_v2");
  LOAD(h, p_cuMemAllocHost, "cuMemAllocHost_v2");
  LOAD(h, p_cuMemFreeHost, "cuMemFreeHost");
  LOAD(h, p_cuStreamCreate, "cuStreamCreate");
  LOAD(h, p_cuStreamCreateWithPriority, "cuStreamCreateWithPriority");
  LOAD(h, p_cuCtxGetStreamPriorityRange, "cuCtxGetStreamPriorityRange");
  LOAD(h, p_cuStreamSynchronize, "cuStreamSynchronize");
  LOAD(h, p_cuStreamDestroy, "cuStreamDestroy_v2");
  LOAD(h, p_cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  LOAD(h, p_cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  LOAD(h, p_cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
  LOAD(h, p_cuMemcpy2DAsync, "cuMemcpy2DAsync_v2");
  LOAD(h, p_cuMemsetD8Async, "cuMemsetD8Async");
  LOAD(h, p_cuMemsetD2D8Async, "cuMemsetD2D8Async");
  LOAD(h, p_cuModuleLoadData, "cuModuleLoadData");
  LOAD(h, p_cuModuleUnload, "cuModuleUnload");
  LOAD(h, p_cuModuleGetFunction, "cuModuleGetFunction");
  LOAD(h, p_cuLaunchKernel, "cuLaunchKernel");
  cu_lib = h;
  return 0;
}

const char *gv_cu_error_name(CUresult r) {
  const char *s = NULL;
  if (p_cuGetErrorName && p_cuGetErrorName(r, &s) == 0 && s) return s;
  return "CUDA_ERROR_UNKNOWN_CODE";
}

const char *gv_cu_error_string(CUresult r) {
  const char *s = NULL;
  if (p_cuGetErrorString && p_cuGetErrorString(r, &s) == 0 && s) return s;
  return "unrecognised error code";
}

CUresult gv_cuInit(void) { return p_cuInit(0); }
CUresult gv_cuDriverGetVersion(int *v) { return p_cuDriverGetVersion(v); }
CUresult gv_cuDeviceGetCount(int *n) { return p_cuDeviceGetCount(n); }
CUresult gv_cuDeviceGet(CUdevice *d, int ordinal) { return p_cuDeviceGet(d, ordinal); }
CUresult gv_cuDeviceGetName(char *name, int len, CUdevice d) { return p_cuDeviceGetName(name, len, d); }
CUresult gv_cuDeviceGetAttribute(int *v, int attr, CUdevice d) { return p_cuDeviceGetAttribute(v, attr, d); }
CUresult gv_cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { return p_cuDevicePrimaryCtxRetain(c, d); }
CUresult gv_cuDevicePrimaryCtxRelease(CUdevice d) { return p_cuDevicePrimaryCtxRelease(d); }
CUresult gv_cuDevicePrimaryCtxSetFlags(CUdevice d, unsigned flags) { return p_cuDevicePrimaryCtxSetFlags(d, flags); }

CUresult gv_ctx_push(CUcontext c) { return p_cuCtxPushCurrent(c); }
CUresult gv_ctx_pop(void) {
  CUcontext old;
  return p_cuCtxPopCurrent(&old);
}

// WITH_CTX runs call with c current on this thread and restores the previous current context.
#define WITH_CTX(c, call)                        \
  do {                                           \
    CUresult r_ = p_cuCtxPushCurrent(c);         \
    if (r_) return GV_PUSH_FAILED + r_;          \
    r_ = (call);                                 \
    CUcontext o_;                                \
    p_cuCtxPopCurrent(&o_);                      \
    return r_;                                   \
  } while (0)

CUresult gv_ctx_synchronize(CUcontext c) { WITH_CTX(c, p_cuCtxSynchronize()); }
CUresult gv_mem_get_info(CUcontext c, size_t *f, size_t *t) { WITH_CTX(c, p_cuMemGetInfo(f, t)); }
CUresult gv_mem_alloc(CUcontext c, CUdeviceptr *p, size_t n) { WITH_CTX(c, p_cuMemAlloc(p, n)); }
CUresult gv_mem_free(CUcontext c, CUdeviceptr p) { WITH_CTX(c, p_cuMemFree(p)); }
CUresult gv_mem_alloc_host(CUcontext c, void **p, size_t n) { WITH_CTX(c, p_cuMemAllocHost(p, n)); }
CUresult gv_mem_free_host(CUcontext c, void *p) { WITH_CTX(c, p_cuMemFreeHost(p)); }
CUresult gv_stream_create(CUcontext c, CUstream *s, unsigned flags) { WITH_CTX(c, p_cuStreamCreate(s, flags)); }
CUresult gv_stream_create_urgent(CUcontext c, CUstream *s, unsigned flags) {
  int least, greatest;
  CUresult r = gv_stream_priority_range(c, &least, &greatest);
  if (r != 0) return r;
  WITH_CTX(c, p_cuStreamCreateWithPriority(s, flags, greatest));
}
CUresult gv_stream_priority_range(CUcontext c, int *least, int *greatest) {
  WITH_CTX(c, p_cuCtxGetStreamPriorityRange(least, greatest));
}
CUresult gv_stream_synchronize(CUcontext c, CUstream s) { WITH_CTX(c, p_cuStreamSynchronize(s)); }
CUresult gv_stream_destroy(CUcontext c, CUstream s) { WITH_CTX(c, p_cuStreamDestroy(s)); }

CUresult gv_memcpy_htod(CUcontext c, CUdeviceptr dst, const void *src, size_t n, CUstream s) {
  WITH_CTX(c, p_cuMemcpyHtoDAsync(dst, src, n, s));
}
CUresult gv_memcpy_dtoh(CUcontext c, void *dst, CUdeviceptr src, size_t n, CUstream s) {
  WITH_CTX(c, p_cuMemcpyDtoHAsync(dst, src, n, s));
}
CUresult gv_memcpy_dtod(CUcontext c, CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  WITH_CTX(c, p_cuMemcpyDtoDAsync(dst, src, n, s));
}

CUresult gv_memcpy_2d(CUcontext c, int dst_kind, CUdeviceptr dst_dev, void *dst_host, size_t dst_pitch,
                      int src_kind, CUdeviceptr src_dev, const void *src_host, size_t src_pitch,
                      size_t width_bytes, size_t height, CUstream s) {
  gv_memcpy2d m;
  memset(&m, 0, sizeof m);
  m.srcMemoryType = src_kind;
  m.srcHost = src_host;
  m.srcDevice = src_dev;
  m.srcPitch = src_pitch;
  m.dstMemoryType = dst_kind;
  m.dstHost = dst_host;
  m.dstDevice = dst_dev;
  m.dstPitch = dst_pitch;
  m.WidthInBytes = width_bytes;
  m.Height = height;
  WITH_CTX(c, p_cuMemcpy2DAsync(&m, s));
}

CUresult gv_memset_d8(CUcontext c, CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
  WITH_CTX(c, p_cuMemsetD8Async(dst, v, n, s));
}
CUresult gv_memset_d2d8(CUcontext c, CUdeviceptr dst, size_t pitch, unsigned char v, size_t w, size_t h,
                        CUstream s) {
  WITH_CTX(c, p_cuMemsetD2D8Async(dst, pitch, v, w, h, s));
}

CUresult gv_module_load_data(CUcontext c, CUmodule *m, const void *image) {
  WITH_CTX(c, p_cuModuleLoadData(m, image));
}
CUresult gv_module_unload(CUcontext c, CUmodule m) { WITH_CTX(c, p_cuModuleUnload(m)); }
CUresult gv_module_get_function(CUcontext c, CUfunction *f, CUmodule m, const char *name) {
  WITH_CTX(c, p_cuModuleGetFunction(f, m, name));
}

CUresult gv_launch(CUcontext c, CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned shmem, CUstream s, const unsigned char *args,
                   int nbytes, const int *offsets, int nargs) {
  // 8-byte aligned local copy: parameter values are read through these pointers at launch time.
  unsigned long long local[GV_MAX_ARG_BYTES / 8];
  void *params[GV_MAX_ARGS];
  if (nbytes < 0 || nbytes > GV_MAX_ARG_BYTES || nargs < 0 || nargs > GV_MAX_ARGS) return 1; /* CUDA_ERROR_INVALID_VALUE */
  if (nbytes) memcpy(local, args, (size_t)nbytes);
  for (int i = 0; i < nargs; i++) {
    if (offsets[i] < 0 || offsets[i] >= nbytes) return 1;
    params[i] = (unsigned char *)local + offsets[i];
  }
  WITH_CTX(c, p_cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shmem, s, nargs ? params : NULL, NULL));
}

CUresult gv_launch_letterbox(CUcontext c, CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by,
                             CUstream s, gv_letterbox_args a) {
  // The order must match the kernel's parameter list in kernels.go.
  void *p[] = {&a.y,     &a.u,     &a.v,     &a.pitch_y, &a.pitch_u, &a.pitch_v,
               &a.src_w, &a.src_h, &a.dst,   &a.dst_w,   &a.dst_h,   &a.slot,
               &a.pad_x, &a.pad_y, &a.new_w, &a.new_h,   &a.pad};
  WITH_CTX(c, p_cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, s, p, NULL));
}

CUresult gv_launch_draw(CUcontext c, CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by,
                        CUstream s, gv_draw_args a) {
  // The order must match draw_boxes_nv12's parameter list in kernels.go.
  void *p[] = {&a.y, &a.uv, &a.pitch_y, &a.pitch_uv, &a.w, &a.h, &a.ox, &a.oy, &a.boxes, &a.nboxes, &a.text};
  WITH_CTX(c, p_cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, s, p, NULL));
}

CUresult gv_launch_h2f(CUcontext c, CUfunction f, unsigned gx, unsigned bx, CUstream s, CUdeviceptr dst,
                       CUdeviceptr src, int n) {
  void *p[] = {&dst, &src, &n};
  WITH_CTX(c, p_cuLaunchKernel(f, gx, 1, 1, bx, 1, 1, 0, s, p, NULL));
}

/* ---- NVRTC ---- */

static void *nvrtc_lib;
static nvrtcResult (*p_nvrtcVersion)(int *, int *);
static const char *(*p_nvrtcGetErrorString)(nvrtcResult);
static nvrtcResult (*p_nvrtcCreateProgram)(nvrtcProgram *, const char *, const char *, int, const char *const *,
                                           const char *const *);
static nvrtcResult (*p_nvrtcCompileProgram)(nvrtcProgram, int, const char *const *);
static nvrtcResult (*p_nvrtcGetProgramLogSize)(nvrtcProgram, size_t *);
static nvrtcResult (*p_nvrtcGetProgramLog)(nvrtcProgram, char *);
static nvrtcResult (*p_nvrtcGetPTXSize)(nvrtcProgram, size_t *);
static nvrtcResult (*p_nvrtcGetPTX)(nvrtcProgram, char *);
static nvrtcResult (*p_nvrtcGetCUBINSize)(nvrtcProgram, size_t *); /* optional (CUDA 11.1+) */
static nvrtcResult (*p_nvrtcGetCUBIN)(nvrtcProgram, char *);       /* optional */
static nvrtcResult (*p_nvrtcGetNumSupportedArchs)(int *);          /* optional (CUDA 11.2+) */
static nvrtcResult (*p_nvrtcGetSupportedArchs)(int *);             /* optional */
static nvrtcResult (*p_nvrtcDestroyProgram)(nvrtcProgram *);

int gv_nvrtc_load(const char *name, char *err, size_t errlen) {
  if (nvrtc_lib) return 0;
  void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(err, errlen, "%s", e ? e : "dlopen failed");
    return 1;
  }
  LOAD(h, p_nvrtcVersion, "nvrtcVersion");
  LOAD(h, p_nvrtcGetErrorString, "nvrtcGetErrorString");
  LOAD(h, p_nvrtcCreateProgram, "nvrtcCreateProgram");
  LOAD(h, p_nvrtcCompileProgram, "nvrtcCompileProgram");
  LOAD(h, p_nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize");
  LOAD(h, p_nvrtcGetProgramLog, "nvrtcGetProgramLog");
  LOAD(h, p_nvrtcGetPTXSize, "nvrtcGetPTXSize");
  LOAD(h, p_nvrtcGetPTX, "nvrtcGetPTX");
  LOAD(h, p_nvrtcDestroyProgram, "nvrtcDestroyProgram");
  *(void **)&p_nvrtcGetCUBINSize = dlsym(h, "nvrtcGetCUBINSize");
  *(void **)&p_nvrtcGetCUBIN = dlsym(h, "nvrtcGetCUBIN");
  *(void **)&p_nvrtcGetNumSupportedArchs = dlsym(h, "nvrtcGetNumSupportedArchs");
  *(void **)&p_nvrtcGetSupportedArchs = dlsym(h, "nvrtcGetSupportedArchs");
  nvrtc_lib = h;
  return 0;
}

int gv_nvrtc_has_cubin(void) { return p_nvrtcGetCUBINSize && p_nvrtcGetCUBIN; }

const char *gv_nvrtc_error_string(nvrtcResult r) {
  const char *s = p_nvrtcGetErrorString ? p_nvrtcGetErrorString(r) : NULL;
  return s ? s : "NVRTC_ERROR_UNKNOWN";
}

nvrtcResult gv_nvrtc_version(int *major, int *minor) { return p_nvrtcVersion(major, minor); }

int gv_nvrtc_supported_archs(int *out, int max) {
  int n = 0;
  if (!p_nvrtcGetNumSupportedArchs || !p_nvrtcGetSupportedArchs) return -1;
  if (p_nvrtcGetNumSupportedArchs(&n) || n <= 0) return -1;
  int *all = malloc(sizeof(int) * (size_t)n);
  if (!all) return -1;
  if (p_nvrtcGetSupportedArchs(all)) {
    free(all);
    return -1;
  }
  for (int i = 0; i < n && i < max; i++) out[i] = all[i];
  free(all);
  return n;
}

nvrtcResult gv_nvrtc_compile(const char *src, const char *name, const char *const *opts, int nopts,
                             nvrtcProgram *prog) {
  *prog = NULL;
  nvrtcResult r = p_nvrtcCreateProgram(prog, src, name, 0, NULL, NULL);
  if (r) {
    *prog = NULL;
    return r;
  }
  return p_nvrtcCompileProgram(*prog, nopts, opts);
}

nvrtcResult gv_nvrtc_log(nvrtcProgram prog, char **out) {
  size_t n = 0;
  *out = NULL;
  nvrtcResult r = p_nvrtcGetProgramLogSize(prog, &n);
  if (r) return r;
  char *buf = malloc(n + 1);
  if (!buf) return 1; /* NVRTC_ERROR_OUT_OF_MEMORY */
  buf[0] = 0;
  r = n ? p_nvrtcGetProgramLog(prog, buf) : 0;
  buf[n] = 0;
  *out = buf;
  return r;
}

nvrtcResult gv_nvrtc_code(nvrtcProgram prog, int cubin, void **out, size_t *n) {
  *out = NULL;
  *n = 0;
  nvrtcResult r;
  if (cubin) {
    if (!gv_nvrtc_has_cubin()) return 3; /* NVRTC_ERROR_INVALID_INPUT */
    r = p_nvrtcGetCUBINSize(prog, n);
  } else {
    r = p_nvrtcGetPTXSize(prog, n);
  }
  if (r) return r;
  char *buf = malloc(*n + 1);
  if (!buf) return 1;
  r = cubin ? p_nvrtcGetCUBIN(prog, buf) : p_nvrtcGetPTX(prog, buf);
  buf[*n] = 0; /* PTX is loaded as a NUL-terminated string */
  *out = buf;
  return r;
}

void gv_nvrtc_destroy(nvrtcProgram prog) {
  if (prog) p_nvrtcDestroyProgram(&prog);
}
