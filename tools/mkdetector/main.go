// Command mkdetector writes gstvision's shipped detector, models/blocks.onnx, and its label file
// models/blocks.labels. The detector is not trained: it is assembled from plain ONNX operators
// (colour masks, pooling, geodesic propagation) to find the coloured blocks of the simulated
// cameras (package simulate), behind the exact interface of a YOLOv8 export so that the product's
// normal YOLO path runs it.
//
// Usage:
//
//	go run ./tools/mkdetector -out models
//	go run ./tools/mkdetector -out /tmp -layout detr   # blocks-detr.onnx: another family's outputs
//
// The output is deterministic: running it again reproduces the committed files byte for byte.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/tools/mkdetector/blocks"
)

// Names of the files mkdetector writes inside the output directory.
const (
	ModelFile  = "blocks.onnx"
	LabelsFile = "blocks.labels"
)

func main() {
	out := flag.String("out", "models", "directory to write "+ModelFile+" and "+LabelsFile+" into")
	layout := flag.String("layout", blocks.LayoutYOLOv8, "output layout: "+strings.Join(blocks.Layouts, ", ")+
		" (other than yolov8: written as blocks-LAYOUT.onnx, for tests)")
	flag.Parse()
	var err error
	if *layout == blocks.LayoutYOLOv8 {
		err = write(*out)
	} else {
		err = writeLayout(*out, *layout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdetector:", err)
		os.Exit(1)
	}
}

// labels returns the label file's content: one class name per line, in class-id order.
func labels() []byte {
	return []byte(strings.Join(simulate.Classes, "\n") + "\n")
}

// writeLayout generates the blocks detector with another family's outputs into dir.
func writeLayout(dir, layout string) error {
	model, err := blocks.BuildLayout(DefaultParams(), layout)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blocks-"+layout+".onnx"), model, 0o644); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return nil
}

// write generates the model and labels into dir.
func write(dir string) error {
	model, err := Build(DefaultParams())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ModelFile), model, 0o644); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, LabelsFile), labels(), 0o644); err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	return nil
}
