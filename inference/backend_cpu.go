package inference

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gstvision/gstvision/defs"
)

// cpuBackend runs the model with ONNX Runtime's CPU provider on host tensors. The input is one
// buffer of maxBatch slots allocated up front; for every batch size n a tensor over its first n
// slots (and, for each output whose shape is static, an output tensor over a preallocated
// buffer) is created once, so Fill and Run do not allocate tensors per frame. A DETR model's
// orig_target_sizes input is a constant tensor per batch size (sizeFeed).
type cpuBackend struct {
	info     ModelInfo
	maxBatch int
	slot     int // floats per input slot: 3*H*W
	session  *ort.DynamicAdvancedSession

	inMem *hostBuffer // input memory, outside the Go heap (hostmem.go)
	input []float32
	ins   []*ort.Tensor[float32] // ins[n-1]: view of slots [0, n)
	sizes []ort.Value            // sizes[n-1]: orig_target_sizes for a batch of n (DETR only)
	outs  []*cpuOutput

	inVals, outVals []ort.Value // reused argument slices for Run
	tensors         []Tensor    // what RunOutputs returns
	closed          bool
}

// cpuOutput is one output's memory: a preallocated float32 buffer when its non-batch shape is
// static (else ORT allocates it per run), and for integer outputs the raw buffer plus its
// float32 conversion.
type cpuOutput struct {
	spec   TensorSpec
	per    int         // elements per image, 0 when dynamic
	mem    *hostBuffer // float32 output (or the conversion of an integer one)
	raw    []int64     // int64 output buffer (int32: the low half is used)
	vals   []ort.Value // [n-1]: tensor over the buffer for a batch of n, nil if dynamic
	shapes [][]int64
	auto   ort.Value // ORT-allocated on the last run (dynamic shapes)
}

// NewCPUBackend creates a CPU session for the model and its input buffer. maxBatch is the
// number of slots (a model with a fixed batch dimension gets exactly that many, whatever
// maxBatch says; a batch smaller than it runs padded with stale slots). threads sets ONNX
// Runtime's intra-op thread count (0: its default, one per core). Float16 models are refused
// (ErrFloat16OnCPU): ONNX Runtime's CPU kernels do not cover them on x86, and converting in
// Go would cost more than running the float32 export.
func NewCPUBackend(info ModelInfo, maxBatch int, threads int) (Backend, error) {
	for _, o := range info.outputSpecs() {
		if o.Type == ElemFloat16 {
			info.OutputFloat16 = true
		}
	}
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
	inNames := []string{info.InputName}
	if info.SizeInput.Name != "" {
		inNames = append(inNames, info.SizeInput.Name)
	}
	specs := info.outputSpecs()
	var outNames []string
	for _, o := range specs {
		outNames = append(outNames, o.Name)
	}
	sess, err := ort.NewDynamicAdvancedSession(info.Path, inNames, outNames, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: creating CPU session: %w", ErrBadModel, info.Path, err)
	}

	b := &cpuBackend{
		info: info, maxBatch: maxBatch, session: sess,
		slot:    3 * info.InputW * info.InputH,
		inVals:  make([]ort.Value, len(inNames)),
		outVals: make([]ort.Value, len(outNames)),
		tensors: make([]Tensor, len(outNames)),
	}
	for _, s := range specs {
		b.outs = append(b.outs, &cpuOutput{spec: s})
	}
	if err := b.allocate(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// allocate creates the input buffer, the per-batch-size input views and, for each output whose
// non-batch dimensions are all known, its buffer and views.
func (b *cpuBackend) allocate() error {
	var err error
	if b.inMem, err = newHostBuffer(b.maxBatch * b.slot); err != nil {
		return err
	}
	b.input = b.inMem.floats
	// Padding first: a stale-slot run (fixed batch) should see a grey image, not zeros.
	fill(b.input)
	for n := 1; n <= b.maxBatch; n++ {
		in, err := ort.NewTensor(ort.NewShape(int64(n), 3, int64(b.info.InputH), int64(b.info.InputW)), b.input)
		if err != nil {
			return fmt.Errorf("%w: input tensor for batch %d: %w", ErrRuntimeInit, n, err)
		}
		b.ins = append(b.ins, in)
		if b.info.SizeInput.Name != "" {
			v, err := sizeTensor(b.info, n)
			if err != nil {
				return err
			}
			b.sizes = append(b.sizes, v)
		}
	}
	for _, o := range b.outs {
		if err := o.allocate(b.maxBatch); err != nil {
			return err
		}
	}
	return nil
}

// sizeTensor is orig_target_sizes for a batch of n: sizeFeed for every image, in the input's
// element type.
func sizeTensor(info ModelInfo, n int) (ort.Value, error) {
	w, h := info.sizeFeed()
	shape := ort.NewShape(int64(n), 2)
	var v ort.Value
	var err error
	switch info.SizeInput.Type {
	case ElemInt64:
		d := make([]int64, 2*n)
		for i := range n {
			d[2*i], d[2*i+1] = w, h
		}
		v, err = ort.NewTensor(shape, d)
	case ElemInt32:
		d := make([]int32, 2*n)
		for i := range n {
			d[2*i], d[2*i+1] = int32(w), int32(h)
		}
		v, err = ort.NewTensor(shape, d)
	default:
		d := make([]float32, 2*n)
		for i := range n {
			d[2*i], d[2*i+1] = float32(w), float32(h)
		}
		v, err = ort.NewTensor(shape, d)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s tensor for batch %d: %w", ErrRuntimeInit, info.SizeInput.Name, n, err)
	}
	return v, nil
}

func (o *cpuOutput) allocate(maxBatch int) error {
	per := int64(0)
	if len(o.spec.Dims) > 1 {
		per = 1
	}
	for _, d := range o.spec.Dims[min(1, len(o.spec.Dims)):] {
		if d <= 0 {
			per = 0
			break
		}
		per *= d
	}
	o.per = int(per)
	if per == 0 {
		o.vals = make([]ort.Value, maxBatch)
		o.shapes = make([][]int64, maxBatch)
		return nil
	}
	var err error
	if o.mem, err = newHostBuffer(maxBatch * o.per); err != nil {
		return err
	}
	if o.spec.Type == ElemInt64 || o.spec.Type == ElemInt32 {
		o.raw = make([]int64, maxBatch*o.per)
	}
	for n := 1; n <= maxBatch; n++ {
		shape := ort.NewShape(append([]int64{int64(n)}, o.spec.Dims[1:]...)...)
		var v ort.Value
		switch o.spec.Type {
		case ElemInt64:
			v, err = ort.NewTensor(shape, o.raw)
		case ElemInt32:
			v, err = ort.NewTensor(shape, int32View(o.raw))
		default:
			v, err = ort.NewTensor(shape, o.mem.floats)
		}
		if err != nil {
			return fmt.Errorf("%w: output %q tensor for batch %d: %w", ErrRuntimeInit, o.spec.Name, n, err)
		}
		o.vals = append(o.vals, v)
		o.shapes = append(o.shapes, []int64(shape))
	}
	return nil
}

func (b *cpuBackend) MaxBatch() int { return b.maxBatch }

// ConcurrentFill: distinct slots are disjoint parts of the input buffer and LetterboxInto shares
// only immutable tables, so cameras may fill in parallel (see ConcurrentFiller).
func (b *cpuBackend) ConcurrentFill() bool { return true }

// Fill letterboxes (or resizes) a host frame into slot, normalised as the model expects.
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
	dst := b.input[slot*b.slot : (slot+1)*b.slot]
	if err := LetterboxInto(dst, f, lb); err != nil {
		return err
	}
	if b.info.Preprocess == PreStretchImageNet {
		normalizeImageNet(dst, b.info.InputW*b.info.InputH)
	}
	return nil
}

// Run runs slots [0, n) (all slots for a fixed-batch model) and returns the first output. The
// returned slice aliases the backend's output buffer (or ORT's) and the shape is shared: both
// are valid until the next Run and must not be modified.
func (b *cpuBackend) Run(n int) ([]float32, []int64, error) {
	ts, err := b.RunOutputs(n)
	if err != nil {
		return nil, nil, err
	}
	return ts[0].Data, ts[0].Shape, nil
}

// RunOutputs runs slots [0, n) and returns every output of the layout (ModelInfo.Outputs),
// integer ones converted to float32. Valid until the next run.
func (b *cpuBackend) RunOutputs(n int) ([]Tensor, error) {
	if b.closed {
		return nil, fmt.Errorf("cpu backend %w", defs.ErrClosed)
	}
	if n < 1 || n > b.maxBatch {
		return nil, fmt.Errorf("%w: batch of %d, max %d", ErrBatch, n, b.maxBatch)
	}
	if b.info.FixedBatch > 0 {
		n = b.info.FixedBatch
	}
	b.inVals[0] = b.ins[n-1]
	if len(b.sizes) > 0 {
		b.inVals[1] = b.sizes[n-1]
	}
	for i, o := range b.outs {
		if o.auto != nil {
			o.auto.Destroy()
			o.auto = nil
		}
		b.outVals[i] = nil // ORT allocates it
		if o.per > 0 {
			b.outVals[i] = o.vals[n-1]
		}
	}
	if err := b.session.Run(b.inVals, b.outVals); err != nil {
		return nil, fmt.Errorf("%s: run batch of %d: %w", b.info.Path, n, err)
	}
	for i, o := range b.outs {
		t, err := o.result(b.outVals[i], n)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadOutput, b.info.Path, err)
		}
		b.tensors[i] = t
	}
	return b.tensors, nil
}

// result is the output's values for a batch of n as float32.
func (o *cpuOutput) result(v ort.Value, n int) (Tensor, error) {
	if o.per > 0 {
		count := n * o.per
		dst := o.mem.floats[:count]
		switch o.spec.Type {
		case ElemInt64:
			for i, x := range o.raw[:count] {
				dst[i] = float32(x)
			}
		case ElemInt32:
			for i, x := range int32View(o.raw)[:count] {
				dst[i] = float32(x)
			}
		}
		return Tensor{Data: dst, Shape: o.shapes[n-1]}, nil
	}
	o.auto = v
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return Tensor{Data: t.GetData(), Shape: []int64(t.GetShape())}, nil
	case *ort.Tensor[int64]:
		return Tensor{Data: intsToFloats(t.GetData()), Shape: []int64(t.GetShape())}, nil
	case *ort.Tensor[int32]:
		return Tensor{Data: intsToFloats(t.GetData()), Shape: []int64(t.GetShape())}, nil
	}
	return Tensor{}, fmt.Errorf("output %q is %T, not a float32 or integer tensor", o.spec.Name, v)
}

func intsToFloats[T int32 | int64](s []T) []float32 {
	out := make([]float32, len(s))
	for i, x := range s {
		out[i] = float32(x)
	}
	return out
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
	for _, t := range b.sizes {
		t.Destroy()
	}
	for _, o := range b.outs {
		for _, v := range o.vals {
			if v != nil {
				v.Destroy()
			}
		}
		if o.auto != nil {
			o.auto.Destroy()
		}
		o.vals, o.auto = nil, nil
	}
	b.ins, b.sizes = nil, nil
	var err error
	if b.session != nil {
		if e := b.session.Destroy(); e != nil {
			err = fmt.Errorf("%s: destroy session: %w", b.info.Path, e)
		}
	}
	// The tensors over the buffers are gone: the memory can go.
	b.input = nil
	mems := []*hostBuffer{b.inMem}
	for _, o := range b.outs {
		mems = append(mems, o.mem)
	}
	for _, m := range mems {
		if e := m.free(); e != nil && err == nil {
			err = fmt.Errorf("%s: unmapping tensor memory: %w", b.info.Path, e)
		}
	}
	return err
}
