// Minimal declarations for the CUDA driver API and NVRTC, both loaded at run time with dlopen.
// No CUDA header is needed to build: only the few types and constants used are declared here,
// with the values of the public CUDA headers. Every gv_* call that needs a context takes it,
// pushes it on the calling thread, does its work and pops it again within the same C call, so
// that the Go scheduler never moves a goroutine between the push and the pop.
#ifndef GSTVISION_CUDA_SHIM_H
#define GSTVISION_CUDA_SHIM_H

#include <stddef.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext;
typedef void *CUstream;
typedef void *CUmodule;
typedef void *CUfunction;
typedef int nvrtcResult;
typedef void *nvrtcProgram;

// A failure of the context push itself is reported as GV_PUSH_FAILED + the CUresult, so that Go
// can name cuCtxPushCurrent_v2 rather than the call it wrapped.
#define GV_PUSH_FAILED 0x100000

// Largest kernel parameter block gv_launch accepts (bytes) and most parameters.
#define GV_MAX_ARG_BYTES 1024
#define GV_MAX_ARGS 64

// gv_cu_load dlopens the driver library; 0 on success, else non-zero with a message in err.
int gv_cu_load(const char *name, char *err, size_t errlen);
const char *gv_cu_error_name(CUresult r);
const char *gv_cu_error_string(CUresult r);

CUresult gv_cuInit(void);
CUresult gv_cuDriverGetVersion(int *v);
CUresult gv_cuDeviceGetCount(int *n);
CUresult gv_cuDeviceGet(CUdevice *d, int ordinal);
CUresult gv_cuDeviceGetName(char *name, int len, CUdevice d);
CUresult gv_cuDeviceGetAttribute(int *v, int attr, CUdevice d);
CUresult gv_cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d);
CUresult gv_cuDevicePrimaryCtxRelease(CUdevice d);
CUresult gv_cuDevicePrimaryCtxSetFlags(CUdevice d, unsigned flags);

CUresult gv_ctx_push(CUcontext c);
CUresult gv_ctx_pop(void);
CUresult gv_ctx_synchronize(CUcontext c);
CUresult gv_mem_get_info(CUcontext c, size_t *free_bytes, size_t *total_bytes);
CUresult gv_mem_alloc(CUcontext c, CUdeviceptr *p, size_t n);
CUresult gv_mem_free(CUcontext c, CUdeviceptr p);
CUresult gv_mem_alloc_host(CUcontext c, void **p, size_t n);
CUresult gv_mem_free_host(CUcontext c, void *p);

CUresult gv_stream_create(CUcontext c, CUstream *s, unsigned flags);
CUresult gv_stream_priority_range(CUcontext c, int *least, int *greatest);
CUresult gv_stream_create_urgent(CUcontext c, CUstream *s, unsigned flags);
CUresult gv_stream_synchronize(CUcontext c, CUstream s);
CUresult gv_stream_destroy(CUcontext c, CUstream s);

CUresult gv_memcpy_htod(CUcontext c, CUdeviceptr dst, const void *src, size_t n, CUstream s);
CUresult gv_memcpy_dtoh(CUcontext c, void *dst, CUdeviceptr src, size_t n, CUstream s);
CUresult gv_memcpy_dtod(CUcontext c, CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s);
// kinds: 1 host, 2 device (CUmemorytype)
CUresult gv_memcpy_2d(CUcontext c, int dst_kind, CUdeviceptr dst_dev, void *dst_host, size_t dst_pitch,
                      int src_kind, CUdeviceptr src_dev, const void *src_host, size_t src_pitch,
                      size_t width_bytes, size_t height, CUstream s);
CUresult gv_memset_d8(CUcontext c, CUdeviceptr dst, unsigned char v, size_t n, CUstream s);
CUresult gv_memset_d2d8(CUcontext c, CUdeviceptr dst, size_t pitch, unsigned char v, size_t w, size_t h,
                        CUstream s);

CUresult gv_module_load_data(CUcontext c, CUmodule *m, const void *image);
CUresult gv_module_unload(CUcontext c, CUmodule m);
CUresult gv_module_get_function(CUcontext c, CUfunction *f, CUmodule m, const char *name);

// gv_launch launches f with parameters packed in args (nbytes bytes; parameter i starts at
// offsets[i]). The block is copied to C stack memory before the launch (cuLaunchKernel copies
// parameter values at launch time), so nothing of the caller's memory is kept.
CUresult gv_launch(CUcontext c, CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned shmem, CUstream s, const unsigned char *args,
                   int nbytes, const int *offsets, int nargs);

// Parameters of the built-in kernels, passed by value from Go so that no Go memory is involved.
typedef struct {
  CUdeviceptr y, u, v, dst;
  int pitch_y, pitch_u, pitch_v;
  int src_w, src_h, dst_w, dst_h;
  int pad_x, pad_y, new_w, new_h;
  int slot;
  float pad;
} gv_letterbox_args;

typedef struct {
  CUdeviceptr y, uv, boxes, text;
  int pitch_y, pitch_uv, w, h, ox, oy, nboxes;
} gv_draw_args;

CUresult gv_launch_letterbox(CUcontext c, CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by,
                             CUstream s, gv_letterbox_args a);
CUresult gv_launch_draw(CUcontext c, CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by,
                        CUstream s, gv_draw_args a);
CUresult gv_launch_h2f(CUcontext c, CUfunction f, unsigned gx, unsigned bx, CUstream s, CUdeviceptr dst,
                       CUdeviceptr src, int n);

// NVRTC
int gv_nvrtc_load(const char *name, char *err, size_t errlen);
int gv_nvrtc_has_cubin(void);
const char *gv_nvrtc_error_string(nvrtcResult r);
nvrtcResult gv_nvrtc_version(int *major, int *minor);
// gv_nvrtc_supported_archs writes up to max architectures (e.g. 90) and returns how many there
// are, or -1 when this NVRTC cannot list them.
int gv_nvrtc_supported_archs(int *out, int max);
// gv_nvrtc_compile creates and compiles a program; *prog is set whenever creation succeeded, so
// that the log can be read after a failed compilation.
nvrtcResult gv_nvrtc_compile(const char *src, const char *name, const char *const *opts, int nopts,
                             nvrtcProgram *prog);
// gv_nvrtc_log and gv_nvrtc_code return malloc'd memory the caller frees.
nvrtcResult gv_nvrtc_log(nvrtcProgram prog, char **out);
nvrtcResult gv_nvrtc_code(nvrtcProgram prog, int cubin, void **out, size_t *n);
void gv_nvrtc_destroy(nvrtcProgram prog);

#endif
