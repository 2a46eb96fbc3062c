// Package cuda is gstvision's small binding of the CUDA driver API and NVRTC, both loaded at run
// time with dlopen (libcuda.so.1, libnvrtc.so.13/.12): the program builds and runs on machines
// without a GPU or CUDA toolkit, and only fails, with ErrNoDriver or ErrNoNVRTC, when CUDA is
// actually asked for. It also holds the project's kernels, compiled at start-up for the device's
// own architecture: letterboxing NV12/I420 frames straight into a model's input tensor, drawing
// detection boxes and labels on NV12 frames, and converting float16 outputs to float32.
//
// # The context
//
// Open retains the device's primary context. That one context is shared by everything in the
// process: GStreamer's decoders (the gst package wraps Context.Handle with
// gst_cuda_context_new_wrapped), ONNX Runtime's CUDA execution provider (the CUDA runtime API
// uses the primary context) and this package's own calls. Device pointers, streams and
// modules made in it are valid for all of them. Close releases the retain; call it only after
// every pipeline and session using the context has stopped.
//
// # Threads
//
// A CUDA context is current per OS thread, and goroutines move between OS threads. So every
// call of this package that touches the device pushes the context on the calling thread, does
// its work and pops it again inside one C call, during which the goroutine cannot move: callers
// never need to make the context current themselves, any goroutine may call, and the cost is two
// cheap driver calls per operation. Code that makes several raw driver or library calls of its
// own (cgo elsewhere) in the context wraps them in Context.Do, which locks the goroutine to its
// thread and keeps the context pushed for the duration.
//
// The Context, Streams and Kernels are safe for concurrent use; the driver orders work per
// stream, so two goroutines sharing one Stream share its order. A Drawer serialises its own
// calls. Host slices passed to copies may be Go memory (the driver then completes the copy
// before returning) or pinned memory from AllocHost (truly asynchronous: do not touch it until
// the stream is synchronised).
//
// # Memory
//
// Nothing here allocates device memory per frame: callers allocate buffers once (Alloc,
// AllocHost, NewDrawer) and reuse them. Kernel parameters are marshalled in C memory for each
// launch; no Go pointer is kept by C after a call returns.
package cuda
