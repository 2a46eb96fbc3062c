package ortgpu

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

// cAlloc returns n bytes of zeroed C memory (for host tensors in tests: ONNX Runtime keeps the
// data pointer, which must therefore not be Go memory) as an address and a slice over it.
func cAlloc(n int) (uintptr, []byte) {
	p := C.calloc(C.size_t(n), 1)
	return uintptr(p), unsafe.Slice((*byte)(p), n)
}

// cFree frees memory from cAlloc.
func cFree(b []byte) { C.free(unsafe.Pointer(unsafe.SliceData(b))) }
