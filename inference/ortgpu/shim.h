// Minimal declarations for the part of the ONNX Runtime C API that ortgpu uses. ONNX Runtime's
// header is not used: its structs are opaque here, the few enum values needed are written out,
// and OrtApi, a struct of function pointers, is read as an array of pointers indexed by slot
// number (see slots.go, where the numbers live and are checked against the header).
#ifndef GSTVISION_ORTGPU_SHIM_H
#define GSTVISION_ORTGPU_SHIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtCUDAProviderOptionsV2 OrtCUDAProviderOptionsV2;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtValue OrtValue;
typedef struct OrtIoBinding OrtIoBinding;
typedef struct OrtAllocator OrtAllocator;
typedef struct OrtTypeInfo OrtTypeInfo;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;

// Our own numbering of the functions we call; slots.go maps each to its OrtApi slot.
enum {
  GV_CreateStatus,
  GV_GetErrorCode,
  GV_GetErrorMessage,
  GV_CreateEnv,
  GV_CreateSession,
  GV_Run,
  GV_CreateSessionOptions,
  GV_SetSessionGraphOptimizationLevel,
  GV_SetIntraOpNumThreads,
  GV_SessionGetInputCount,
  GV_SessionGetOutputCount,
  GV_SessionGetInputTypeInfo,
  GV_SessionGetOutputTypeInfo,
  GV_SessionGetInputName,
  GV_SessionGetOutputName,
  GV_CreateTensorWithDataAsOrtValue,
  GV_CastTypeInfoToTensorInfo,
  GV_GetTensorElementType,
  GV_GetDimensionsCount,
  GV_GetDimensions,
  GV_GetTensorTypeAndShape,
  GV_CreateMemoryInfo,
  GV_AllocatorFree,
  GV_GetAllocatorWithDefaultOptions,
  GV_ReleaseEnv,
  GV_ReleaseStatus,
  GV_ReleaseMemoryInfo,
  GV_ReleaseSession,
  GV_ReleaseValue,
  GV_ReleaseTypeInfo,
  GV_ReleaseTensorTypeAndShapeInfo,
  GV_ReleaseSessionOptions,
  GV_RunWithBinding,
  GV_CreateIoBinding,
  GV_ReleaseIoBinding,
  GV_BindInput,
  GV_BindOutput,
  GV_SynchronizeBoundOutputs,
  GV_SessionOptionsAppendExecutionProvider_CUDA_V2,
  GV_CreateCUDAProviderOptions,
  GV_UpdateCUDAProviderOptions,
  GV_ReleaseCUDAProviderOptions,
  GV_UpdateCUDAProviderOptionsWithValue,
  GV_AddFreeDimensionOverrideByName,
  GV_GetSymbolicDimensions,
  GV_NFN
};

// gv_ort_open dlopens path, asks OrtGetApiBase()->GetApi(version) and returns 0, or non-zero
// with a message in err. It may be called again only with the same path (checked in Go).
int gv_ort_open(const char *path, unsigned version, char *err, size_t errlen);
const char *gv_ort_version_string(void);
// gv_ort_bind records the function of our id at OrtApi slot.
void gv_ort_bind(int id, int slot);

OrtStatus *gv_CreateStatus(int code, const char *msg);
int gv_GetErrorCode(const OrtStatus *s);
const char *gv_GetErrorMessage(const OrtStatus *s);
void gv_ReleaseStatus(OrtStatus *s);

OrtStatus *gv_CreateEnv(int level, const char *logid, OrtEnv **out);
void gv_ReleaseEnv(OrtEnv *e);

OrtStatus *gv_CreateSessionOptions(OrtSessionOptions **out);
OrtStatus *gv_SetSessionGraphOptimizationLevel(OrtSessionOptions *o, int level);
OrtStatus *gv_SetIntraOpNumThreads(OrtSessionOptions *o, int n);
OrtStatus *gv_AddFreeDimensionOverrideByName(OrtSessionOptions *o, const char *name, int64_t value);
void gv_ReleaseSessionOptions(OrtSessionOptions *o);

OrtStatus *gv_CreateCUDAProviderOptions(OrtCUDAProviderOptionsV2 **out);
OrtStatus *gv_UpdateCUDAProviderOptions(OrtCUDAProviderOptionsV2 *o, const char *const *keys,
                                        const char *const *values, size_t n);
OrtStatus *gv_UpdateCUDAProviderOptionsWithValue(OrtCUDAProviderOptionsV2 *o, const char *key, uintptr_t value);
OrtStatus *gv_SessionOptionsAppendExecutionProvider_CUDA_V2(OrtSessionOptions *so, const OrtCUDAProviderOptionsV2 *o);
void gv_ReleaseCUDAProviderOptions(OrtCUDAProviderOptionsV2 *o);

OrtStatus *gv_CreateSession(const OrtEnv *env, const char *path, const OrtSessionOptions *o, OrtSession **out);
void gv_ReleaseSession(OrtSession *s);
OrtStatus *gv_SessionGetInputCount(const OrtSession *s, size_t *n);
OrtStatus *gv_SessionGetOutputCount(const OrtSession *s, size_t *n);
OrtStatus *gv_SessionGetInputTypeInfo(const OrtSession *s, size_t i, OrtTypeInfo **out);
OrtStatus *gv_SessionGetOutputTypeInfo(const OrtSession *s, size_t i, OrtTypeInfo **out);
// gv_session_name returns the input (output=0) or output name i in malloc'd memory (caller
// frees), having freed ONNX Runtime's copy with its default allocator.
OrtStatus *gv_session_name(const OrtSession *s, int output, size_t i, char **out);
OrtStatus *gv_CastTypeInfoToTensorInfo(const OrtTypeInfo *t, const OrtTensorTypeAndShapeInfo **out);
OrtStatus *gv_GetTensorElementType(const OrtTensorTypeAndShapeInfo *t, int *out);
OrtStatus *gv_GetDimensionsCount(const OrtTensorTypeAndShapeInfo *t, size_t *out);
OrtStatus *gv_GetDimensions(const OrtTensorTypeAndShapeInfo *t, int64_t *dims, size_t n);
// names[i] is ONNX Runtime's string, valid while t is.
OrtStatus *gv_GetSymbolicDimensions(const OrtTensorTypeAndShapeInfo *t, const char **names, size_t n);
OrtStatus *gv_GetTensorTypeAndShape(const OrtValue *v, OrtTensorTypeAndShapeInfo **out);
void gv_ReleaseTypeInfo(OrtTypeInfo *t);
void gv_ReleaseTensorTypeAndShapeInfo(OrtTensorTypeAndShapeInfo *t);

OrtStatus *gv_CreateMemoryInfo(const char *name, int alloc_type, int id, int mem_type, OrtMemoryInfo **out);
void gv_ReleaseMemoryInfo(OrtMemoryInfo *m);
OrtStatus *gv_CreateTensorWithDataAsOrtValue(const OrtMemoryInfo *m, uintptr_t data, size_t bytes,
                                             const int64_t *shape, size_t rank, int type, OrtValue **out);
void gv_ReleaseValue(OrtValue *v);

OrtStatus *gv_CreateIoBinding(OrtSession *s, OrtIoBinding **out);
void gv_ReleaseIoBinding(OrtIoBinding *b);
OrtStatus *gv_BindInput(OrtIoBinding *b, const char *name, const OrtValue *v);
OrtStatus *gv_BindOutput(OrtIoBinding *b, const char *name, const OrtValue *v);
OrtStatus *gv_RunWithBinding(OrtSession *s, const OrtIoBinding *b);
OrtStatus *gv_SynchronizeBoundOutputs(OrtIoBinding *b);
// gv_run runs with one input and lets ONNX Runtime allocate the one output (*out).
OrtStatus *gv_run1(OrtSession *s, const char *in_name, const OrtValue *in, const char *out_name, OrtValue **out);

#endif
