package ortgpu

/*
#include "shim.h"
*/
import "C"

// OrtApi slot numbers: the position (0-based, in units of one function pointer) of each
// function in struct OrtApi of onnxruntime_c_api.h. The struct only ever grows at its end, so
// a slot number, once a function exists, never changes across ONNX Runtime versions; every
// function here exists in C API version APIVersion. Derived from the header shipped with
// github.com/yalue/onnxruntime_go v1.27.0 (C API 24) by offsetof, and re-derived from that
// header by TestSlotsMatchHeader whenever the module cache has it. Cross-checked with ortbench.
const (
	slotCreateStatus                                  = 0
	slotGetErrorCode                                  = 1
	slotGetErrorMessage                               = 2
	slotCreateEnv                                     = 3
	slotCreateSession                                 = 7
	slotRun                                           = 9
	slotCreateSessionOptions                          = 10
	slotSetSessionGraphOptimizationLevel              = 23
	slotSetIntraOpNumThreads                          = 24
	slotSessionGetInputCount                          = 30
	slotSessionGetOutputCount                         = 31
	slotSessionGetInputTypeInfo                       = 33
	slotSessionGetOutputTypeInfo                      = 34
	slotSessionGetInputName                           = 36
	slotSessionGetOutputName                          = 37
	slotCreateTensorWithDataAsOrtValue                = 49
	slotCastTypeInfoToTensorInfo                      = 55
	slotGetTensorElementType                          = 60
	slotGetDimensionsCount                            = 61
	slotGetDimensions                                 = 62
	slotGetSymbolicDimensions                         = 63
	slotGetTensorTypeAndShape                         = 65
	slotCreateMemoryInfo                              = 68
	slotAllocatorFree                                 = 76
	slotGetAllocatorWithDefaultOptions                = 78
	slotReleaseEnv                                    = 92
	slotReleaseStatus                                 = 93
	slotReleaseMemoryInfo                             = 94
	slotReleaseSession                                = 95
	slotReleaseValue                                  = 96
	slotReleaseTypeInfo                               = 98
	slotReleaseTensorTypeAndShapeInfo                 = 99
	slotReleaseSessionOptions                         = 100
	slotAddFreeDimensionOverrideByName                = 124
	slotRunWithBinding                                = 133
	slotCreateIoBinding                               = 134
	slotReleaseIoBinding                              = 135
	slotBindInput                                     = 136
	slotBindOutput                                    = 137
	slotSynchronizeBoundOutputs                       = 203
	slotSessionOptionsAppendExecutionProvider_CUDA_V2 = 204
	slotCreateCUDAProviderOptions                     = 205
	slotUpdateCUDAProviderOptions                     = 206
	slotReleaseCUDAProviderOptions                    = 208
	slotUpdateCUDAProviderOptionsWithValue            = 263
)

// apiSlot ties one function's name (as in OrtApi), the shim's id for it and its slot.
type apiSlot struct {
	name string
	id   C.int
	slot int
}

// apiSlots lists every OrtApi function the shim calls.
var apiSlots = []apiSlot{
	{"CreateStatus", C.GV_CreateStatus, slotCreateStatus},
	{"GetErrorCode", C.GV_GetErrorCode, slotGetErrorCode},
	{"GetErrorMessage", C.GV_GetErrorMessage, slotGetErrorMessage},
	{"CreateEnv", C.GV_CreateEnv, slotCreateEnv},
	{"CreateSession", C.GV_CreateSession, slotCreateSession},
	{"Run", C.GV_Run, slotRun},
	{"CreateSessionOptions", C.GV_CreateSessionOptions, slotCreateSessionOptions},
	{"SetSessionGraphOptimizationLevel", C.GV_SetSessionGraphOptimizationLevel, slotSetSessionGraphOptimizationLevel},
	{"SetIntraOpNumThreads", C.GV_SetIntraOpNumThreads, slotSetIntraOpNumThreads},
	{"SessionGetInputCount", C.GV_SessionGetInputCount, slotSessionGetInputCount},
	{"SessionGetOutputCount", C.GV_SessionGetOutputCount, slotSessionGetOutputCount},
	{"SessionGetInputTypeInfo", C.GV_SessionGetInputTypeInfo, slotSessionGetInputTypeInfo},
	{"SessionGetOutputTypeInfo", C.GV_SessionGetOutputTypeInfo, slotSessionGetOutputTypeInfo},
	{"SessionGetInputName", C.GV_SessionGetInputName, slotSessionGetInputName},
	{"SessionGetOutputName", C.GV_SessionGetOutputName, slotSessionGetOutputName},
	{"CreateTensorWithDataAsOrtValue", C.GV_CreateTensorWithDataAsOrtValue, slotCreateTensorWithDataAsOrtValue},
	{"CastTypeInfoToTensorInfo", C.GV_CastTypeInfoToTensorInfo, slotCastTypeInfoToTensorInfo},
	{"GetTensorElementType", C.GV_GetTensorElementType, slotGetTensorElementType},
	{"GetDimensionsCount", C.GV_GetDimensionsCount, slotGetDimensionsCount},
	{"GetDimensions", C.GV_GetDimensions, slotGetDimensions},
	{"GetSymbolicDimensions", C.GV_GetSymbolicDimensions, slotGetSymbolicDimensions},
	{"GetTensorTypeAndShape", C.GV_GetTensorTypeAndShape, slotGetTensorTypeAndShape},
	{"CreateMemoryInfo", C.GV_CreateMemoryInfo, slotCreateMemoryInfo},
	{"AllocatorFree", C.GV_AllocatorFree, slotAllocatorFree},
	{"GetAllocatorWithDefaultOptions", C.GV_GetAllocatorWithDefaultOptions, slotGetAllocatorWithDefaultOptions},
	{"ReleaseEnv", C.GV_ReleaseEnv, slotReleaseEnv},
	{"ReleaseStatus", C.GV_ReleaseStatus, slotReleaseStatus},
	{"ReleaseMemoryInfo", C.GV_ReleaseMemoryInfo, slotReleaseMemoryInfo},
	{"ReleaseSession", C.GV_ReleaseSession, slotReleaseSession},
	{"ReleaseValue", C.GV_ReleaseValue, slotReleaseValue},
	{"ReleaseTypeInfo", C.GV_ReleaseTypeInfo, slotReleaseTypeInfo},
	{"ReleaseTensorTypeAndShapeInfo", C.GV_ReleaseTensorTypeAndShapeInfo, slotReleaseTensorTypeAndShapeInfo},
	{"ReleaseSessionOptions", C.GV_ReleaseSessionOptions, slotReleaseSessionOptions},
	{"AddFreeDimensionOverrideByName", C.GV_AddFreeDimensionOverrideByName, slotAddFreeDimensionOverrideByName},
	{"RunWithBinding", C.GV_RunWithBinding, slotRunWithBinding},
	{"CreateIoBinding", C.GV_CreateIoBinding, slotCreateIoBinding},
	{"ReleaseIoBinding", C.GV_ReleaseIoBinding, slotReleaseIoBinding},
	{"BindInput", C.GV_BindInput, slotBindInput},
	{"BindOutput", C.GV_BindOutput, slotBindOutput},
	{"SynchronizeBoundOutputs", C.GV_SynchronizeBoundOutputs, slotSynchronizeBoundOutputs},
	{"SessionOptionsAppendExecutionProvider_CUDA_V2", C.GV_SessionOptionsAppendExecutionProvider_CUDA_V2, slotSessionOptionsAppendExecutionProvider_CUDA_V2},
	{"CreateCUDAProviderOptions", C.GV_CreateCUDAProviderOptions, slotCreateCUDAProviderOptions},
	{"UpdateCUDAProviderOptions", C.GV_UpdateCUDAProviderOptions, slotUpdateCUDAProviderOptions},
	{"ReleaseCUDAProviderOptions", C.GV_ReleaseCUDAProviderOptions, slotReleaseCUDAProviderOptions},
	{"UpdateCUDAProviderOptionsWithValue", C.GV_UpdateCUDAProviderOptionsWithValue, slotUpdateCUDAProviderOptionsWithValue},
}

// numShimFunctions is the number of functions the shim knows (GV_NFN).
const numShimFunctions = int(C.GV_NFN)
