package bench

// The viewer benchmarks (gstvision bench-viewers): simulated RTSP cameras and gstvision run in
// this process, WHEP viewers (pion) watch the annotated video, and three things are measured:
//
//  1. glass-to-glass latency: from the moment the simulator starts producing frame n (its
//     real-time schedule, reported by simulate.Options.OnFrame) to the moment a viewer has
//     received the complete access unit of the picture that shows frame n, and to the moment
//     the viewer has decoded it. The frame is identified by decoding the received video
//     (gst.H264Decoder) and matching each picture against Scene.RenderI420(n) by mean luma
//     difference (scenematch.Frames);
//  2. the CPU cost of an encoded camera: process CPU (getrusage) with the cameras analysed and
//     no viewer, then with one viewer per camera (drawing + x264 encoding + WebRTC sending);
//  3. many viewers of one camera: every viewer's received frame rate and the number of
//     encoders that ran, which must be one.
//
// For 2 and 3 the viewers run in a separate process (ViewerOptions.ClientCommand), so that
// their own receiving cost is not counted in gstvision's CPU.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gstvision/gstvision/webrtc"
)

// ErrViewerBench wraps every error of the viewer benchmarks.
var ErrViewerBench = errors.New("bench-viewers")

// ViewerOptions select the viewer benchmarks. Zero values take the defaults in brackets.
type ViewerOptions struct {
	Model      string // ONNX model [models/blocks.onnx]
	Labels     string // labels file ["" = the model's classN or COCO]
	ORTLibrary string

	Latency         bool          // run the glass-to-glass latency benchmark
	LatencyMS       []int         // cameras' latency_ms values to measure [200, 50, 0]
	LatencyWidth    int           // [1280]
	LatencyHeight   int           // [720]
	LatencyDuration time.Duration // measured per value [15 s]
	SimBFrames      int           // simulated cameras' B-frames [simulator default: 2]; -1: none
	LatencyRounds   int           // rounds over LatencyMS, each value measured once a round, results pooled [1]

	CPU         bool          // run the CPU-per-encoded-camera benchmark
	CPUCases    []CPUCase     // [1 and 2 cameras at 640x360, 1 at 1280x720]
	CPUDuration time.Duration // each window [20 s]
	CPURounds   int           // viewer windows per case, each between idle windows [1]

	Fanout         bool // run the many-viewers benchmark
	FanoutViewers  int  // [20]
	FanoutWidth    int  // [640]
	FanoutHeight   int  // [360]
	FanoutDuration time.Duration
	SkipIdle       bool // fanout: skip the no-viewer window (short tests)

	// View is the video the viewers ask for (WHEP ?view=): "annotated" (decoded, boxes drawn,
	// encoded again) or "passthrough" (the camera's own H.264) ["annotated"]. Passthrough runs
	// the simulated cameras without B-frames unless SimBFrames says otherwise: a camera with
	// B-frames gets the annotated view, which the viewers refuse (ErrViewerBench).
	View string

	Warmup time.Duration // cameras running, before the first window [5 s]
	Settle time.Duration // after viewers joined, before their window [3 s]

	// ClientCommand starts a process that runs the WHEP viewers of the CPU and fanout
	// benchmarks (it must call ClientsMain on its stdin and stdout); empty runs them in this
	// process, where their receiving cost adds to the measured CPU.
	ClientCommand []string
	ClientEnv     []string // extra environment of ClientCommand

	Logger   *slog.Logger
	Progress io.Writer // progress lines [discarded]
}

func (o *ViewerOptions) setDefaults() {
	if o.View == "" {
		o.View = string(webrtc.ViewAnnotated)
	}
	if o.View == string(webrtc.ViewPassthrough) && o.SimBFrames == 0 {
		o.SimBFrames = -1
	}
	if o.Model == "" {
		o.Model = "models/blocks.onnx"
	}
	if len(o.LatencyMS) == 0 {
		o.LatencyMS = []int{200, 50, 0}
	}
	if o.LatencyWidth == 0 || o.LatencyHeight == 0 {
		o.LatencyWidth, o.LatencyHeight = 1280, 720
	}
	if o.LatencyDuration <= 0 {
		o.LatencyDuration = 15 * time.Second
	}
	if o.LatencyRounds <= 0 {
		o.LatencyRounds = 1
	}
	if len(o.CPUCases) == 0 {
		o.CPUCases = []CPUCase{{1, 640, 360}, {2, 640, 360}, {1, 1280, 720}}
	}
	if o.CPUDuration <= 0 {
		o.CPUDuration = 20 * time.Second
	}
	if o.CPURounds <= 0 {
		o.CPURounds = 1
	}
	if o.FanoutViewers <= 0 {
		o.FanoutViewers = 20
	}
	if o.FanoutWidth == 0 || o.FanoutHeight == 0 {
		o.FanoutWidth, o.FanoutHeight = 640, 360
	}
	if o.FanoutDuration <= 0 {
		o.FanoutDuration = 20 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = 5 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// ViewerReport is what RunViewers measured.
type ViewerReport struct {
	Date       string          `json:"date"`
	View       string          `json:"view"` // what the viewers watched: annotated or passthrough
	Host       string          `json:"host"`
	CPUModel   string          `json:"cpu_model"`
	CPUs       int             `json:"cpus"`
	GStreamer  string          `json:"gstreamer"`
	Encoder    string          `json:"encoder"`
	Model      string          `json:"model"`
	Clients    string          `json:"clients"` // where the CPU and fanout viewers ran
	LoadStart  [3]float64      `json:"load_avg_start"`
	LoadEnd    [3]float64      `json:"load_avg_end"`
	Latency    []LatencyResult `json:"latency,omitempty"`
	CPU        []CPUResult     `json:"cpu,omitempty"`
	Fanout     *FanoutResult   `json:"fanout,omitempty"`
	Wall       float64         `json:"wall_seconds"`
	Problems   []string        `json:"problems,omitempty"` // anything that makes a figure suspect
	problemsMu sync.Mutex
}

func (r *ViewerReport) problem(format string, args ...any) {
	r.problemsMu.Lock()
	defer r.problemsMu.Unlock()
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// and gstvision.
func RunViewers(ctx context.Context, o ViewerOptions) (*ViewerReport, error) {
	o.setDefaults()
	if !o.Latency && !o.CPU && !o.Fanout {
		return nil, fmt.Errorf("%w: nothing selected", ErrViewerBench)
	}
	if _, err := webrtc.ParseView(o.View, ""); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrViewerBench, err)
	}
	t0 := time.Now()
	rep := &ViewerReport{Date: t0.UTC().Format(time.RFC3339), View: o.View, CPUs: runtime.NumCPU(), CPUModel: cpuModel(),
		LoadStart: loadAvg(), Clients: "in-process"}
	rep.Host, _ = os.Hostname()
	if len(o.ClientCommand) > 0 {
		rep.Clients = "separate process"
	}
	if o.Latency {
		// round-robin over the values, so that a change of the machine's load hits them alike
		pooled := make([]*latencySamples, len(o.LatencyMS))
		for round := 1; round <= o.LatencyRounds; round++ {
			for i, ms := range o.LatencyMS {
				fmt.Fprintf(o.Progress, "latency: round %d/%d, latency_ms=%d, %dx%d, %v\n", round, o.LatencyRounds, ms,
					o.LatencyWidth, o.LatencyHeight, o.LatencyDuration)
				smp, err := runLatency(ctx, &o, rep, ms)
				if err != nil {
					return rep, err
				}
				pooled[i] = pooled[i].merge(smp)
			}
		}
		for _, p := range pooled {
			rep.Latency = append(rep.Latency, p.result())
		}
	}
	if o.CPU {
		for _, c := range o.CPUCases {
			fmt.Fprintf(o.Progress, "cpu: %d camera(s) at %dx%d, %v windows\n", c.Cameras, c.Width, c.Height, o.CPUDuration)
			r, err := runCPUCase(ctx, &o, rep, c)
			if err != nil {
				return rep, err
			}
			rep.CPU = append(rep.CPU, *r)
		}
	}
	if o.Fanout {
		fmt.Fprintf(o.Progress, "fanout: %d viewers of cam1 at %dx%d, %v windows\n", o.FanoutViewers, o.FanoutWidth, o.FanoutHeight, o.FanoutDuration)
		r, err := runFanout(ctx, &o, rep)
		if err != nil {
			return rep, err
		}
		rep.Fanout = r
	}
	rep.LoadEnd = loadAvg()
	rep.Wall = time.Since(t0).Seconds()
	return rep, nil
}
