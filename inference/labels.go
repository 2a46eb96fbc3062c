package inference

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
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
// skipped) and must name exactly numClasses classes. With path "", the COCO names are used when
// numClasses is 80; otherwise the names are class0..class{numClasses-1} and warning says so
// (it is "" when there is nothing to warn about).
func LoadLabels(path string, numClasses int) (labels []string, warning string, err error) {
	if path == "" {
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
	if len(labels) != numClasses {
		return nil, "", fmt.Errorf("%w: %s has %d labels but the model has %d classes", ErrLabels, path, len(labels), numClasses)
	}
	return labels, "", nil
}

func slices80() []string {
	out := make([]string, len(COCOLabels))
	copy(out, COCOLabels)
	return out
}
