package inference

import "strings"

// Layout is the arrangement of a detector's raw outputs: which tensors, in what order, and
// what their values mean. Inspect tells it from the model's inputs, outputs and metadata.
type Layout int

const (
	// LayoutUnknown is the zero Layout: not a supported detector output.
	LayoutUnknown Layout = iota
	// LayoutYOLOv8 is [N, 4+C, A]: per anchor cx, cy, w, h then C class scores, anchors
	// innermost (YOLOv8, YOLO11 and later anchor-free heads). Needs NMS.
	LayoutYOLOv8
	// LayoutYOLOv5 is [N, A, 5+C]: per anchor cx, cy, w, h, objectness then C class
	// probabilities (YOLOv5, YOLOv7). Needs NMS.
	LayoutYOLOv5
	// LayoutEndToEnd is [N, K, 6]: per row x1, y1, x2, y2 (input pixels), score, class (YOLO26,
	// YOLOv10, Ultralytics nms=True exports). Already suppressed: no NMS.
	LayoutEndToEnd
	// LayoutRTDETRUltralytics is [N, Q, 4+C]: per query cx, cy, w, h normalised to the input,
	// then C sigmoid class scores (Ultralytics' RT-DETR export). No NMS.
	LayoutRTDETRUltralytics
	// LayoutDETR is the official RT-DETR / D-FINE / DEIM export: inputs images and
	// orig_target_sizes [N, 2] (w, h); outputs labels [N, Q], boxes [N, Q, 4] (x1, y1, x2, y2
	// in orig_target_sizes pixels) and scores [N, Q]. No NMS.
	LayoutDETR
	// LayoutRFDETR is RF-DETR's export: dets [N, Q, 4] (cx, cy, w, h normalised) and labels
	// [N, Q, C+1] class logits (sigmoid; index 0 is the background, class c is index c+1).
	// No NMS.
	LayoutRFDETR
	// LayoutYOLONAS is YOLO-NAS without its NMS: boxes [N, A, 4] (x1, y1, x2, y2 in input
	// pixels) and scores [N, A, C]. Needs NMS.
	LayoutYOLONAS
)

// String names the layout as logs and doctor spell it ("yolov8", "end2end", ...).
func (l Layout) String() string {
	switch l {
	case LayoutYOLOv8:
		return "yolov8"
	case LayoutYOLOv5:
		return "yolov5"
	case LayoutEndToEnd:
		return "end2end"
	case LayoutRTDETRUltralytics:
		return "rtdetr-ultralytics"
	case LayoutDETR:
		return "detr"
	case LayoutRFDETR:
		return "rf-detr"
	case LayoutYOLONAS:
		return "yolo-nas"
	}
	return "unknown"
}

// Describe is a short human description of the layout, for logs and doctor.
func (l Layout) Describe() string {
	switch l {
	case LayoutYOLOv8:
		return "YOLOv8/YOLO11 [N,4+C,A], NMS"
	case LayoutYOLOv5:
		return "YOLOv5 [N,A,5+C], NMS"
	case LayoutEndToEnd:
		return "end-to-end YOLO26/YOLOv10 [N,K,6], no NMS"
	case LayoutRTDETRUltralytics:
		return "Ultralytics RT-DETR [N,Q,4+C], no NMS"
	case LayoutDETR:
		return "RT-DETR/D-FINE/DEIM labels+boxes+scores with orig_target_sizes, no NMS"
	case LayoutRFDETR:
		return "RF-DETR dets+labels, no NMS"
	case LayoutYOLONAS:
		return "YOLO-NAS boxes [N,A,4] + scores [N,A,C], NMS"
	}
	return "unknown"
}

// NeedsNMS reports whether the layout's candidates still overlap (anchor heads) and go
// through class-wise NMS; end-to-end and DETR-family outputs are one box per object already.
func (l Layout) NeedsNMS() bool {
	return l == LayoutYOLOv8 || l == LayoutYOLOv5 || l == LayoutYOLONAS
}

// Outputs is the number of output tensors the layout reads.
func (l Layout) Outputs() int {
	switch l {
	case LayoutDETR:
		return 3
	case LayoutRFDETR, LayoutYOLONAS:
		return 2
	case LayoutUnknown:
		return 0
	}
	return 1
}

// KnownLayouts lists every supported layout, for error messages.
func KnownLayouts() string {
	var s []string
	for l := LayoutYOLOv8; l <= LayoutYOLONAS; l++ {
		s = append(s, l.String()+": "+l.Describe())
	}
	return strings.Join(s, "; ")
}

// Preprocess is how a frame becomes the model's input; it follows the family (set by Inspect).
type Preprocess int

const (
	// PreLetterbox scales to fit keeping the aspect ratio, pads with PadValue, RGB 0..1: what
	// every Ultralytics YOLO export, YOLOv5 and YOLO-NAS are trained and exported for.
	PreLetterbox Preprocess = iota
	// PreStretch resizes to the input size ignoring the aspect ratio, RGB 0..1: the official
	// RT-DETR / D-FINE / DEIM deploy transform (Resize + ToTensor), and Ultralytics' RT-DETR
	// predictor (LetterBox with scale_fill=True, which stretches).
	PreStretch
	// PreStretchImageNet is PreStretch then (v - mean) / std with ImageNet's mean and std per
	// channel: RF-DETR's transform (Resize + Normalize).
	PreStretchImageNet
)

func (p Preprocess) String() string {
	switch p {
	case PreStretch:
		return "resize"
	case PreStretchImageNet:
		return "resize+imagenet"
	}
	return "letterbox"
}

// ImageNet normalisation (RF-DETR): per channel R, G, B.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// outputSpecs are the outputs the backends bind, in layout order. The first follows
// OutputName and OutputDims (so that code adjusting those, as tests do, is heard); a
// hand-built ModelInfo without Outputs has that one output.
func (info ModelInfo) outputSpecs() []TensorSpec {
	first := TensorSpec{Name: info.OutputName, Dims: info.OutputDims, Type: ElemFloat32}
	if info.OutputFloat16 {
		first.Type = ElemFloat16
	}
	if len(info.Outputs) == 0 {
		return []TensorSpec{first}
	}
	out := append([]TensorSpec(nil), info.Outputs...)
	if out[0].Type == ElemFloat32 || out[0].Type == ElemFloat16 {
		out[0].Type = first.Type
	}
	out[0].Name, out[0].Dims = first.Name, first.Dims
	return out
}

// sizeFeed is what the DETR layout's orig_target_sizes input is fed for every image: the
// model input's own (w, h). The official post-processors scale normalised boxes by it, so
// the boxes come back in model-input pixels like every other layout's and go through the
// same mapping back to the camera (the inverse of the resize). Feeding the camera's size
// instead would give camera pixels directly, but would tie the buffer to each slot's camera;
// a constant lets the buffer be filled once, before a CUDA graph is captured.
func (info ModelInfo) sizeFeed() (w, h int64) { return int64(info.InputW), int64(info.InputH) }
