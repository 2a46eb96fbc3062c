"""Writes, on the GPU machine, one ONNX model per detector layout gstvision accepts (issue #15),
all on the kit's YOLOv8n-architecture backbone and head (random weights: real compute, meaningless
boxes), so that per-family frames/s compare like with like. Each family's exporter tail is
reproduced on top of the YOLOv8 output [N, 84, 8400] (centre xywh in input pixels + 80 class
scores):
  yolov8.onnx     images -> output0 [N,84,8400]                              (as the kit's)
  e2e.onnx        images -> output0 [N,300,6] x1,y1,x2,y2,score,class         (YOLO26/YOLOv10)
  ultra-detr.onnx images -> output0 [N,300,84] normalised cxcywh + scores     (Ultralytics RT-DETR)
  detr.onnx       images, orig_target_sizes -> labels [N,300], boxes [N,300,4], scores [N,300]
                                                                             (RT-DETR/D-FINE/DEIM)
  rfdetr.onnx     images -> dets [N,300,4] normalised cxcywh, labels [N,300,81] logits, background first (RF-DETR)
  nas.onnx        images -> boxes [N,8400,4] xyxy, scores [N,8400,80]         (YOLO-NAS)
usage: python3 scripts/gpu-layout-models.py OUTDIR   (needs torch; the kit's .gpu/ on sys.path)"""
import os, sys, torch, torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".gpu"))
from make_yolov8n_onnx import YOLOv8n  # noqa: E402

K, S = 300, 640.0


def topk(y):
    """The K best anchors of a YOLOv8 output: boxes cxcywh [N,K,4], scores [N,K,80]."""
    boxes, cls = y[:, :4].transpose(1, 2), y[:, 4:].transpose(1, 2)
    _, idx = cls.amax(2).topk(K, 1)
    return boxes.gather(1, idx.unsqueeze(-1).expand(-1, -1, 4)), cls.gather(1, idx.unsqueeze(-1).expand(-1, -1, cls.shape[2]))


def xyxy(b):
    return torch.cat((b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2), -1)


class E2E(nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, x):
        b, c = topk(s.m(x)); score, label = c.max(2, keepdim=True)
        return torch.cat((xyxy(b), score, label.float()), 2)


class UltraDETR(nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, x):
        b, c = topk(s.m(x)); return torch.cat((b / S, c), 2)


class DETR(nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, x, sizes):
        b, c = topk(s.m(x)); score, label = c.max(2)
        wh = sizes.to(torch.float32).repeat(1, 2).unsqueeze(1)  # [N,1,4]: w,h,w,h
        return label, xyxy(b) / S * wh, score


class RFDETR(nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, x):
        b, c = topk(s.m(x)); c = c.clamp(1e-6, 1 - 1e-6)
        logits = torch.log(c / (1 - c))
        # index 0 is the background (RF-DETR's COCO checkpoints: index c is category c)
        return b / S, torch.cat((torch.full_like(logits[..., :1], -10.0), logits), 2)


class NAS(nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, x):
        y = s.m(x); return xyxy(y[:, :4].transpose(1, 2)), y[:, 4:].transpose(1, 2)


def export(model, path, inputs, in_names, out_names):
    dyn = {n: {0: "batch"} for n in in_names + out_names}
    torch.onnx.export(model.eval(), inputs, path, input_names=in_names, output_names=out_names,
                      dynamic_axes=dyn, opset_version=17, dynamo=False)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    base = YOLOv8n().eval()
    img = torch.zeros(1, 3, 640, 640)
    export(base, f"{out}/yolov8.onnx", (img,), ["images"], ["output0"])
    export(E2E(base), f"{out}/e2e.onnx", (img,), ["images"], ["output0"])
    export(UltraDETR(base), f"{out}/ultra-detr.onnx", (img,), ["images"], ["output0"])
    export(DETR(base), f"{out}/detr.onnx", (img, torch.tensor([[640, 640]], dtype=torch.int64)),
           ["images", "orig_target_sizes"], ["labels", "boxes", "scores"])
    export(RFDETR(base), f"{out}/rfdetr.onnx", (img,), ["images"], ["dets", "labels"])
    export(NAS(base), f"{out}/nas.onnx", (img,), ["images"], ["boxes", "scores"])
    print("layout models in", out)
