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

// ModelInfo describes a YOLO detector as Inspect found it.
type ModelInfo struct {
	Path       string
	InputName  string
	OutputName string
	// InputW, InputH: the size frames are letterboxed to. For a model with dynamic height and
	// width they come from its "imgsz" metadata, else DefaultInputSize, and DynamicSize is set.
	InputW, InputH int
	DynamicSize    bool
	InputFloat16   bool // input tensor is float16 (else float32)
	OutputFloat16  bool // output tensor is float16 (else float32)
	FixedBatch     int  // the input's batch dimension if fixed, 0 if dynamic
	Layout         Layout
	NumClasses     int
	// Anchors: boxes per image in the output; 0 when the output's anchor dimension is dynamic
	// (then known from each run's output shape).
	Anchors int
	// InputDims and OutputDims are the shapes as declared in the model (-1 for dynamic).
	InputDims, OutputDims []int64
	// Names are the class names embedded in the model's metadata (Ultralytics "names"), nil if
	// absent; see LabelsForModel.
	Names []string
}

// Inspect loads the model at path with ONNX Runtime (initialising the runtime with
// InitRuntime("") if no one has yet) and checks that it is a YOLO detector this package can
// drive: one image input [N, 3, H, W] of float32 or float16, and one output (or the one named
// output0) in the YOLOv8 [N, 4+C, A] or YOLOv5 [N, A, 5+C] layout.
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
	meta := readMetadata(path)

	if len(ins) != 1 {
		return info, fmt.Errorf("%w: %s has %d inputs (%s), expected exactly one image input [N,3,H,W]",
			ErrBadModel, path, len(ins), ioNames(ins))
	}
	in := ins[0]
	info.InputName = in.Name
	info.InputDims = []int64(in.Dimensions.Clone())
	if in.OrtValueType != ort.ONNXTypeTensor || len(in.Dimensions) != 4 || in.Dimensions[1] != 3 {
		return info, fmt.Errorf("%w: %s input %q is %s, expected an image tensor [N,3,H,W]", ErrBadModel, path, in.Name, in.String())
	}
	switch in.DataType {
	case ort.TensorElementDataTypeFloat:
	case ort.TensorElementDataTypeFloat16:
		info.InputFloat16 = true
	default:
		return info, fmt.Errorf("%w: %s input %q has element type %s, expected float32 or float16", ErrBadModel, path, in.Name, in.DataType)
	}
	if n := in.Dimensions[0]; n > 0 {
		info.FixedBatch = int(n)
	}
	info.InputH, info.InputW = int(in.Dimensions[2]), int(in.Dimensions[3])
	if info.InputH <= 0 || info.InputW <= 0 {
		info.DynamicSize = true
		info.InputH, info.InputW = DefaultInputSize, DefaultInputSize
		if h, w, ok := parseImgsz(meta["imgsz"]); ok {
			info.InputH, info.InputW = h, w
		}
	}

	out, err := pickOutput(path, outs)
	if err != nil {
		return info, err
	}
	info.OutputName = out.Name
	info.OutputDims = []int64(out.Dimensions.Clone())
	switch out.DataType {
	case ort.TensorElementDataTypeFloat:
	case ort.TensorElementDataTypeFloat16:
		info.OutputFloat16 = true
	default:
		return info, fmt.Errorf("%w: %s output %q has element type %s, expected float32 or float16", ErrBadModel, path, out.Name, out.DataType)
	}
	if d := info.OutputDims; len(d) == 3 && d[1] <= 0 && d[2] <= 0 && !info.InputFloat16 {
		// Both axes symbolic (some exports): run the model once on a blank image to learn them.
		shape, err := probeOutputShape(&info)
		if err != nil {
			return info, err
		}
		info.OutputDims = []int64{-1, shape[1], shape[2]}
	}
	if err := detectLayout(&info); err != nil {
		return info, err
	}
	info.Names = parseNames(meta["names"])
	return info, nil
}

func pickOutput(path string, outs []ort.InputOutputInfo) (ort.InputOutputInfo, error) {
	if len(outs) == 1 {
		return outs[0], nil
	}
	for _, o := range outs {
		if o.Name == "output0" {
			return o, nil
		}
	}
	return ort.InputOutputInfo{}, fmt.Errorf("%w: %s has %d outputs (%s) and none is named output0; expected one detection output",
		ErrBadModel, path, len(outs), ioNames(outs))
}

func ioNames(ios []ort.InputOutputInfo) string {
	var s []string
	for i := range ios {
		s = append(s, ios[i].String())
	}
	return strings.Join(s, "; ")
}

// detectLayout tells the YOLO layout from the output dimensions: YOLOv8's [N, 4+C, A] has many
// more anchors than channels, YOLOv5's [N, A, 5+C] the reverse. A dynamic anchor dimension is
// told by which of the two is fixed.
func detectLayout(info *ModelInfo) error {
	dims := info.OutputDims
	expected := "expected YOLOv8/YOLO11 [N, 4+C, A] with A > 4+C, or YOLOv5 [N, A, 5+C]"
	if len(dims) != 3 {
		return fmt.Errorf("%w: %s output %q has shape %v; %s", ErrUnknownLayout, info.Path, info.OutputName, dims, expected)
	}
	d1, d2 := dims[1], dims[2]
	switch {
	case d1 >= 5 && (d2 > d1 || d2 <= 0):
		info.Layout, info.NumClasses, info.Anchors = LayoutYOLOv8, int(d1-4), int(max(d2, 0))
	case d2 >= 6 && (d1 > d2 || d1 <= 0):
		if looksEndToEnd(info, d1, d2) {
			return fmt.Errorf("%w: %s output %q has shape %v, which looks like an end-to-end export with NMS built in "+
				"([N, max_det, 6]: x1,y1,x2,y2,score,class); export the model without NMS; %s",
				ErrUnknownLayout, info.Path, info.OutputName, dims, expected)
		}
		info.Layout, info.NumClasses, info.Anchors = LayoutYOLOv5, int(d2-5), int(max(d1, 0))
	default:
		return fmt.Errorf("%w: %s output %q has shape %v; %s", ErrUnknownLayout, info.Path, info.OutputName, dims, expected)
	}
	return nil
}

// looksEndToEnd catches YOLOv10 / NMS-included exports ([N, 300, 6] or [N, 300, 7]), which
// otherwise pass for a one- or two-class YOLOv5 head: a real YOLOv5 head has 3 anchors per cell
// of its stride-8/16/32 (and maybe 64) grids.
func looksEndToEnd(info *ModelInfo, a, last int64) bool {
	if last != 6 && last != 7 {
		return false
	}
	if a <= 0 {
		return false
	}
	cells := func(strides ...int) int64 {
		var n int64
		for _, s := range strides {
			n += int64((info.InputH+s-1)/s) * int64((info.InputW+s-1)/s)
		}
		return n
	}
	return a != 3*cells(8, 16, 32) && a != 3*cells(8, 16, 32, 64)
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

// LabelsForModel picks the class names for info: the labels file if path is given (which must
// match the class count), else the names embedded in the model if they match, else as
// LoadLabels(""): COCO for 80 classes, class0..classN-1 with a warning otherwise.
func LabelsForModel(path string, info ModelInfo) (labels []string, warning string, err error) {
	if path == "" && len(info.Names) == info.NumClasses && info.NumClasses > 0 {
		return append([]string(nil), info.Names...), "", nil
	}
	return LoadLabels(path, info.NumClasses)
}

// probeOutputShape runs the model once at batch 1 on the CPU with a blank input and returns the
// output's concrete shape.
func probeOutputShape(info *ModelInfo) ([]int64, error) {
	sess, err := ort.NewDynamicAdvancedSession(info.Path, []string{info.InputName}, []string{info.OutputName}, nil)
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
		return nil, fmt.Errorf("%w: %s output %q has shape %v; expected 3 dimensions", ErrUnknownLayout, info.Path, info.OutputName, shape)
	}
	return []int64(shape), nil
}
