package inference

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/inference/ortgpu"
)

// cudaBackend runs the model on ONNX Runtime's CUDA execution provider with its input and
// output bound to device buffers it owns, so frames never leave the GPU: Fill letterboxes a
// decoded NV12/I420 frame straight from the decoder's CUDA memory into an input slot with the
// project's kernel, and Run copies only the raw output to the host (RunCandidates only the
// candidates). Preprocessing runs on a stream of the highest priority, so that a camera
// waiting for its frame's kernel is not queued behind a model run of another batch; each Fill
// waits for its kernel, so a batch's input is complete before ONNX Runtime runs it on its own
// stream (user_compute_stream). Every buffer is allocated up front (device input of all
// slots, device output, a float32 staging buffer for float16 outputs, a pinned host output,
// the candidate buffers on both sides), and every batch size runSize can pick is bound and run
// once before the first frame (warmUp), so nothing is allocated per frame.
type cudaBackend struct {
	info     ModelInfo
	ctx      *cuda.Context
	k        *cuda.Kernels  // letterbox, float16 conversion
	dk       *decodeKernels // candidates (kernels_decode.go)
	stream   *cuda.Stream   // ONNX Runtime's, and the copies back
	fill     *cuda.Stream   // preprocessing, highest priority
	worker   *cuda.Worker   // the one thread every call into the session runs on
	sess     *ortgpu.Session
	maxBatch int // slots (exactly FixedBatch for a fixed-batch model)

	inF16, outF16 bool
	slotElems     int     // input elements per slot: 3*H*W
	outTail       []int64 // output shape without the batch dimension
	perOut        int     // output elements per image

	in, out, out32 cuda.DevicePtr // out32: float32 copy of a float16 output, else 0
	host           []byte         // pinned, maxBatch*perOut float32
	hostF          []float32      // host viewed as floats

	// Decoding on the device (RunCandidates): per-image counts and records of the candidates
	// kernel, their pinned host copies, and the per-image candidate slices handed out.
	classes, anchors int
	counts, recs     cuda.DevicePtr
	hostCounts       []int32
	hostRecs         []candidateRecord
	batch            CandidateBatch // what RunCandidates returns, over hostCounts and hostRecs

	graph    bool              // runs replay a captured CUDA graph (CUDAOptions.Graph)
	bindings []*ortgpu.Binding // [n-1]: batch of n, created on first use
	shapes   [][]int64         // [n-1]: output shape of a batch of n (what Run returns)
	closed   bool
}

var (
	_ CandidateBackend = (*cudaBackend)(nil)
	_ ConcurrentFiller = (*cudaBackend)(nil)
)

// CUDAOptions tune a CUDA backend.
type CUDAOptions struct {
	// Graph runs the model as a captured CUDA graph (ONNX Runtime's enable_cuda_graph): one
	// launch a run instead of one per kernel (about 250 for YOLOv8n), so a run no longer
	// queues its launches behind those of every camera's thread. A dynamic batch is fixed at
	// maxBatch and every run covers all slots. Create such a backend while no other thread
	// uses CUDA: the capture (in warm-up) fails if another thread allocates or waits meanwhile.
	Graph bool
}

// NewCUDABackend creates a backend on ctx's device for the model described by info (from
// Inspect) with maxBatch input slots (a model with a fixed batch dimension gets exactly that
// many, as on the CPU). It initialises ONNX Runtime if needed, compiles the kernels, and fails
// with an error wrapping ortgpu.ErrCUDAProviderUnavailable when ONNX Runtime's CUDA provider
// cannot run: it never falls back to the CPU. The caller keeps ctx open until Close.
func NewCUDABackend(info ModelInfo, maxBatch int, ctx *cuda.Context, opts CUDAOptions) (Backend, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: cuda backend needs a CUDA context", ErrRuntimeInit)
	}
	if info.InputW <= 0 || info.InputH <= 0 || info.InputName == "" || info.OutputName == "" {
		return nil, fmt.Errorf("%w: %s: model info is incomplete (use Inspect)", ErrBadModel, info.Path)
	}
	if info.FixedBatch > 0 {
		maxBatch = info.FixedBatch
	}
	if maxBatch < 1 {
		return nil, fmt.Errorf("%w: max batch %d", ErrBatch, maxBatch)
	}
	fixBatch := 0
	if opts.Graph && info.FixedBatch == 0 {
		// A graph is captured for one shape: the session and every run get maxBatch.
		fixBatch, info.FixedBatch = maxBatch, maxBatch
	}
	if _, err := InitRuntime(""); err != nil {
		return nil, err
	}
	if err := ortgpu.Open(RuntimeLibraryPath()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRuntimeInit, err)
	}
	b := &cudaBackend{
		info: info, ctx: ctx, maxBatch: maxBatch,
		inF16: info.InputFloat16, outF16: info.OutputFloat16,
		slotElems: 3 * info.InputW * info.InputH,
		bindings:  make([]*ortgpu.Binding, maxBatch),
		shapes:    make([][]int64, maxBatch),
		graph:     opts.Graph,
	}
	if err := b.setup(fixBatch); err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: cuda backend: %w", info.Path, err)
	}
	return b, nil
}

func (b *cudaBackend) setup(fixBatch int) error {
	var err error
	if b.k, err = b.ctx.Kernels(); err != nil {
		return err
	}
	if b.dk, err = loadDecodeKernels(b.ctx); err != nil {
		return err
	}
	if b.stream, err = b.ctx.NewStream(); err != nil {
		return err
	}
	if b.fill, err = b.ctx.NewUrgentStream(); err != nil {
		return err
	}
	// ONNX Runtime's CUDA provider keeps cuBLAS/cuDNN handles and workspaces per calling
	// thread: run the session on one thread only, or GPU memory grows with each OS thread the
	// calling goroutine happens to land on.
	if b.worker, err = b.ctx.NewWorker(); err != nil {
		return err
	}
	b.sess, err = ortgpu.NewSession(b.info.Path, ortgpu.SessionOptions{
		Device: b.ctx.Device(), Stream: b.stream.Handle(), Threads: 1, Do: b.worker.Do,
		FixBatch: int64(fixBatch), CUDAGraph: b.graph,
	})
	if err != nil {
		return err
	}
	var outDecl ortgpu.TensorInfo
	for _, o := range b.sess.Outputs {
		if o.Name == b.info.OutputName {
			outDecl = o
		}
	}
	if outDecl.Name == "" || len(outDecl.Shape) < 2 {
		return fmt.Errorf("%w: session has no output %q with a batch dimension (outputs %+v)", ErrBadModel, b.info.OutputName, b.sess.Outputs)
	}
	if outDecl.Float16() != b.outF16 {
		return fmt.Errorf("%w: output %q float16=%v in the session, %v in the model info", ErrBadModel, outDecl.Name, outDecl.Float16(), b.outF16)
	}

	inBytes := b.maxBatch * b.slotElems * elemSize(b.inF16)
	if b.in, err = b.ctx.Alloc(inBytes); err != nil {
		return err
	}
	// Slots not filled yet (a fixed-batch model runs them all) hold zeros, not the CPU
	// backend's grey; their outputs are meaningless either way.
	if err := b.stream.Memset(b.in, 0, inBytes); err != nil {
		return err
	}
	if err := b.stream.Synchronize(); err != nil {
		return err
	}

	b.outTail = append([]int64(nil), outDecl.Shape[1:]...)
	if !allPositive(b.outTail) {
		// A symbolic non-batch dimension: run once with ONNX Runtime allocating the output to
		// learn it (the input size is fixed, so it does not change afterwards).
		n := int64(1)
		if b.info.FixedBatch > 0 {
			n = int64(b.info.FixedBatch)
		}
		shape, err := b.sess.ProbeOutputShape(b.inputTensor(int(n)), b.info.OutputName)
		if err != nil {
			return err
		}
		if len(shape) != len(outDecl.Shape) || !allPositive(shape) {
			return fmt.Errorf("%w: output %q has shape %v for a batch of %d", ErrBadOutput, b.info.OutputName, shape, n)
		}
		b.outTail = shape[1:]
	}
	b.perOut = 1
	for _, d := range b.outTail {
		b.perOut *= int(d)
	}
	for n := range b.shapes {
		b.shapes[n] = append([]int64{int64(n + 1)}, b.outTail...)
	}
	outElems := b.maxBatch * b.perOut
	if b.out, err = b.ctx.Alloc(outElems * elemSize(b.outF16)); err != nil {
		return err
	}
	if b.outF16 {
		if b.out32, err = b.ctx.Alloc(outElems * 4); err != nil {
			return err
		}
	}
	if b.host, err = b.ctx.AllocHost(outElems * 4); err != nil {
		return err
	}
	b.hostF = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b.host))), outElems)
	if err := b.setupCandidates(); err != nil {
		return err
	}
	return b.warmUp()
}

// setupCandidates sizes the device decoding buffers: room for every anchor of every image, so
// the kernel never overflows (8,400 anchors × 32 images × 32 bytes = 8.6 MB each side).
func (b *cudaBackend) setupCandidates() error {
	if len(b.outTail) != 2 {
		return nil // not a detector output RunCandidates can read; Run still works
	}
	switch b.info.Layout {
	case LayoutYOLOv8:
		b.classes, b.anchors = int(b.outTail[0])-4, int(b.outTail[1])
	case LayoutYOLOv5:
		b.anchors, b.classes = int(b.outTail[0]), int(b.outTail[1])-5
	default:
		return nil
	}
	if b.classes < 1 || b.anchors < 1 {
		b.classes, b.anchors = 0, 0
		return nil
	}
	recBytes := b.maxBatch * b.anchors * candidateWords * 4
	var err error
	if b.counts, err = b.ctx.Alloc(b.maxBatch * 4); err != nil {
		return err
	}
	if b.recs, err = b.ctx.Alloc(recBytes); err != nil {
		return err
	}
	hc, err := b.ctx.AllocHost(b.maxBatch * 4)
	if err != nil {
		return err
	}
	b.hostCounts = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(hc))), b.maxBatch)
	hr, err := b.ctx.AllocHost(recBytes)
	if err != nil {
		return err
	}
	b.hostRecs = unsafe.Slice((*candidateRecord)(unsafe.Pointer(unsafe.SliceData(hr))), b.maxBatch*b.anchors)
	return nil
}

func elemSize(f16 bool) int {
	if f16 {
		return 2
	}
	return 4
}

func allPositive(s []int64) bool {
	for _, d := range s {
		if d <= 0 {
			return false
		}
	}
	return len(s) > 0
}

func (b *cudaBackend) inputTensor(n int) ortgpu.DeviceTensor {
	return ortgpu.DeviceTensor{
		Name: b.info.InputName, Ptr: uintptr(b.in), Float16: b.inF16,
		Shape: []int64{int64(n), 3, int64(b.info.InputH), int64(b.info.InputW)},
	}
}

func (b *cudaBackend) MaxBatch() int { return b.maxBatch }

// Fill letterboxes a frame in CUDA memory (NV12 from nvh264dec, or I420) into slot. It waits
// for the kernel to finish, so the frame may go back to the decoder as soon as Fill returns.
func (b *cudaBackend) Fill(slot int, f *defs.Frame, lb Letterbox) error {
	if b.closed {
		return fmt.Errorf("cuda backend %w", defs.ErrClosed)
	}
	if slot < 0 || slot >= b.maxBatch {
		return fmt.Errorf("%w: slot %d of %d", ErrBatch, slot, b.maxBatch)
	}
	if f == nil || !f.OnDevice() {
		return fmt.Errorf("%w: the cuda backend needs frames in CUDA memory (decoded by nvh264dec into the shared context), got a host frame", ErrBadFrame)
	}
	if lb.DstW != b.info.InputW || lb.DstH != b.info.InputH {
		return fmt.Errorf("%w: letterbox to %dx%d, model input is %dx%d", ErrBadFrame, lb.DstW, lb.DstH, b.info.InputW, b.info.InputH)
	}
	if f.Width != lb.SrcW || f.Height != lb.SrcH {
		return fmt.Errorf("%w: frame is %dx%d, letterbox is for %dx%d", ErrBadFrame, f.Width, f.Height, lb.SrcW, lb.SrcH)
	}
	img := cuda.Image{Width: f.Width, Height: f.Height}
	switch f.Format {
	case defs.NV12:
		img.Format = cuda.NV12
	case defs.I420:
		img.Format = cuda.I420
	default:
		return fmt.Errorf("%w: pixel format %v", ErrBadFrame, f.Format)
	}
	for i := range 3 {
		img.Planes[i] = cuda.DevicePtr(f.Device[i])
		img.Pitches[i] = f.Strides[i]
	}
	p := cuda.LetterboxParams{DstW: lb.DstW, DstH: lb.DstH, PadX: lb.PadX, PadY: lb.PadY, NewW: lb.NewW, NewH: lb.NewH, Pad: PadValue}
	if err := b.k.Letterbox(b.fill, img, b.in, slot, p, b.inF16); err != nil {
		if errors.Is(err, cuda.ErrInvalidArgument) {
			return fmt.Errorf("%w: %w", ErrBadFrame, err)
		}
		return err
	}
	return b.fill.Synchronize()
}

// ConcurrentFill: Fill may run from several goroutines for distinct slots. Each launch is
// queued on the fill stream (the driver is thread-safe) and each Fill waits for the stream,
// which covers its own kernel.
func (b *cudaBackend) ConcurrentFill() bool { return true }

// binding returns the IoBinding for a batch of n, creating it on first use.
func (b *cudaBackend) binding(n int) (*ortgpu.Binding, error) {
	if bd := b.bindings[n-1]; bd != nil {
		return bd, nil
	}
	shape := append([]int64{int64(n)}, b.outTail...)
	bd, err := b.sess.Bind(b.inputTensor(n), ortgpu.DeviceTensor{
		Name: b.info.OutputName, Ptr: uintptr(b.out), Shape: shape, Float16: b.outF16,
	})
	if err != nil {
		return nil, err
	}
	b.bindings[n-1] = bd
	return bd, nil
}

// runSize is the batch actually run for n filled slots: 1, 2, 4, then the next multiple of
// 4, at most maxBatch (a fixed-batch model always runs all its slots). ONNX Runtime's device
// arena grows for each new input shape it meets; with these few sizes, all run once at
// start-up (warmUp), GPU memory is as large after the first frame as after months. The at
// most 3 extra slots hold stale frames whose outputs nobody reads.
func (b *cudaBackend) runSize(n int) int {
	if b.info.FixedBatch > 0 {
		return b.info.FixedBatch
	}
	s := 1
	for s < n && s < 4 {
		s *= 2
	}
	if n > 4 {
		s = (n + 3) / 4 * 4
	}
	return min(s, b.maxBatch)
}

// graphWarmUpRuns: ONNX Runtime's CUDA provider runs a session normally twice (sizing its
// arena), captures the graph on the third run and replays it from then on; the fourth run is
// the first plain replay.
const graphWarmUpRuns = 4

// warmUp runs every batch size runSize can pick once (on the zeroed input), so that ONNX
// Runtime sizes its arena and picks its kernels before the first frame; with a CUDA graph,
// until the graph is captured and replayed.
func (b *cudaBackend) warmUp() error {
	if b.graph {
		for range graphWarmUpRuns {
			if _, err := b.infer(b.maxBatch); err != nil {
				return fmt.Errorf("warming up the CUDA graph: %w", err)
			}
		}
		return b.stream.Synchronize()
	}
	for _, size := range b.runSizes() {
		if _, err := b.infer(size); err != nil {
			return fmt.Errorf("warming up: %w", err)
		}
	}
	return b.stream.Synchronize()
}

// runSizes lists every batch size runSize can pick, in increasing order.
func (b *cudaBackend) runSizes() []int {
	var sizes []int
	for n := 1; n <= b.maxBatch; n++ {
		if size := b.runSize(n); len(sizes) == 0 || size != sizes[len(sizes)-1] {
			sizes = append(sizes, size) // runSize never decreases in n
		}
	}
	return sizes
}

// Run runs slots [0, n) (all slots for a fixed-batch model). The returned slice is the
// backend's pinned output buffer and the shape is shared: both are valid until the next Run
// and must not be modified.
func (b *cudaBackend) Run(n int) ([]float32, []int64, error) {
	if b.closed {
		return nil, nil, fmt.Errorf("cuda backend %w", defs.ErrClosed)
	}
	if n < 1 || n > b.maxBatch {
		return nil, nil, fmt.Errorf("%w: batch of %d, max %d", ErrBatch, n, b.maxBatch)
	}
	n, err := b.infer(n)
	if err != nil {
		return nil, nil, err
	}
	count := n * b.perOut
	src := b.out
	if b.outF16 {
		if err := b.k.HalfToFloat(b.stream, b.out32, b.out, count); err != nil {
			return nil, nil, err
		}
		src = b.out32
	}
	if err := b.stream.CopyDtoH(b.host[:count*4], src); err != nil {
		return nil, nil, err
	}
	if err := b.stream.Synchronize(); err != nil {
		return nil, nil, err
	}
	return b.hostF[:count], b.shapes[n-1], nil
}

// infer runs the model on slots [0, runSize(n)) into the device output and returns the number
// of images whose output is wanted: n, or all the slots of a fixed-batch model.
func (b *cudaBackend) infer(n int) (int, error) {
	size := b.runSize(n)
	bd, err := b.binding(size)
	if err != nil {
		return 0, fmt.Errorf("%s: binding a batch of %d: %w", b.info.Path, size, err)
	}
	if err := bd.Run(); err != nil {
		return 0, fmt.Errorf("%s: run batch of %d: %w", b.info.Path, size, err)
	}
	if b.info.FixedBatch > 0 {
		return size, nil
	}
	return n, nil
}

// RunCandidates runs slots [0, n) and thresholds on the GPU (decodeKernels.candidates): only
// the per-image counts and the passing anchors' records are copied back, for the n images
// asked for (a fixed-batch run covers more slots; the others hold stale frames).
func (b *cudaBackend) RunCandidates(n int, layout Layout, conf float32) (*CandidateBatch, error) {
	if b.closed {
		return nil, fmt.Errorf("cuda backend %w", defs.ErrClosed)
	}
	if n < 1 || n > b.maxBatch {
		return nil, fmt.Errorf("%w: batch of %d, max %d", ErrBatch, n, b.maxBatch)
	}
	if b.anchors == 0 || layout != b.info.Layout {
		return nil, fmt.Errorf("%w: %s: output %v cannot be decoded on the GPU as %v", ErrBadOutput, b.info.Path, b.outTail, layout)
	}
	if _, err := b.infer(n); err != nil {
		return nil, err
	}
	p := candidateParams{layout: layout, half: b.outF16, images: n, classes: b.classes, anchors: b.anchors, conf: conf}
	if err := b.dk.candidates(b.stream, b.out, p, b.counts, b.recs); err != nil {
		return nil, err
	}
	if err := b.stream.CopyDtoH(int32Bytes(b.hostCounts[:n]), b.counts); err != nil {
		return nil, err
	}
	if err := b.stream.Synchronize(); err != nil {
		return nil, err
	}
	const recSize = int(unsafe.Sizeof(candidateRecord{}))
	for i, c := range b.hostCounts[:n] {
		if c < 0 || int(c) > b.anchors {
			return nil, fmt.Errorf("%w: GPU decoding counted %d candidates for image %d of %d anchors", ErrBadOutput, c, i, b.anchors)
		}
		if c == 0 {
			continue
		}
		region := b.hostRecs[i*b.anchors : i*b.anchors+int(c)]
		dst := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(region))), len(region)*recSize)
		if err := b.stream.CopyDtoH(dst, b.recs+cuda.DevicePtr(i*b.anchors*recSize)); err != nil {
			return nil, err
		}
	}
	if err := b.stream.Synchronize(); err != nil {
		return nil, err
	}
	b.batch = CandidateBatch{counts: b.hostCounts[:n], recs: b.hostRecs, anchors: b.anchors}
	return &b.batch, nil
}

func int32Bytes(s []int32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*4)
}

// Close releases the session, bindings, stream and buffers (not the context); later calls fail
// with [defs.ErrClosed]. It waits for queued work first.
func (b *cudaBackend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if b.stream != nil {
		keep(b.stream.Synchronize())
	}
	for _, bd := range b.bindings {
		if bd != nil {
			keep(bd.Close())
		}
	}
	if b.sess != nil {
		keep(b.sess.Close())
	}
	if b.worker != nil {
		b.worker.Close()
	}
	keep(b.ctx.Free(b.in))
	keep(b.ctx.Free(b.out))
	keep(b.ctx.Free(b.out32))
	keep(b.ctx.FreeHost(b.host))
	keep(b.ctx.Free(b.counts))
	keep(b.ctx.Free(b.recs))
	if b.hostCounts != nil {
		keep(b.ctx.FreeHost(int32Bytes(b.hostCounts)))
	}
	if b.hostRecs != nil {
		keep(b.ctx.FreeHost(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b.hostRecs))), len(b.hostRecs)*int(unsafe.Sizeof(candidateRecord{})))))
	}
	if b.stream != nil {
		keep(b.stream.Destroy())
	}
	if b.fill != nil {
		keep(b.fill.Synchronize())
		keep(b.fill.Destroy())
	}
	b.hostF, b.hostCounts, b.hostRecs = nil, nil, nil
	return first
}
