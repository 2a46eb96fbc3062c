// Package inference turns decoded frames into detections: it introspects ONNX models (telling
// the detector family from their outputs and metadata: YOLOv8/YOLO11, YOLOv5, end-to-end
// YOLO26/YOLOv10, Ultralytics RT-DETR, official RT-DETR/D-FINE/DEIM, RF-DETR, YOLO-NAS; see
// Layout), runs them on a backend (CPU through onnxruntime_go, CUDA with device-memory
// binding), batches frames across cameras, and decodes their outputs (letterbox or resize
// maths, confidence threshold, class-wise NMS where the family needs it).
package inference
