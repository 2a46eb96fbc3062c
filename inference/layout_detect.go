package inference

import (
	"fmt"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// detectLayout tells the layout from the outputs (count, names, shapes) and the metadata, and
// fills info's outputs, class count, anchors and preprocessing. The named families come first
// (their output names are fixed by their exporters), then two anchor outputs (YOLO-NAS), then a
// single output by its shape.
func detectLayout(info *ModelInfo, ins, outs []ort.InputOutputInfo) error {
	var tensors []ort.InputOutputInfo
	for _, o := range outs {
		if o.OrtValueType == ort.ONNXTypeTensor {
			tensors = append(tensors, o)
		}
	}
	byName := map[string]*ort.InputOutputInfo{}
	for i := range tensors {
		byName[strings.ToLower(tensors[i].Name)] = &tensors[i]
	}
	if task := strings.TrimSpace(info.Metadata["task"]); task != "" && task != "detect" {
		return fmt.Errorf("%w: %s is a %q model (metadata task); gstvision runs detection models (task detect) (outputs: %s)",
			ErrUnknownLayout, info.Path, task, ioNames(outs))
	}
	var err error
	switch {
	case byName["labels"] != nil && (byName["boxes"] != nil || byName["scores"] != nil || info.SizeInput.Name != ""):
		err = detectDETR(info, byName)
	case byName["dets"] != nil || (byName["labels"] != nil && len(tensors) == 2):
		err = detectRFDETR(info, byName)
	case info.SizeInput.Name != "":
		err = fmt.Errorf("%w: %s has a second input %q (orig_target_sizes) but not the outputs labels, boxes and scores of an RT-DETR/D-FINE/DEIM export",
			ErrUnknownLayout, info.Path, info.SizeInput.Name)
	case len(tensors) == 2 && isNAS(tensors):
		err = detectNAS(info, tensors)
	default:
		err = detectSingle(info, tensors)
	}
	if err != nil {
		return fmt.Errorf("%w (inputs: %s; outputs: %s; known layouts: %s)", err, ioNames(ins), ioNames(outs), KnownLayouts())
	}
	info.OutputName = info.Outputs[0].Name
	info.OutputDims = info.Outputs[0].Dims
	info.OutputFloat16 = info.Outputs[0].Type == ElemFloat16
	for _, o := range info.Outputs {
		if o.Type != ElemFloat32 && o.Type != ElemFloat16 && !(info.Layout == LayoutDETR && o.Name == info.Outputs[0].Name) {
			return fmt.Errorf("%w: %s output %q has element type %s, expected float32 or float16", ErrBadModel, info.Path, o.Name, o.Type)
		}
	}
	return nil
}

// dimsOK reports whether dims has rank len(want) and matches want where want is positive
// (-1 in want: any size).
func dimsOK(dims []int64, want ...int64) bool {
	if len(dims) != len(want) {
		return false
	}
	for i, w := range want {
		if w > 0 && dims[i] > 0 && dims[i] != w {
			return false
		}
	}
	return true
}

func badOutput(info *ModelInfo, o *ort.InputOutputInfo, what string) error {
	return fmt.Errorf("%w: %s output %q has shape %v; %s", ErrUnknownLayout, info.Path, o.Name, []int64(o.Dimensions), what)
}

// detectDETR: the official RT-DETR / D-FINE / DEIM export (their deploy post-processor):
// labels [N,Q] (int64), boxes [N,Q,4], scores [N,Q], with orig_target_sizes as second input.
func detectDETR(info *ModelInfo, byName map[string]*ort.InputOutputInfo) error {
	for _, n := range []string{"labels", "boxes", "scores"} {
		if byName[n] == nil {
			return fmt.Errorf("%w: %s looks like an RT-DETR/D-FINE/DEIM export (outputs labels, boxes, scores) but has no output %q",
				ErrUnknownLayout, info.Path, n)
		}
	}
	if info.SizeInput.Name == "" {
		return fmt.Errorf("%w: %s has outputs labels, boxes and scores (RT-DETR/D-FINE/DEIM) but no orig_target_sizes input [N,2]",
			ErrUnknownLayout, info.Path)
	}
	l, b, s := byName["labels"], byName["boxes"], byName["scores"]
	switch {
	case !dimsOK(l.Dimensions, -1, -1):
		return badOutput(info, l, "RT-DETR/D-FINE/DEIM expect labels [N, Q]")
	case !dimsOK(b.Dimensions, -1, -1, 4):
		return badOutput(info, b, "RT-DETR/D-FINE/DEIM expect boxes [N, Q, 4] (x1, y1, x2, y2)")
	case !dimsOK(s.Dimensions, -1, -1):
		return badOutput(info, s, "RT-DETR/D-FINE/DEIM expect scores [N, Q]")
	}
	if t := elemType(l.DataType); t != ElemInt64 && t != ElemInt32 && t != ElemFloat32 {
		return fmt.Errorf("%w: %s output %q has element type %s, expected int64", ErrUnknownLayout, info.Path, l.Name, l.DataType)
	}
	info.Layout = LayoutDETR
	info.Outputs = []TensorSpec{spec(l), spec(b), spec(s)}
	info.Anchors = int(max(b.Dimensions[1], 0))
	info.Preprocess = PreStretch
	info.NumClasses = metadataClasses(info)
	return nil
}

// detectRFDETR: dets [N,Q,4] normalised cxcywh and labels [N,Q,C+1] logits, matched by name.
func detectRFDETR(info *ModelInfo, byName map[string]*ort.InputOutputInfo) error {
	d, l := byName["dets"], byName["labels"]
	if d == nil || l == nil {
		missing := "dets"
		if l == nil {
			missing = "labels"
		}
		return fmt.Errorf("%w: %s looks like an RF-DETR export (outputs dets and labels) but has no output %q", ErrUnknownLayout, info.Path, missing)
	}
	if !dimsOK(d.Dimensions, -1, -1, 4) {
		return badOutput(info, d, "RF-DETR expects dets [N, Q, 4] (cx, cy, w, h normalised)")
	}
	if !dimsOK(l.Dimensions, -1, -1, -1) || l.Dimensions[2] == 1 || (l.Dimensions[1] > 0 && d.Dimensions[1] > 0 && l.Dimensions[1] != d.Dimensions[1]) {
		return badOutput(info, l, fmt.Sprintf("RF-DETR expects labels [N, Q, C+1] logits with Q as in dets %v", []int64(d.Dimensions)))
	}
	if l.Dimensions[2] <= 0 {
		return badOutput(info, l, "the class dimension must be fixed")
	}
	info.Layout = LayoutRFDETR
	info.Outputs = []TensorSpec{spec(d), spec(l)}
	info.Anchors = int(max(d.Dimensions[1], 0))
	info.NumClasses, info.ClassesFromShape = int(l.Dimensions[2]-1), true
	info.Preprocess = PreStretchImageNet
	return nil
}

// isNAS: two rank-3 outputs with the same anchor count, one of them [N, A, 4].
func isNAS(t []ort.InputOutputInfo) bool {
	a, b := t[0].Dimensions, t[1].Dimensions
	return len(a) == 3 && len(b) == 3 && (a[2] == 4 || b[2] == 4) && (a[1] == b[1] || a[1] <= 0 || b[1] <= 0)
}

// detectNAS: YOLO-NAS exported without NMS: boxes [N,A,4] x1y1x2y2 and scores [N,A,C]. When
// both end in 4, the names decide ("box", "bbox").
func detectNAS(info *ModelInfo, t []ort.InputOutputInfo) error {
	bi := 0
	switch {
	case t[0].Dimensions[2] == 4 && t[1].Dimensions[2] == 4:
		if strings.Contains(strings.ToLower(t[1].Name), "box") {
			bi = 1
		}
	case t[1].Dimensions[2] == 4:
		bi = 1
	}
	boxes, scores := &t[bi], &t[1-bi]
	if scores.Dimensions[2] <= 0 {
		return badOutput(info, scores, "YOLO-NAS expects scores [N, A, C] with C fixed")
	}
	info.Layout = LayoutYOLONAS
	info.Outputs = []TensorSpec{spec(boxes), spec(scores)}
	info.Anchors = int(max(boxes.Dimensions[1], scores.Dimensions[1], 0))
	info.NumClasses, info.ClassesFromShape = int(scores.Dimensions[2]), true
	info.Preprocess = PreLetterbox
	return nil
}

// detectSingle tells the single-output layouts apart: YOLOv8's [N, 4+C, A] has many more
// anchors than channels, YOLOv5's [N, A, 5+C] the reverse; [N, K, 6] rows are end-to-end
// (metadata end2end, or a row count no YOLOv5 grid gives: YOLO26, YOLOv10 and nms=True
// exports); [N, Q, 4+C] with a query count no YOLOv5 grid gives (or "rtdetr" in the metadata's
// description, as Ultralytics writes "Ultralytics rtdetr-l model ...") is Ultralytics' RT-DETR.
func detectSingle(info *ModelInfo, outs []ort.InputOutputInfo) error {
	out, err := pickOutput(info.Path, outs)
	if err != nil {
		return err
	}
	dims := []int64(out.Dimensions.Clone())
	if len(dims) == 3 && dims[1] <= 0 && dims[2] <= 0 && !info.InputFloat16 {
		// Both axes symbolic (some exports): run the model once on a blank image to learn them.
		shape, err := probeOutputShape(info, out.Name)
		if err != nil {
			return err
		}
		dims = []int64{dims[0], shape[1], shape[2]}
	}
	o := TensorSpec{Name: out.Name, Dims: dims, Type: elemType(out.DataType)}
	info.Outputs = []TensorSpec{o}
	info.Preprocess = PreLetterbox
	meta := info.Metadata
	if len(dims) != 3 {
		return fmt.Errorf("%w: %s output %q has shape %v; expected 3 dimensions", ErrUnknownLayout, info.Path, out.Name, dims)
	}
	if dims[1] == 0 || dims[2] == 0 {
		return fmt.Errorf("%w: %s output %q has shape %v; expected no empty dimension", ErrUnknownLayout, info.Path, out.Name, dims)
	}
	d1, d2 := dims[1], dims[2]
	end2end, hasE2E := parseBool(meta["end2end"])
	rtdetr := strings.Contains(strings.ToLower(strings.ReplaceAll(meta["description"], "-", "")), "rtdetr")
	switch {
	case hasE2E && end2end:
		if d2 != 6 {
			return fmt.Errorf("%w: %s output %q has shape %v; its metadata says end2end, which is [N, K, 6] (x1, y1, x2, y2, score, class)",
				ErrUnknownLayout, info.Path, out.Name, dims)
		}
		setEndToEnd(info, d1)
	case rtdetr:
		if d2 < 5 {
			return fmt.Errorf("%w: %s output %q has shape %v; Ultralytics RT-DETR is [N, Q, 4+C]", ErrUnknownLayout, info.Path, out.Name, dims)
		}
		setRTDETR(info, d1, d2)
	case d1 >= 5 && (d2 > d1 || d2 <= 0):
		info.Layout, info.NumClasses, info.Anchors = LayoutYOLOv8, int(d1-4), int(max(d2, 0))
		info.ClassesFromShape = true
	case d2 == 6 && d1 > d2 && !yolov5Anchors(info, d1):
		// Also an Ultralytics nms=True export, whose metadata may say end2end False.
		setEndToEnd(info, d1)
	case d2 == 7 && d1 > d2 && !yolov5Anchors(info, d1):
		return fmt.Errorf("%w: %s output %q has shape %v, [N, K, 7] rows (an NMS export with a batch index?); expected end-to-end rows [N, K, 6]",
			ErrUnknownLayout, info.Path, out.Name, dims)
	case d2 >= 5 && d1 > 0 && d1 > d2 && !yolov5Anchors(info, d1) && d1 <= maxQueries:
		setRTDETR(info, d1, d2)
	case d2 >= 6 && (d1 > d2 || d1 <= 0):
		info.Layout, info.NumClasses, info.Anchors = LayoutYOLOv5, int(d2-5), int(max(d1, 0))
		info.ClassesFromShape = true
	default:
		return fmt.Errorf("%w: %s output %q has shape %v; expected one of the known layouts", ErrUnknownLayout, info.Path, out.Name, dims)
	}
	return nil
}

// maxQueries bounds what passes for a DETR query count when no metadata says RT-DETR
// (exports use 300; YOLO heads have thousands of anchors).
const maxQueries = 1000

func setEndToEnd(info *ModelInfo, rows int64) {
	info.Layout, info.Anchors = LayoutEndToEnd, int(max(rows, 0))
	info.NumClasses = metadataClasses(info)
}

func setRTDETR(info *ModelInfo, q, last int64) {
	info.Layout, info.Anchors = LayoutRTDETRUltralytics, int(max(q, 0))
	info.NumClasses, info.ClassesFromShape = int(last-4), true
	info.Preprocess = PreStretch
}

// metadataClasses is the class count of a layout whose classes are numbers: the metadata's
// names, else COCO's 80.
func metadataClasses(info *ModelInfo) int {
	if len(info.Names) > 0 {
		return len(info.Names)
	}
	return len(COCOLabels)
}

// yolov5Anchors reports whether a is the anchor count of a YOLOv5 head at the model's input
// size: 3 anchors per cell of its stride-8/16/32 (and maybe 64) grids.
func yolov5Anchors(info *ModelInfo, a int64) bool {
	cells := func(strides ...int) int64 {
		var n int64
		for _, s := range strides {
			n += int64((info.InputH+s-1)/s) * int64((info.InputW+s-1)/s)
		}
		return n
	}
	return a == 3*cells(8, 16, 32) || a == 3*cells(8, 16, 32, 64)
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
	return ort.InputOutputInfo{}, fmt.Errorf("%w: %s has %d outputs and none is named output0 (nor labels/boxes/scores, dets/labels, or a YOLO-NAS pair [N,A,4] + [N,A,C])",
		ErrUnknownLayout, path, len(outs))
}

// parseBool reads a Python bool repr ("True", "False"); ok is false when s is neither.
func parseBool(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}
