// Package tracking follows detected objects from frame to frame and gives each a stable ID: a
// ByteTrack-style multi-object tracker per camera, with a constant-velocity Kalman filter on
// each box's centre and size, greedy IoU association in a high-score and a low-score stage,
// class-aware, confirming a track after a few hits and dropping it after max_age frames
// without a match. It is an engine: it imports only defs.
package tracking
