package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/onnxgen"
)

// The model and labels lines name the layout found, the class count and where the names come
// from: model metadata, COCO, classN or the labels file.
func TestModelAndLabelsLines(t *testing.T) {
	if _, err := inference.InitRuntime(""); errors.Is(err, inference.ErrRuntimeNotFound) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	labels := filepath.Join(dir, "four.labels")
	if err := os.WriteFile(labels, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		layout, labels string
		model, label   []string
		st             Status
	}{
		{onnxgen.LayoutEndToEnd, "", []string{"layout end2end", "3 classes", "preprocessing letterbox"}, []string{"3 class names from model metadata"}, OK},
		{onnxgen.LayoutDETR, "", []string{"layout detr", "orig_target_sizes", "labels [-1 64] int64", "80 classes", "preprocessing resize"}, []string{"80 class names from COCO"}, OK},
		{onnxgen.LayoutDETR, labels, []string{"layout detr"}, []string{"4 class names from labels file"}, OK},
		{onnxgen.LayoutRFDETR, "", []string{"layout rf-detr", "3 classes", "resize+imagenet"}, []string{"3 class names from classN"}, Warn},
		{onnxgen.LayoutYOLONAS, labels, []string{"layout yolo-nas", "pred_boxes", "pred_scores"}, []string{"has 4 labels but the model has 3 classes"}, Fail},
	}
	for _, c := range cases {
		g, err := onnxgen.LayoutCells(c.layout, -1, onnxgen.Float, onnxgen.Float)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, c.layout+".onnx")
		if err := g.WriteFile(p, 17); err != nil {
			t.Fatal(err)
		}
		info, err := inference.Inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		detail := modelDetail(info)
		for _, w := range c.model {
			if !strings.Contains(detail, w) {
				t.Errorf("%s: model line %q lacks %q", c.layout, detail, w)
			}
		}
		_, st, ldetail, _ := labelsCheck(c.labels, info)
		if st != c.st {
			t.Errorf("%s labels %q: %s %q, want %s", c.layout, c.labels, st, ldetail, c.st)
		}
		for _, w := range c.label {
			if !strings.Contains(ldetail, w) {
				t.Errorf("%s: labels line %q lacks %q", c.layout, ldetail, w)
			}
		}
	}
}
