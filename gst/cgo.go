package gst

// #cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0 gstreamer-app-1.0 gstreamer-cuda-1.0
// #include "gstv.h"
import "C"
