// Package inference turns decoded frames into detections: it introspects ONNX models, runs them
// on a backend (CPU through onnxruntime_go, CUDA with device-memory binding), batches frames
// across cameras, and decodes YOLO outputs (letterbox maths, confidence threshold, class-wise NMS).
package inference
