package inference

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
// slots, a DETR model's orig_target_sizes filled once, device outputs, float32 staging
// buffers for float16 outputs, pinned host outputs, the candidate buffers on both sides), and
// every batch size runSize can pick is bound and run once before the first frame (warmUp), so
// nothing is allocated per frame.
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
	slotElems     int // input elements per slot: 3*H*W

	in    cuda.DevicePtr
	sizes cuda.DevicePtr // DETR's orig_target_sizes, maxBatch rows of sizeFeed, else 0
	outs  []*cudaOutput  // the layout's outputs (ModelInfo.Outputs order)
	res   []Tensor       // what RunOutputs returns

	// Decoding on the device (RunCandidates): per-image counts and records of the candidates
	// kernel, their pinned host copies, and the per-image candidate slices handed out.
	classes, anchors int
	counts, recs     cuda.DevicePtr
	hostCounts       []int32
	hostRecs         []candidateRecord
	batch            CandidateBatch // what RunCandidates returns, over hostCounts and hostRecs

	graph    bool              // runs replay a captured CUDA graph (CUDAOptions.Graph)
	bindings []*ortgpu.Binding // [n-1]: batch of n, created on first use
	closed   bool
}

var (
	_ CandidateBackend = (*cudaBackend)(nil)
	_ OutputsBackend   = (*cudaBackend)(nil)
	_ ConcurrentFiller = (*cudaBackend)(nil)
)

// cudaOutput is one bound output: its device buffer as the model writes it, a float32 copy
// for float16, and pinned host memory it is copied back into (float32 values, or the raw
// integers of an integer output, converted into conv on the host).
type cudaOutput struct {
	spec   TensorSpec
	tail   []int64 // shape without the batch dimension
	per    int     // elements per image
	dev    cuda.DevicePtr
	dev32  cuda.DevicePtr // float32 copy of a float16 output, else 0
	host   []byte         // pinned, maxBatch*per elements of 4 (float32, int32) or 8 (int64) bytes
	hostF  []float32      // host as floats (float outputs)
	conv   []float32      // integer outputs converted
	shapes [][]int64      // [n-1]: shape for a batch of n
}

func (o *cudaOutput) integer() bool { return o.spec.Type == ElemInt64 || o.spec.Type == ElemInt32 }

// elem is the output's ONNX element type for binding.
func (o *cudaOutput) elem() int { return int(o.spec.Type) }

// hostElem is the size of one element in host (and, for integers, device) memory.
func (o *cudaOutput) hostElem() int {
	if o.spec.Type == ElemInt64 {
		return 8
	}
	return 4
}

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
	inBytes := b.maxBatch * b.slotElems * elemSize(b.inF16)
	if b.in, err = b.ctx.Alloc(inBytes); err != nil {
		return err
	}
	// Slots not filled yet (a fixed-batch model runs them all) hold zeros, not the CPU
	// backend's grey; their outputs are meaningless either way.
	if err := b.stream.Memset(b.in, 0, inBytes); err != nil {
		return err
	}
	if err := b.setupSizes(); err != nil {
		return err
	}
	if err := b.stream.Synchronize(); err != nil {
		return err
	}
	for i, spec := range b.info.outputSpecs() {
		o, err := b.setupOutput(i, spec)
		if err != nil {
			return err
		}
		b.outs = append(b.outs, o)
	}
	b.res = make([]Tensor, len(b.outs))
	b.outF16 = b.outs[0].spec.Type == ElemFloat16
	if err := b.setupCandidates(); err != nil {
		return err
	}
	return b.warmUp()
}

// setupSizes allocates a DETR model's orig_target_sizes buffer and fills every row with
// sizeFeed once: the bound address and its contents never change, so a captured CUDA graph
// replays with the right sizes.
func (b *cudaBackend) setupSizes() error {
	if b.info.SizeInput.Name == "" {
		return nil
	}
	w, h := b.info.sizeFeed()
	var host []byte
	for range b.maxBatch {
		switch b.info.SizeInput.Type {
		case ElemInt64:
			host = binary.LittleEndian.AppendUint64(host, uint64(w))
			host = binary.LittleEndian.AppendUint64(host, uint64(h))
		case ElemInt32:
			host = binary.LittleEndian.AppendUint32(host, uint32(w))
			host = binary.LittleEndian.AppendUint32(host, uint32(h))
		default:
			host = binary.LittleEndian.AppendUint32(host, math.Float32bits(float32(w)))
			host = binary.LittleEndian.AppendUint32(host, math.Float32bits(float32(h)))
		}
	}
	var err error
	if b.sizes, err = b.ctx.Alloc(len(host)); err != nil {
		return err
	}
	// CopyHtoD from Go memory: the stream is synchronised right after (setup), before host
	// can move or go.
	return b.stream.CopyHtoD(b.sizes, host)
}

// setupOutput checks output i against the session and allocates its buffers. A symbolic
// non-batch dimension is learnt by one probe run (single-input, single-output models only).
func (b *cudaBackend) setupOutput(i int, spec TensorSpec) (*cudaOutput, error) {
	var decl ortgpu.TensorInfo
	for _, o := range b.sess.Outputs {
		if o.Name == spec.Name {
			decl = o
		}
	}
	if decl.Name == "" || len(decl.Shape) < 2 {
		return nil, fmt.Errorf("%w: session has no output %q with a batch dimension (outputs %+v)", ErrBadModel, spec.Name, b.sess.Outputs)
	}
	if decl.ElemType != int(spec.Type) {
		return nil, fmt.Errorf("%w: output %q has element type %d in the session, %s in the model info", ErrBadModel, decl.Name, decl.ElemType, spec.Type)
	}
	o := &cudaOutput{spec: spec, tail: append([]int64(nil), decl.Shape[1:]...)}
	if !allPositive(o.tail) && len(spec.Dims) == len(decl.Shape) && allPositive(spec.Dims[1:]) {
		o.tail = append([]int64(nil), spec.Dims[1:]...) // probed by Inspect (probeOutputs)
	}
	if !allPositive(o.tail) {
		if i > 0 || len(b.sess.Outputs) > 1 || b.sizes != 0 {
			return nil, fmt.Errorf("%w: output %q has shape %v: the cuda backend needs the non-batch dimensions of a model of several inputs or outputs fixed",
				ErrBadOutput, spec.Name, decl.Shape)
		}
		// Run once with ONNX Runtime allocating the output to learn it (the input size is
		// fixed, so it does not change afterwards).
		n := int64(1)
		if b.info.FixedBatch > 0 {
			n = int64(b.info.FixedBatch)
		}
		shape, err := b.sess.ProbeOutputShape(b.inputTensor(int(n)), spec.Name)
		if err != nil {
			return nil, err
		}
		if len(shape) != len(decl.Shape) || !allPositive(shape) {
			return nil, fmt.Errorf("%w: output %q has shape %v for a batch of %d", ErrBadOutput, spec.Name, shape, n)
		}
		o.tail = shape[1:]
	}
	o.per = 1
	for _, d := range o.tail {
		o.per *= int(d)
	}
	for n := 1; n <= b.maxBatch; n++ {
		o.shapes = append(o.shapes, append([]int64{int64(n)}, o.tail...))
	}
	elems := b.maxBatch * o.per
	var err error
	switch {
	case o.spec.Type == ElemFloat16:
		if o.dev, err = b.ctx.Alloc(elems * 2); err == nil {
			o.dev32, err = b.ctx.Alloc(elems * 4)
		}
	default:
		o.dev, err = b.ctx.Alloc(elems * o.hostElem())
	}
	if err != nil {
		return nil, err
	}
	if o.host, err = b.ctx.AllocHost(elems * o.hostElem()); err != nil {
		return nil, err
	}
	if o.integer() {
		o.conv = make([]float32, elems)
	} else {
		o.hostF = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(o.host))), elems)
	}
	return o, nil
}

// setupCandidates sizes the device decoding buffers: room for every anchor of every image, so
// the kernel never overflows (8,400 anchors × 32 images × 32 bytes = 8.6 MB each side).
func (b *cudaBackend) setupCandidates() error {
	tail := b.outs[0].tail
	if len(tail) != 2 {
		return nil // not a detector output RunCandidates can read; Run still works
	}
	switch b.info.Layout {
	case LayoutYOLOv8:
		b.classes, b.anchors = int(tail[0])-4, int(tail[1])
	case LayoutYOLOv5:
		b.anchors, b.classes = int(tail[0]), int(tail[1])-5
	case LayoutYOLONAS:
		// Many anchors: thresholded on the GPU like YOLOv8's.
		if len(b.outs) != 2 || len(b.outs[1].tail) != 2 || tail[1] != 4 || b.outs[1].tail[0] != tail[0] ||
			b.outs[0].spec.Type != b.outs[1].spec.Type {
			return nil
		}
		b.anchors, b.classes = int(tail[0]), int(b.outs[1].tail[1])
	default:
		return nil // the 300-row layouts come back whole (RunOutputs) and finish on the host
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
	if b.info.Preprocess == PreStretchImageNet {
		// RF-DETR: ImageNet mean/std on the slot just written, same stream, before the wait.
		if err := b.dk.normalize(b.fill, b.in, slot, b.info.InputW*b.info.InputH, b.inF16); err != nil {
			return err
		}
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
	ins := []ortgpu.DeviceTensor{b.inputTensor(n)}
	if b.sizes != 0 {
		ins = append(ins, ortgpu.DeviceTensor{
			Name: b.info.SizeInput.Name, Ptr: uintptr(b.sizes), Shape: []int64{int64(n), 2}, Elem: int(b.info.SizeInput.Type),
		})
	}
	var outs []ortgpu.DeviceTensor
	for _, o := range b.outs {
		outs = append(outs, ortgpu.DeviceTensor{Name: o.spec.Name, Ptr: uintptr(o.dev), Shape: o.shapes[n-1], Elem: o.elem()})
	}
	bd, err := b.sess.BindAll(ins, outs)
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

// Run runs slots [0, n) (all slots for a fixed-batch model) and returns the first output.
// The returned slice is the backend's pinned output buffer and the shape is shared: both are
// valid until the next Run and must not be modified.
func (b *cudaBackend) Run(n int) ([]float32, []int64, error) {
	ts, err := b.runOutputs(n, 1)
	if err != nil {
		return nil, nil, err
	}
	return ts[0].Data, ts[0].Shape, nil
}

// RunOutputs runs slots [0, n) and copies every output of the layout back (the DETR
// family's are a few hundred rows: finishing on the host costs less than a kernel launch).
func (b *cudaBackend) RunOutputs(n int) ([]Tensor, error) { return b.runOutputs(n, len(b.outs)) }

func (b *cudaBackend) runOutputs(n, count int) ([]Tensor, error) {
	if b.closed {
		return nil, fmt.Errorf("cuda backend %w", defs.ErrClosed)
	}
	if n < 1 || n > b.maxBatch {
		return nil, fmt.Errorf("%w: batch of %d, max %d", ErrBatch, n, b.maxBatch)
	}
	n, err := b.infer(n)
	if err != nil {
		return nil, err
	}
	for _, o := range b.outs[:count] {
		elems := n * o.per
		src := o.dev
		if o.dev32 != 0 {
			if err := b.k.HalfToFloat(b.stream, o.dev32, o.dev, elems); err != nil {
				return nil, err
			}
			src = o.dev32
		}
		if err := b.stream.CopyDtoH(o.host[:elems*o.hostElem()], src); err != nil {
			return nil, err
		}
	}
	if err := b.stream.Synchronize(); err != nil {
		return nil, err
	}
	for i, o := range b.outs[:count] {
		elems := n * o.per
		var data []float32
		if !o.integer() {
			data = o.hostF[:elems]
		} else {
			data = o.conv[:elems]
			if o.spec.Type == ElemInt64 {
				raw := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(o.host))), elems)
				for k, v := range raw {
					data[k] = float32(v)
				}
			} else {
				raw := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(o.host))), elems)
				for k, v := range raw {
					data[k] = float32(v)
				}
			}
		}
		b.res[i] = Tensor{Data: data, Shape: o.shapes[n-1]}
	}
	return b.res[:count], nil
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
		return nil, fmt.Errorf("%w: %s: output %v cannot be decoded on the GPU as %v", ErrBadOutput, b.info.Path, b.outs[0].tail, layout)
	}
	if _, err := b.infer(n); err != nil {
		return nil, err
	}
	p := candidateParams{layout: layout, half: b.outF16, images: n, classes: b.classes, anchors: b.anchors, conf: conf}
	if layout == LayoutYOLONAS {
		p.scores = b.outs[1].dev
	}
	if err := b.dk.candidates(b.stream, b.outs[0].dev, p, b.counts, b.recs); err != nil {
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
	b.batch = CandidateBatch{counts: b.hostCounts[:n], recs: b.hostRecs, anchors: b.anchors, xyxy: layout == LayoutYOLONAS}
	return &b.batch, nil
}

// DecodesOnDevice reports whether RunCandidates can decode layout l on the GPU: the
// many-anchor layouts whose outputs it could size (else the Detector copies the outputs back).
func (b *cudaBackend) DecodesOnDevice(l Layout) bool { return b.anchors > 0 && l == b.info.Layout }

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
	keep(b.ctx.Free(b.sizes))
	for _, o := range b.outs {
		keep(b.ctx.Free(o.dev))
		keep(b.ctx.Free(o.dev32))
		if o.host != nil {
			keep(b.ctx.FreeHost(o.host))
		}
		o.host, o.hostF = nil, nil
	}
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
	b.hostCounts, b.hostRecs = nil, nil
	return first
}
