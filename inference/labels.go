package inference

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// COCOLabels are the 80 COCO class names in the order YOLO models pretrained on COCO emit them.
var COCOLabels = []string{
	"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
	"traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
	"horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
	"handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
	"baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
	"wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
	"broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
	"bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
	"microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
	"teddy bear", "hair drier", "toothbrush",
}

// LoadLabels returns the class names for a model with numClasses classes. With a path, the file
// holds one name per line (surrounding spaces trimmed; blank lines and lines starting with '#'
// skipped) and must name exactly numClasses classes (any number, at least one, when numClasses
// is negative). With path "", the COCO names are used when numClasses is 80; otherwise the
// names are class0..class{numClasses-1} and warning says so (it is "" when there is nothing to
// warn about).
func LoadLabels(path string, numClasses int) (labels []string, warning string, err error) {
	if path == "" {
		if numClasses < 0 {
			return nil, "", fmt.Errorf("%w: no labels file and no class count", ErrLabels)
		}
		if numClasses == len(COCOLabels) {
			return slices80(), "", nil
		}
		labels = make([]string, numClasses)
		for i := range labels {
			labels[i] = fmt.Sprintf("class%d", i)
		}
		return labels, fmt.Sprintf("no labels file given and the model has %d classes (not COCO's 80): using names class0..class%d",
			numClasses, numClasses-1), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrLabels, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		labels = append(labels, line)
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("%w: reading %s: %w", ErrLabels, path, err)
	}
	if numClasses < 0 && len(labels) == 0 {
		return nil, "", fmt.Errorf("%w: %s names no class", ErrLabels, path)
	}
	if numClasses >= 0 && len(labels) != numClasses {
		return nil, "", fmt.Errorf("%w: %s has %d labels but the model has %d classes", ErrLabels, path, len(labels), numClasses)
	}
	return labels, "", nil
}

// LabelSource says where a model's class names came from.
type LabelSource string

// The places class names come from, in the order ResolveLabels tries them.
const (
	LabelsFromFile     LabelSource = "labels file"
	LabelsFromMetadata LabelSource = "model metadata"
	LabelsFromCOCO     LabelSource = "COCO"
	LabelsGenerated    LabelSource = "classN"
)

// Labels are a model's class names and where they came from.
type Labels struct {
	Names  []string
	Source LabelSource
	// Warning is non-empty when the names are made up (classN): worth a log line.
	Warning string
}

// ResolveLabels picks the class names for info: the labels file when path is given (it must
// name exactly NumClasses classes, except for layouts whose class count is not in the output
// shapes, where the file sets it), else the names in the model's metadata (Ultralytics
// "names") when they cover its classes, else COCO's when the model has 80 classes (RF-DETR's
// 90: COCO's category ids, gaps named "N/A"), else class0..classN-1 with a warning.
func ResolveLabels(path string, info ModelInfo) (Labels, error) {
	if path != "" {
		n := info.NumClasses
		if !info.ClassesFromShape {
			n = -1
		}
		names, _, err := LoadLabels(path, n)
		if err != nil {
			return Labels{}, err
		}
		return Labels{Names: names, Source: LabelsFromFile}, nil
	}
	if len(info.Names) > 0 && len(info.Names) == info.NumClasses {
		return Labels{Names: append([]string(nil), info.Names...), Source: LabelsFromMetadata}, nil
	}
	if info.Layout == LayoutRFDETR && info.NumClasses == 90 {
		return Labels{Names: COCOCategoryLabels(), Source: LabelsFromCOCO}, nil
	}
	names, warn, err := LoadLabels("", info.NumClasses)
	if err != nil {
		return Labels{}, err
	}
	if warn != "" {
		return Labels{Names: names, Source: LabelsGenerated, Warning: warn}, nil
	}
	return Labels{Names: names, Source: LabelsFromCOCO}, nil
}

// LabelsForModel is ResolveLabels returning the names and the warning only.
func LabelsForModel(path string, info ModelInfo) (labels []string, warning string, err error) {
	l, err := ResolveLabels(path, info)
	return l.Names, l.Warning, err
}

// cocoGaps are the COCO category ids (1-based) that no annotation uses: RF-DETR's COCO
// checkpoints keep the ids, so their class c+1 is COCO id c+1.
var cocoGaps = []int{12, 26, 29, 30, 45, 66, 68, 69, 71, 83}

// COCOCategoryLabels names COCO's category ids 1..90 in order ("N/A" for the ten unused ids):
// the classes of a model that keeps COCO's ids, such as RF-DETR's COCO checkpoints.
func COCOCategoryLabels() []string {
	out := make([]string, 0, 90)
	next := 0
	for id := 1; id <= 90; id++ {
		if slices.Contains(cocoGaps, id) {
			out = append(out, "N/A")
			continue
		}
		out = append(out, COCOLabels[next])
		next++
	}
	return out
}

func slices80() []string {
	out := make([]string, len(COCOLabels))
	copy(out, COCOLabels)
	return out
}
