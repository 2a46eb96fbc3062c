package camera

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gstvision/gstvision/gst"
)

// Pipeline is what a camera's supervisor needs of one run of its media pipeline: a source
// decoding frames into the handler named in its PipelineSpec. *gst.CameraPipeline is the
// production one; tests supervise fakes.
type Pipeline interface {
	// NumberFrom makes the pipeline number its frames from first on; called before Start.
	NumberFrom(first uint64)
	Start() error
	// Done delivers the error that ended the pipeline (gst.ErrEOS at the end of the stream).
	Done() <-chan error
	// Stop tears the pipeline down; safe to call more than once.
	Stop()
	// Decoded is the number of frames decoded, counted from NumberFrom's first.
	Decoded() uint64
	// LastFrameAge is the time since the last decoded frame, negative before the first.
	LastFrameAge() time.Duration
	// DecodedAgo is how long ago frame index was decoded (0 when too old to know).
	DecodedAgo(index uint64) time.Duration
	// Queued is the number of frames waiting before the frame handler.
	Queued() uint64
	// Info is what the stream turned out to be (empty until known).
	Info() gst.StreamInfo
}

var _ Pipeline = (*gst.CameraPipeline)(nil)

// PipelineSpec is what a camera asks of its pipeline.
type PipelineSpec struct {
	Camera      string // the camera's id
	URL         string // may carry credentials: never logged as is
	RedactedURL string
	Transport   string
	Latency     time.Duration
	CUDA        *gst.CUDAContext // non-nil: decode into CUDA memory in this context
	QueueFrames int              // frames buffered before the handler (oldest dropped)
	HandlerID   uint64           // the elements handler that gets the decoded frames
	// ViewerHandlerID, when set, asks for a viewer branch feeding that handler.
	ViewerHandlerID uint64
	// PassthroughHandlerID, when set, asks for a passthrough branch (access units before the
	// decoder) feeding that handler.
	PassthroughHandlerID uint64
	// OnWarning decides which of the pipeline's warnings end it (see fatalWarning).
	OnWarning func(source, text string) error
	Logger    *slog.Logger
}

// PipelineFactory builds a camera's pipeline for one run. Config.NewPipeline selects it;
// benchmarks and tests supply their own (file sources, fakes).
type PipelineFactory func(PipelineSpec) (Pipeline, error)

// gstPipeline is the production PipelineFactory: an RTSP camera decoded by GStreamer.
func gstPipeline(s PipelineSpec) (Pipeline, error) {
	p, err := gst.NewCameraPipeline(gst.CameraOptions{
		Camera: s.Camera, URL: s.URL, RedactedURL: s.RedactedURL, Transport: s.Transport,
		Latency: s.Latency, CUDA: s.CUDA, QueueFrames: s.QueueFrames, HandlerID: s.HandlerID,
		ViewerHandlerID: s.ViewerHandlerID, PassthroughHandlerID: s.PassthroughHandlerID,
		OnWarning: s.OnWarning, Logger: s.Logger,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// fatalWarning is the camera's rule for pipeline warnings: rtspsrc (the element named "src")
// reports a camera that closed the connection only as a warning, after which no frame comes,
// so that warning ends the run; every other warning is only logged.
func fatalWarning(source, text string) error {
	if source == "src" && strings.Contains(text, "Could not read from resource") {
		return fmt.Errorf("%w: %s: %s", gst.ErrPipeline, source, text)
	}
	return nil
}
