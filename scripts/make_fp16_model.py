"""Writes the float16 variant of the GPU kit's YOLOv8n-architecture test model (same seed, same
random weights): input 'images' float16 [N,3,640,640], output 'output0' [N,84,8400].
Run on the GPU machine: python3 scripts/make_fp16_model.py KIT_SCRIPT OUT
where KIT_SCRIPT is the kit's make_yolov8n_onnx.py, whose model classes are reused. Several ways
are tried, each in its own process (an exporter crash must not end the attempt):
  cuda  - the model in half precision on the GPU, exported by torch;
  cpu   - the model in half precision on the CPU, exported by torch;
  onnx  - the float32 export converted afterwards (onnxconverter_common or onnxruntime's tool)."""
import importlib.util
import os
import subprocess
import sys


def load_kit(path):
    spec = importlib.util.spec_from_file_location("kitmodel", path)
    kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)
    return kit


def export(model, dummy, out):
    import torch
    torch.onnx.export(model, dummy, out, input_names=["images"], output_names=["output0"],
                      dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}}, opset_version=17, dynamo=False)


def on_device(device):
    """Makes torch.arange and torch.full (the anchor grid in the model's forward) default to device."""
    import torch
    for name in ("arange", "full"):
        orig = getattr(torch, name)
        setattr(torch, name, lambda *a, _o=orig, **k: _o(*a, **{"device": device, **k}))


def way(kind, kit_path, out):
    import torch
    kit = load_kit(kit_path)
    torch.manual_seed(0)
    m = kit.YOLOv8n().eval()
    if kind == "cuda":
        on_device("cuda")
        export(m.cuda().half(), torch.zeros(1, 3, 640, 640, dtype=torch.half, device="cuda"), out)
    elif kind == "cpu":
        export(m.half(), torch.zeros(1, 3, 640, 640, dtype=torch.half), out)
    else:
        import onnx
        tmp = out + ".fp32.onnx"
        export(m, torch.zeros(1, 3, 640, 640), tmp)
        model = onnx.load(tmp)
        try:
            from onnxconverter_common import float16
            model = float16.convert_float_to_float16(model, keep_io_types=False)
        except ImportError:
            from onnxruntime.transformers import float16
            model = float16.convert_float_to_float16(model, keep_io_types=False)
        onnx.save(model, out)
        os.remove(tmp)


def declare_output_shape(out):
    """Exports on the GPU may leave the output's dimensions symbolic; declare the known
    [batch, 84, 8400] of the architecture, as the float32 export does."""
    import onnx
    m = onnx.load(out)
    shape = m.graph.output[0].type.tensor_type.shape
    del shape.dim[:]
    for w in ("batch", 84, 8400):
        d = shape.dim.add()
        if isinstance(w, str):
            d.dim_param = w
        else:
            d.dim_value = w
    onnx.save(m, out)


if __name__ == "__main__":
    if len(sys.argv) == 4:
        way(sys.argv[3], sys.argv[1], sys.argv[2])
        declare_output_shape(sys.argv[2])
        sys.exit(0)
    for kind in ("cuda", "cpu", "onnx"):
        r = subprocess.run([sys.executable, __file__, sys.argv[1], sys.argv[2], kind], capture_output=True, text=True)
        if r.returncode == 0 and os.path.exists(sys.argv[2]) and os.path.getsize(sys.argv[2]) > 0:
            print("wrote", sys.argv[2], "by way of", kind)
            sys.exit(0)
        print(f"way {kind} failed (exit {r.returncode}):", (r.stderr or r.stdout)[-1500:], file=sys.stderr)
    sys.exit(1)
