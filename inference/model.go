package inference

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// DefaultInputSize is the input side assumed for a model whose height and width are dynamic
// and whose metadata does not say (Ultralytics exports record "imgsz").
const DefaultInputSize = 640

// ElemType is a tensor's element type as the model declares it.
type ElemType int

// Element types a detector's tensors may have (ONNX TensorProto numbering).
const (
	ElemFloat32 ElemType = 1
	ElemInt32   ElemType = 6
	ElemInt64   ElemType = 7
	ElemFloat16 ElemType = 10
)

// String names the type as doctor prints it ("float32", "int64", ...).
func (e ElemType) String() string {
	switch e {
	case ElemFloat32:
		return "float32"
	case ElemInt32:
		return "int32"
	case ElemInt64:
		return "int64"
	case ElemFloat16:
		return "float16"
	}
	return fmt.Sprintf("type%d", int(e))
}

// TensorSpec is one model input or output the layout uses: its name, shape as declared (-1 for
// a dynamic dimension; non-batch dimensions a probe run learnt are filled in) and element type.
type TensorSpec struct {
	Name string
	Dims []int64
	Type ElemType
}

// ModelInfo describes a detector as Inspect found it.
type ModelInfo struct {
	Path       string
	InputName  string
	OutputName string // the first of Outputs
	// InputW, InputH: the size frames are letterboxed (or resized) to. For a model with dynamic
	// height and width they come from its "imgsz" metadata, else DefaultInputSize, and
	// DynamicSize is set.
	InputW, InputH int
	DynamicSize    bool
	InputFloat16   bool // input tensor is float16 (else float32)
	OutputFloat16  bool // the first output is float16 (else float32)
	FixedBatch     int  // the input's batch dimension if fixed, 0 if dynamic
	Layout         Layout
	NumClasses     int
	// ClassesFromShape: NumClasses is read from an output's shape. When false (end-to-end and
	// official DETR exports, whose class is a number) it comes from the metadata's names, else
	// 80 (COCO, what the published checkpoints are trained on), and a labels file of any
	// length sets it.
	ClassesFromShape bool
	// Anchors: boxes (anchors, rows or queries) per image in the output; 0 when that dimension
	// is dynamic (then known from each run's output shape).
	Anchors int
	// InputDims and OutputDims are the image input's and the first output's shapes as declared
	// in the model (-1 for dynamic).
	InputDims, OutputDims []int64
	// Outputs are the outputs the layout reads, in the layout's order (see Layout); other
	// outputs of the model are not run.
	Outputs []TensorSpec
	// SizeInput is LayoutDETR's second input, orig_target_sizes [N, 2] (w, h); Name "" for
	// every other layout. The backends feed it the model input's size (see sizeFeed).
	SizeInput TensorSpec
	// Preprocess is how frames become the input, which follows the family.
	Preprocess Preprocess
	// Names are the class names embedded in the model's metadata (Ultralytics "names"), nil if
	// absent; see ResolveLabels.
	Names []string
	// Metadata is the model's custom metadata (empty if none).
	Metadata map[string]string
}

// Inspect loads the model at path with ONNX Runtime (initialising the runtime with
// InitRuntime("") if no one has yet) and checks that it is a detector this package can drive:
// an image input [N, 3, H, W] of float32 or float16 (plus orig_target_sizes for the official
// DETR exports) and outputs in one of the layouts of Layout, told apart by the outputs' count,
// names and shapes and the model's metadata. An unknown layout's error lists what the model has
// and the layouts known.
func Inspect(path string) (ModelInfo, error) {
	info := ModelInfo{Path: path}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("%w: %s", ErrModelNotFound, path)
	}
	if err != nil {
		return info, fmt.Errorf("%w: %s: %w", ErrBadModel, path, err)
	}
	if st.IsDir() {
		return info, fmt.Errorf("%w: %s is a directory, not an .onnx file", ErrBadModel, path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return info, fmt.Errorf("%w: %s: %w", ErrBadModel, path, err)
	}
	fh.Close()
	if _, err := InitRuntime(""); err != nil {
		return info, err
	}
	// By path rather than bytes, so that models with external weight files load too.
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return info, fmt.Errorf("%w: %s is not a model onnxruntime can load: %w", ErrBadModel, path, err)
	}
	info.Metadata = readMetadata(path)
	info.Names = parseNames(info.Metadata["names"])

	if err := pickInputs(&info, ins); err != nil {
		return info, err
	}
	if err := concreteShapes(&info, outs); err != nil {
		return info, err
	}
	if err := detectLayout(&info, ins, outs); err != nil {
		return info, err
	}
	if err := probeOutputs(&info); err != nil {
		return info, err
	}
	return info, nil
}

// pickInputs finds the image input [N, 3, H, W] and, for a model with two inputs, the
// orig_target_sizes input [N, 2] of the official DETR exports.
func pickInputs(info *ModelInfo, ins []ort.InputOutputInfo) error {
	path := info.Path
	var img, size *ort.InputOutputInfo
	for i := range ins {
		in := &ins[i]
		switch {
		case in.OrtValueType == ort.ONNXTypeTensor && len(in.Dimensions) == 4 && in.Dimensions[1] == 3 && img == nil:
			img = in
		case in.OrtValueType == ort.ONNXTypeTensor && len(in.Dimensions) == 2 && (in.Dimensions[1] == 2 || in.Dimensions[1] <= 0) && size == nil:
			size = in
		default:
			return fmt.Errorf("%w: %s input %q is %s; expected an image [N,3,H,W] and, for RT-DETR/D-FINE/DEIM exports, orig_target_sizes [N,2] (inputs: %s)",
				ErrBadModel, path, in.Name, in.String(), ioNames(ins))
		}
	}
	if img == nil {
		return fmt.Errorf("%w: %s has no image input [N,3,H,W] (inputs: %s)", ErrBadModel, path, ioNames(ins))
	}
	info.InputName = img.Name
	info.InputDims = []int64(img.Dimensions.Clone())
	switch img.DataType {
	case ort.TensorElementDataTypeFloat:
	case ort.TensorElementDataTypeFloat16:
		info.InputFloat16 = true
	default:
		return fmt.Errorf("%w: %s input %q has element type %s, expected float32 or float16", ErrBadModel, path, img.Name, img.DataType)
	}
	if n := img.Dimensions[0]; n > 0 {
		info.FixedBatch = int(n)
	}
	info.InputH, info.InputW = int(img.Dimensions[2]), int(img.Dimensions[3])
	if info.InputH <= 0 || info.InputW <= 0 {
		info.DynamicSize = true
		info.InputH, info.InputW = DefaultInputSize, DefaultInputSize
		if h, w, ok := parseImgsz(info.Metadata["imgsz"]); ok {
			info.InputH, info.InputW = h, w
		}
	}
	if size != nil {
		t := elemType(size.DataType)
		if t != ElemInt64 && t != ElemFloat32 && t != ElemInt32 {
			return fmt.Errorf("%w: %s input %q (orig_target_sizes) has element type %s, expected int64, int32 or float32",
				ErrBadModel, path, size.Name, size.DataType)
		}
		if n := size.Dimensions[0]; n > 0 && info.FixedBatch > 0 && int(n) != info.FixedBatch {
			return fmt.Errorf("%w: %s input %q has batch %d, image input %q has %d", ErrBadModel, path, size.Name, n, img.Name, info.FixedBatch)
		}
		info.SizeInput = TensorSpec{Name: size.Name, Dims: []int64(size.Dimensions.Clone()), Type: t}
	}
	return nil
}

func elemType(t ort.TensorElementDataType) ElemType {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return ElemFloat32
	case ort.TensorElementDataTypeFloat16:
		return ElemFloat16
	case ort.TensorElementDataTypeInt64:
		return ElemInt64
	case ort.TensorElementDataTypeInt32:
		return ElemInt32
	}
	return ElemType(int(t))
}

func spec(o *ort.InputOutputInfo) TensorSpec {
	return TensorSpec{Name: o.Name, Dims: []int64(o.Dimensions.Clone()), Type: elemType(o.DataType)}
}

func ioNames(ios []ort.InputOutputInfo) string {
	var s []string
	for i := range ios {
		s = append(s, ios[i].String())
	}
	return strings.Join(s, "; ")
}

// readMetadata returns the model's custom metadata map, empty if it has none or cannot be read
// (metadata only refines defaults, so its absence is not an error).
func readMetadata(path string) map[string]string {
	out := map[string]string{}
	md, err := ort.GetModelMetadata(path)
	if err != nil {
		return out
	}
	defer md.Destroy()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		return out
	}
	for _, k := range keys {
		if v, ok, err := md.LookupCustomMetadataMap(k); err == nil && ok {
			out[k] = v
		}
	}
	return out
}

var intRe = regexp.MustCompile(`\d+`)

// parseImgsz reads Ultralytics' "imgsz" metadata, "[640, 640]" (height, width) or "640".
func parseImgsz(s string) (h, w int, ok bool) {
	m := intRe.FindAllString(s, -1)
	if len(m) == 0 || len(m) > 2 {
		return 0, 0, false
	}
	h, _ = strconv.Atoi(m[0])
	w = h
	if len(m) == 2 {
		w, _ = strconv.Atoi(m[1])
	}
	return h, w, h > 0 && w > 0
}

var namesRe = regexp.MustCompile(`(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")`)

// parseNames reads Ultralytics' "names" metadata, a Python dict repr such as
// "{0: 'person', 1: 'bicycle'}"; nil unless it names classes 0..n-1 exactly once each.
func parseNames(s string) []string {
	m := namesRe.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return nil
	}
	names := make([]string, len(m))
	seen := make([]bool, len(m))
	for _, g := range m {
		i, err := strconv.Atoi(g[1])
		if err != nil || i >= len(m) || seen[i] {
			return nil
		}
		seen[i] = true
		names[i] = g[2] + g[3]
	}
	return names
}

// probeOutputShape runs the model once at batch 1 on the CPU with a blank input and returns the
// output's concrete shape.
func probeOutputShape(info *ModelInfo, output string) ([]int64, error) {
	sess, err := ort.NewDynamicAdvancedSession(info.Path, []string{info.InputName}, []string{output}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: probing the output shape: %w", ErrBadModel, info.Path, err)
	}
	defer sess.Destroy()
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 3, int64(info.InputH), int64(info.InputW)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: probing the output shape: %w", ErrBadModel, info.Path, err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := sess.Run([]ort.Value{in}, outs); err != nil {
		return nil, fmt.Errorf("%w: %s: probing the output shape: %w", ErrBadModel, info.Path, err)
	}
	defer outs[0].Destroy()
	shape := outs[0].GetShape()
	if len(shape) != 3 {
		return nil, fmt.Errorf("%w: %s output %q has shape %v; expected 3 dimensions", ErrUnknownLayout, info.Path, output, shape)
	}
	return []int64(shape), nil
}
