// Calls into the ONNX Runtime C API through the OrtApi table; see shim.h.
#include "shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const void *(*GetApi)(uint32_t version);
  const char *(*GetVersionString)(void);
} gv_OrtApiBase;

static void *lib;
static void *const *api; /* OrtApi read as an array of function pointers */
static const char *version_string = "";
static void *fns[GV_NFN];

int gv_ort_open(const char *path, unsigned version, char *err, size_t errlen) {
  if (api) return 0;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(err, errlen, "dlopen: %s", e ? e : "failed");
    return 1;
  }
  const gv_OrtApiBase *(*base)(void) = (const gv_OrtApiBase *(*)(void))dlsym(h, "OrtGetApiBase");
  if (!base) {
    snprintf(err, errlen, "%s has no OrtGetApiBase: not an ONNX Runtime library", path);
    return 2;
  }
  const gv_OrtApiBase *b = base();
  const void *a = b ? b->GetApi(version) : NULL;
  const char *v = b && b->GetVersionString ? b->GetVersionString() : "?";
  if (!a) {
    snprintf(err, errlen, "ONNX Runtime %s does not offer C API version %u (too old)", v, version);
    return 3;
  }
  lib = h;
  version_string = v;
  api = (void *const *)a;
  return 0;
}

const char *gv_ort_version_string(void) { return version_string; }

void gv_ort_bind(int id, int slot) {
  if (id >= 0 && id < GV_NFN && api) fns[id] = api[slot];
}

#define F(id, type) ((type)fns[GV_##id])

OrtStatus *gv_CreateStatus(int code, const char *msg) {
  return F(CreateStatus, OrtStatus * (*)(int, const char *))(code, msg);
}
int gv_GetErrorCode(const OrtStatus *s) { return F(GetErrorCode, int (*)(const OrtStatus *))(s); }
const char *gv_GetErrorMessage(const OrtStatus *s) {
  return F(GetErrorMessage, const char *(*)(const OrtStatus *))(s);
}
void gv_ReleaseStatus(OrtStatus *s) { F(ReleaseStatus, void (*)(OrtStatus *))(s); }

OrtStatus *gv_CreateEnv(int level, const char *logid, OrtEnv **out) {
  return F(CreateEnv, OrtStatus * (*)(int, const char *, OrtEnv **))(level, logid, out);
}
void gv_ReleaseEnv(OrtEnv *e) { F(ReleaseEnv, void (*)(OrtEnv *))(e); }

OrtStatus *gv_CreateSessionOptions(OrtSessionOptions **out) {
  return F(CreateSessionOptions, OrtStatus * (*)(OrtSessionOptions **))(out);
}
OrtStatus *gv_SetSessionGraphOptimizationLevel(OrtSessionOptions *o, int level) {
  return F(SetSessionGraphOptimizationLevel, OrtStatus * (*)(OrtSessionOptions *, int))(o, level);
}
OrtStatus *gv_SetIntraOpNumThreads(OrtSessionOptions *o, int n) {
  return F(SetIntraOpNumThreads, OrtStatus * (*)(OrtSessionOptions *, int))(o, n);
}
OrtStatus *gv_AddFreeDimensionOverrideByName(OrtSessionOptions *o, const char *name, int64_t value) {
  return F(AddFreeDimensionOverrideByName, OrtStatus * (*)(OrtSessionOptions *, const char *, int64_t))(o, name, value);
}
void gv_ReleaseSessionOptions(OrtSessionOptions *o) { F(ReleaseSessionOptions, void (*)(OrtSessionOptions *))(o); }

OrtStatus *gv_CreateCUDAProviderOptions(OrtCUDAProviderOptionsV2 **out) {
  return F(CreateCUDAProviderOptions, OrtStatus * (*)(OrtCUDAProviderOptionsV2 **))(out);
}
OrtStatus *gv_UpdateCUDAProviderOptions(OrtCUDAProviderOptionsV2 *o, const char *const *keys,
                                        const char *const *values, size_t n) {
  return F(UpdateCUDAProviderOptions,
           OrtStatus * (*)(OrtCUDAProviderOptionsV2 *, const char *const *, const char *const *, size_t))(o, keys,
                                                                                                         values, n);
}
OrtStatus *gv_UpdateCUDAProviderOptionsWithValue(OrtCUDAProviderOptionsV2 *o, const char *key, uintptr_t value) {
  return F(UpdateCUDAProviderOptionsWithValue, OrtStatus * (*)(OrtCUDAProviderOptionsV2 *, const char *, void *))(
      o, key, (void *)value);
}
OrtStatus *gv_SessionOptionsAppendExecutionProvider_CUDA_V2(OrtSessionOptions *so, const OrtCUDAProviderOptionsV2 *o) {
  return F(SessionOptionsAppendExecutionProvider_CUDA_V2,
           OrtStatus * (*)(OrtSessionOptions *, const OrtCUDAProviderOptionsV2 *))(so, o);
}
void gv_ReleaseCUDAProviderOptions(OrtCUDAProviderOptionsV2 *o) {
  F(ReleaseCUDAProviderOptions, void (*)(OrtCUDAProviderOptionsV2 *))(o);
}

OrtStatus *gv_CreateSession(const OrtEnv *env, const char *path, const OrtSessionOptions *o, OrtSession **out) {
  return F(CreateSession, OrtStatus * (*)(const OrtEnv *, const char *, const OrtSessionOptions *, OrtSession **))(
      env, path, o, out);
}
void gv_ReleaseSession(OrtSession *s) { F(ReleaseSession, void (*)(OrtSession *))(s); }
OrtStatus *gv_SessionGetInputCount(const OrtSession *s, size_t *n) {
  return F(SessionGetInputCount, OrtStatus * (*)(const OrtSession *, size_t *))(s, n);
}
OrtStatus *gv_SessionGetOutputCount(const OrtSession *s, size_t *n) {
  return F(SessionGetOutputCount, OrtStatus * (*)(const OrtSession *, size_t *))(s, n);
}
OrtStatus *gv_SessionGetInputTypeInfo(const OrtSession *s, size_t i, OrtTypeInfo **out) {
  return F(SessionGetInputTypeInfo, OrtStatus * (*)(const OrtSession *, size_t, OrtTypeInfo **))(s, i, out);
}
OrtStatus *gv_SessionGetOutputTypeInfo(const OrtSession *s, size_t i, OrtTypeInfo **out) {
  return F(SessionGetOutputTypeInfo, OrtStatus * (*)(const OrtSession *, size_t, OrtTypeInfo **))(s, i, out);
}

OrtStatus *gv_session_name(const OrtSession *s, int output, size_t i, char **out) {
  typedef OrtStatus *(*name_fn)(const OrtSession *, size_t, OrtAllocator *, char **);
  OrtAllocator *alloc = NULL;
  char *name = NULL;
  *out = NULL;
  OrtStatus *st = F(GetAllocatorWithDefaultOptions, OrtStatus * (*)(OrtAllocator **))(&alloc);
  if (st) return st;
  st = output ? F(SessionGetOutputName, name_fn)(s, i, alloc, &name) : F(SessionGetInputName, name_fn)(s, i, alloc, &name);
  if (st) return st;
  *out = strdup(name ? name : "");
  return F(AllocatorFree, OrtStatus * (*)(OrtAllocator *, void *))(alloc, name);
}

OrtStatus *gv_CastTypeInfoToTensorInfo(const OrtTypeInfo *t, const OrtTensorTypeAndShapeInfo **out) {
  return F(CastTypeInfoToTensorInfo, OrtStatus * (*)(const OrtTypeInfo *, const OrtTensorTypeAndShapeInfo **))(t, out);
}
OrtStatus *gv_GetTensorElementType(const OrtTensorTypeAndShapeInfo *t, int *out) {
  return F(GetTensorElementType, OrtStatus * (*)(const OrtTensorTypeAndShapeInfo *, int *))(t, out);
}
OrtStatus *gv_GetDimensionsCount(const OrtTensorTypeAndShapeInfo *t, size_t *out) {
  return F(GetDimensionsCount, OrtStatus * (*)(const OrtTensorTypeAndShapeInfo *, size_t *))(t, out);
}
OrtStatus *gv_GetDimensions(const OrtTensorTypeAndShapeInfo *t, int64_t *dims, size_t n) {
  return F(GetDimensions, OrtStatus * (*)(const OrtTensorTypeAndShapeInfo *, int64_t *, size_t))(t, dims, n);
}
OrtStatus *gv_GetSymbolicDimensions(const OrtTensorTypeAndShapeInfo *t, const char **names, size_t n) {
  return F(GetSymbolicDimensions, OrtStatus * (*)(const OrtTensorTypeAndShapeInfo *, const char **, size_t))(t, names, n);
}
OrtStatus *gv_GetTensorTypeAndShape(const OrtValue *v, OrtTensorTypeAndShapeInfo **out) {
  return F(GetTensorTypeAndShape, OrtStatus * (*)(const OrtValue *, OrtTensorTypeAndShapeInfo **))(v, out);
}
void gv_ReleaseTypeInfo(OrtTypeInfo *t) { F(ReleaseTypeInfo, void (*)(OrtTypeInfo *))(t); }
void gv_ReleaseTensorTypeAndShapeInfo(OrtTensorTypeAndShapeInfo *t) {
  F(ReleaseTensorTypeAndShapeInfo, void (*)(OrtTensorTypeAndShapeInfo *))(t);
}

OrtStatus *gv_CreateMemoryInfo(const char *name, int alloc_type, int id, int mem_type, OrtMemoryInfo **out) {
  return F(CreateMemoryInfo, OrtStatus * (*)(const char *, int, int, int, OrtMemoryInfo **))(name, alloc_type, id,
                                                                                            mem_type, out);
}
void gv_ReleaseMemoryInfo(OrtMemoryInfo *m) { F(ReleaseMemoryInfo, void (*)(OrtMemoryInfo *))(m); }
OrtStatus *gv_CreateTensorWithDataAsOrtValue(const OrtMemoryInfo *m, uintptr_t data, size_t bytes,
                                             const int64_t *shape, size_t rank, int type, OrtValue **out) {
  return F(CreateTensorWithDataAsOrtValue,
           OrtStatus * (*)(const OrtMemoryInfo *, void *, size_t, const int64_t *, size_t, int, OrtValue **))(
      m, (void *)data, bytes, shape, rank, type, out);
}
void gv_ReleaseValue(OrtValue *v) { F(ReleaseValue, void (*)(OrtValue *))(v); }

OrtStatus *gv_CreateIoBinding(OrtSession *s, OrtIoBinding **out) {
  return F(CreateIoBinding, OrtStatus * (*)(OrtSession *, OrtIoBinding **))(s, out);
}
void gv_ReleaseIoBinding(OrtIoBinding *b) { F(ReleaseIoBinding, void (*)(OrtIoBinding *))(b); }
OrtStatus *gv_BindInput(OrtIoBinding *b, const char *name, const OrtValue *v) {
  return F(BindInput, OrtStatus * (*)(OrtIoBinding *, const char *, const OrtValue *))(b, name, v);
}
OrtStatus *gv_BindOutput(OrtIoBinding *b, const char *name, const OrtValue *v) {
  return F(BindOutput, OrtStatus * (*)(OrtIoBinding *, const char *, const OrtValue *))(b, name, v);
}
OrtStatus *gv_RunWithBinding(OrtSession *s, const OrtIoBinding *b) {
  return F(RunWithBinding, OrtStatus * (*)(OrtSession *, const void *, const OrtIoBinding *))(s, NULL, b);
}
OrtStatus *gv_SynchronizeBoundOutputs(OrtIoBinding *b) {
  return F(SynchronizeBoundOutputs, OrtStatus * (*)(OrtIoBinding *))(b);
}

OrtStatus *gv_run1(OrtSession *s, const char *in_name, const OrtValue *in, const char *out_name, OrtValue **out) {
  const char *ins[1] = {in_name};
  const char *outs[1] = {out_name};
  const OrtValue *vals[1] = {in};
  *out = NULL;
  return F(Run, OrtStatus * (*)(OrtSession *, const void *, const char *const *, const OrtValue *const *, size_t,
                                const char *const *, size_t, OrtValue **))(s, NULL, ins, vals, 1, outs, 1, out);
}
