package inference

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gstvision/gstvision/defs"
)

// cpuBackend runs the model with ONNX Runtime's CPU provider on host tensors. The input is one
// buffer of maxBatch slots allocated up front; for every batch size n a tensor over its first n
// slots (and, when the output shape is static, an output tensor over a preallocated buffer) is
// created once, so Fill and Run do not allocate tensors per frame.
type cpuBackend struct {
	info     ModelInfo
	maxBatch int
	slot     int // floats per input slot: 3*H*W
	session  *ort.DynamicAdvancedSession

	inMem, outMem *hostBuffer // input and output memory, outside the Go heap (hostmem.go)

	input  []float32
	ins    []*ort.Tensor[float32] // ins[n-1]: view of slots [0, n)
	output []float32              // nil when the output has a dynamic non-batch dimension
	outs   []*ort.Tensor[float32] // outs[n-1]: output for a batch of n, nil if dynamic
	shapes [][]int64              // shapes[n-1]: output shape for a batch of n, if static
	auto   ort.Value              // output ORT allocated on the last Run (dynamic shapes)

	inVals, outVals []ort.Value // reused argument slices for Run
	closed          bool
}

// NewCPUBackend creates a CPU session for the model and its input buffer. maxBatch is the
// number of slots (a model with a fixed batch dimension gets exactly that many, whatever
// maxBatch says; a batch smaller than it runs padded with stale slots). threads sets ONNX
// Runtime's intra-op thread count (0: its default, one per core). Float16 models are refused
// (ErrFloat16OnCPU): ONNX Runtime's CPU kernels do not cover them on x86, and converting in
// Go would cost more than running the float32 export.
func NewCPUBackend(info ModelInfo, maxBatch int, threads int) (Backend, error) {
	if info.InputFloat16 || info.OutputFloat16 {
		return nil, fmt.Errorf("%s: %w; export a float32 model for device cpu", info.Path, ErrFloat16OnCPU)
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
	if threads < 0 {
		return nil, fmt.Errorf("%w: %d intra-op threads", ErrBatch, threads)
	}
	if _, err := InitRuntime(""); err != nil {
		return nil, err
	}

	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("%w: session options: %w", ErrRuntimeInit, err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return nil, fmt.Errorf("%w: set %d intra-op threads: %w", ErrRuntimeInit, threads, err)
		}
	}
	// The graph is a single chain; inter-op parallelism only adds idle threads.
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("%w: set inter-op threads: %w", ErrRuntimeInit, err)
	}
	sess, err := ort.NewDynamicAdvancedSession(info.Path, []string{info.InputName}, []string{info.OutputName}, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: creating CPU session: %w", ErrBadModel, info.Path, err)
	}

	b := &cpuBackend{
		info: info, maxBatch: maxBatch, session: sess,
		slot:    3 * info.InputW * info.InputH,
		inVals:  make([]ort.Value, 1),
		outVals: make([]ort.Value, 1),
	}
	if err := b.allocate(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// allocate creates the input buffer, the per-batch-size input views and, if the output's
// non-batch dimensions are all known, the output buffer and its views.
func (b *cpuBackend) allocate() error {
	var err error
	if b.inMem, err = newHostBuffer(b.maxBatch * b.slot); err != nil {
		return err
	}
	b.input = b.inMem.floats
	// Padding first: a stale-slot run (fixed batch) should see a grey image, not zeros.
	fill(b.input)
	perOut := int64(0)
	if len(b.info.OutputDims) > 1 {
		perOut = 1
	}
	for _, d := range b.info.OutputDims[min(1, len(b.info.OutputDims)):] {
		if d <= 0 {
			perOut = 0
			break
		}
		perOut *= d
	}
	if perOut > 0 {
		if b.outMem, err = newHostBuffer(b.maxBatch * int(perOut)); err != nil {
			return err
		}
		b.output = b.outMem.floats
	}
	for n := 1; n <= b.maxBatch; n++ {
		in, err := ort.NewTensor(ort.NewShape(int64(n), 3, int64(b.info.InputH), int64(b.info.InputW)), b.input)
		if err != nil {
			return fmt.Errorf("%w: input tensor for batch %d: %w", ErrRuntimeInit, n, err)
		}
		b.ins = append(b.ins, in)
		if b.output == nil {
			b.outs = append(b.outs, nil)
			b.shapes = append(b.shapes, nil)
			continue
		}
		shape := append([]int64{int64(n)}, b.info.OutputDims[1:]...)
		out, err := ort.NewTensor(ort.NewShape(shape...), b.output)
		if err != nil {
			return fmt.Errorf("%w: output tensor for batch %d: %w", ErrRuntimeInit, n, err)
		}
		b.outs = append(b.outs, out)
		b.shapes = append(b.shapes, shape)
	}
	return nil
}

func (b *cpuBackend) MaxBatch() int { return b.maxBatch }

// ConcurrentFill: distinct slots are disjoint parts of the input buffer and LetterboxInto shares
// only immutable tables, so cameras may fill in parallel (see ConcurrentFiller).
func (b *cpuBackend) ConcurrentFill() bool { return true }

// Fill letterboxes a host frame into slot.
func (b *cpuBackend) Fill(slot int, f *defs.Frame, lb Letterbox) error {
	if b.closed {
		return fmt.Errorf("cpu backend %w", defs.ErrClosed)
	}
	if slot < 0 || slot >= b.maxBatch {
		return fmt.Errorf("%w: slot %d of %d", ErrBatch, slot, b.maxBatch)
	}
	if f != nil && f.OnDevice() {
		return fmt.Errorf("%w: frame in CUDA memory given to the cpu backend", ErrBadFrame)
	}
	if lb.DstW != b.info.InputW || lb.DstH != b.info.InputH {
		return fmt.Errorf("%w: letterbox to %dx%d, model input is %dx%d", ErrBadFrame, lb.DstW, lb.DstH, b.info.InputW, b.info.InputH)
	}
	return LetterboxInto(b.input[slot*b.slot:(slot+1)*b.slot], f, lb)
}

// Run runs slots [0, n) (all slots for a fixed-batch model). The returned slice aliases the
// backend's output buffer (or ORT's) and the shape is shared: both are valid until the next
// Run and must not be modified.
func (b *cpuBackend) Run(n int) ([]float32, []int64, error) {
	if b.closed {
		return nil, nil, fmt.Errorf("cpu backend %w", defs.ErrClosed)
	}
	if n < 1 || n > b.maxBatch {
		return nil, nil, fmt.Errorf("%w: batch of %d, max %d", ErrBatch, n, b.maxBatch)
	}
	if b.info.FixedBatch > 0 {
		n = b.info.FixedBatch
	}
	if b.auto != nil {
		b.auto.Destroy()
		b.auto = nil
	}
	b.inVals[0] = b.ins[n-1]
	if out := b.outs[n-1]; out != nil {
		b.outVals[0] = out
	} else {
		b.outVals[0] = nil // ORT allocates it
	}
	if err := b.session.Run(b.inVals, b.outVals); err != nil {
		return nil, nil, fmt.Errorf("%s: run batch of %d: %w", b.info.Path, n, err)
	}
	if b.outs[n-1] != nil {
		return b.output[:n*len(b.output)/b.maxBatch], b.shapes[n-1], nil
	}
	b.auto = b.outVals[0]
	t, ok := b.auto.(*ort.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s: output %q is not a float32 tensor", ErrBadOutput, b.info.Path, b.info.OutputName)
	}
	return t.GetData(), []int64(t.GetShape()), nil
}

// Close releases the session and tensors; later calls fail with [defs.ErrClosed].
func (b *cpuBackend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	for _, t := range b.ins {
		t.Destroy()
	}
	for _, t := range b.outs {
		if t != nil {
			t.Destroy()
		}
	}
	if b.auto != nil {
		b.auto.Destroy()
	}
	b.ins, b.outs, b.auto = nil, nil, nil
	var err error
	if b.session != nil {
		if e := b.session.Destroy(); e != nil {
			err = fmt.Errorf("%s: destroy session: %w", b.info.Path, e)
		}
	}
	// The tensors over the buffers are gone: the memory can go.
	b.input, b.output = nil, nil
	for _, m := range []*hostBuffer{b.inMem, b.outMem} {
		if e := m.free(); e != nil && err == nil {
			err = fmt.Errorf("%s: unmapping tensor memory: %w", b.info.Path, e)
		}
	}
	return err
}
