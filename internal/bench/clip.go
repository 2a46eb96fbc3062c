package bench

import (
	"strings"
	"time"

	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/camera"
)

// ClipPipeline is a camera.PipelineFactory for benchmarks and tests whose cameras play a
// file in a loop, with the same branches as a camera's pipeline (passthrough included): the camera's URL is file:// and the file's path. With pace, the file
// plays at its frame rate, its frames delayed by delay (see gst.FileOptions); otherwise
// as fast as it decodes.
func ClipPipeline(pace bool, delay time.Duration) camera.PipelineFactory {
	return func(s camera.PipelineSpec) (camera.Pipeline, error) {
		p, err := gst.NewFilePipeline(gst.FileOptions{
			CameraOptions: gst.CameraOptions{
				Camera: s.Camera, CUDA: s.CUDA, QueueFrames: s.QueueFrames, HandlerID: s.HandlerID,
				ViewerHandlerID: s.ViewerHandlerID, PassthroughHandlerID: s.PassthroughHandlerID,
				OnWarning: s.OnWarning, Logger: s.Logger,
			},
			Path: strings.TrimPrefix(s.URL, "file://"), Pace: pace, PaceDelay: delay,
		})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}
