package inference

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// probeOutputs learns the non-batch dimensions a model of several outputs declares symbolic
// (some exports leave the query or anchor count symbolic) by running it once at batch 1 on the
// CPU on a blank image (and the size feed), so that both backends can size their buffers. The
// input size is fixed by then, so the dimensions do not change. A float16 model is left as
// declared (the CPU cannot run it); its backend reports what it cannot size.
func probeOutputs(info *ModelInfo) error {
	dynamic := false
	for _, o := range info.Outputs {
		for _, d := range o.Dims[1:] {
			dynamic = dynamic || d <= 0
		}
	}
	if !dynamic || info.InputFloat16 || len(info.Outputs) < 2 {
		return nil
	}
	var outNames []string
	for _, o := range info.Outputs {
		outNames = append(outNames, o.Name)
	}
	shapes, err := probeShapes(info, outNames)
	if err != nil {
		return err
	}
	for i, shape := range shapes {
		if len(shape) != len(info.Outputs[i].Dims) {
			return fmt.Errorf("%w: %s output %q has shape %v, declared %v", ErrBadOutput, info.Path, outNames[i], shape, info.Outputs[i].Dims)
		}
		info.Outputs[i].Dims = append([]int64{info.Outputs[i].Dims[0]}, shape[1:]...)
	}
	info.OutputDims = info.Outputs[0].Dims
	if len(info.Outputs[0].Dims) > 1 && info.Anchors == 0 {
		info.Anchors = int(info.Outputs[0].Dims[1])
	}
	if info.Layout == LayoutYOLONAS && info.NumClasses <= 0 {
		info.NumClasses = int(info.Outputs[1].Dims[2])
	}
	return nil
}

// concreteShapes fills in the symbolic non-batch dimensions of the model's outputs (exports
// that trace top-k or concatenations often leave the query, anchor or class count symbolic)
// from one probe run, before the layout is told from the shapes: a [N, ?, 6] output is then
// [N, 300, 6], an end-to-end model, not a one-class YOLOv5. A float16 model is left as declared
// (the CPU cannot run it).
func concreteShapes(info *ModelInfo, outs []ort.InputOutputInfo) error {
	var names []string
	var idx []int
	need := false
	for i, o := range outs {
		if o.OrtValueType != ort.ONNXTypeTensor {
			continue
		}
		names, idx = append(names, o.Name), append(idx, i)
		for _, d := range o.Dimensions[min(1, len(o.Dimensions)):] {
			need = need || d <= 0
		}
	}
	if !need || info.InputFloat16 || info.InputName == "" {
		return nil
	}
	shapes, err := probeShapes(info, names)
	if err != nil {
		return err
	}
	for j, shape := range shapes {
		o := &outs[idx[j]]
		if len(shape) != len(o.Dimensions) || len(shape) == 0 {
			continue // a rank the layout checks will name
		}
		o.Dimensions = append(ort.Shape{o.Dimensions[0]}, shape[1:]...)
	}
	return nil
}

// probeShapes runs the model once at batch 1 on the CPU on a blank image (and the size feed)
// and returns the shapes of the outputs named.
func probeShapes(info *ModelInfo, outNames []string) ([][]int64, error) {
	inNames := []string{info.InputName}
	if info.SizeInput.Name != "" {
		inNames = append(inNames, info.SizeInput.Name)
	}
	fail := func(err error) error {
		return fmt.Errorf("%w: %s: probing the output shapes: %w", ErrBadModel, info.Path, err)
	}
	sess, err := ort.NewDynamicAdvancedSession(info.Path, inNames, outNames, nil)
	if err != nil {
		return nil, fail(err)
	}
	defer sess.Destroy()
	img, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 3, int64(info.InputH), int64(info.InputW)))
	if err != nil {
		return nil, fail(err)
	}
	defer img.Destroy()
	ins := []ort.Value{img}
	if info.SizeInput.Name != "" {
		sz, err := sizeTensor(*info, 1)
		if err != nil {
			return nil, fail(err)
		}
		defer sz.Destroy()
		ins = append(ins, sz)
	}
	outs := make([]ort.Value, len(outNames))
	if err := sess.Run(ins, outs); err != nil {
		return nil, fail(err)
	}
	shapes := make([][]int64, len(outs))
	for i, v := range outs {
		shapes[i] = []int64(v.GetShape())
		v.Destroy()
	}
	return shapes, nil
}
