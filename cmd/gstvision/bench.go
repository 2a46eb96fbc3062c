package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/gstvision/gstvision/internal/bench"
	"github.com/gstvision/gstvision/internal/config"
)

func newBenchCmd() *cobra.Command {
	var o bench.Options
	var mode, jsonOut string
	var simInProcess, viewersInProcess bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure analytics throughput: N cameras → decode → infer → detections (no encoding)",
		Example: "  gstvision bench --simulate --cameras 2 --duration 30s\n" +
			"  gstvision bench --clip clip.h264 --cameras 85 --device cuda --mode decoupled --max-batch 32 --model yolov8n.onnx\n" +
			"  gstvision bench --clip clip.h264 --rtsp --cameras 105 --device cuda --mode auto --viewers passthrough --duration 60s",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch mode {
			case config.ModeUnified:
			case config.ModeDecoupled:
				o.Decoupled = true
			case "auto":
				o.Auto = true
				if !cmd.Flags().Changed("max-batch") {
					o.MaxBatch = 0 // sized from the cameras, as serve does
				}
				if cmd.Flags().Changed("cuda-graph") {
					return usageError{fmt.Errorf("--cuda-graph goes with --mode decoupled; --mode auto chooses it")}
				}
			default:
				return usageError{fmt.Errorf("--mode must be unified, decoupled or auto, got %q", mode)}
			}
			if o.Clip == "" && !o.Simulate && o.RTSPURL == "" {
				return usageError{fmt.Errorf("give --clip FILE, --simulate or --rtsp-url")}
			}
			if o.RTSP && o.Clip == "" {
				return usageError{fmt.Errorf("--rtsp serves --clip FILE over RTSP: give --clip")}
			}
			if (o.RTSP || o.RTSPURL != "") && o.Simulate {
				return usageError{fmt.Errorf("--rtsp and --rtsp-url do not go with --simulate")}
			}
			if o.Viewers != "" && !slices.Contains(bench.ViewsForBench, o.Viewers) {
				return usageError{fmt.Errorf("--viewers must be passthrough or annotated, got %q", o.Viewers)}
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: finding this executable for the child processes: %w", err)
			}
			if o.RTSP && !simInProcess {
				o.SimCommand = []string{exe, "simulate"}
			}
			if o.Viewers != "" && !viewersInProcess {
				o.ViewerCommand = []string{exe, "bench-viewers", "clients"}
			}
			o.Logger = newLogger(os.Getenv("GSTVISION_LOG_LEVEL"), "text")
			rep, err := bench.Run(cmd.Context(), o)
			if rep != nil { // the measurement, when only the viewer window failed
				rep.WriteTable(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if jsonOut != "" {
				f, err := os.Create(jsonOut)
				if err != nil {
					return err
				}
				defer f.Close()
				return rep.WriteJSON(f)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Clip, "clip", "", "H.264/H.265 byte-stream file each camera plays in a loop")
	f.BoolVar(&o.Simulate, "simulate", false, "use simulated RTSP cameras instead of a clip")
	f.IntVar(&o.SimWidth, "sim-width", 640, "simulated picture width")
	f.IntVar(&o.SimHeight, "sim-height", 360, "simulated picture height")
	f.IntVar(&o.Cameras, "cameras", 2, "number of cameras")
	f.StringVar(&o.Device, "device", config.DefaultDevice, "cpu or cuda")
	f.StringVar(&mode, "mode", config.ModeDecoupled, "unified, decoupled, or auto (chosen for the camera count as serve does when the config leaves it out)")
	f.IntVar(&o.MaxBatch, "max-batch", config.DefaultMaxBatch, "decoupled: largest batch")
	f.DurationVar(&o.MaxWait, "max-wait", config.DefaultMaxWaitMS*time.Millisecond, "decoupled: longest wait to fill a batch")
	f.StringVar(&o.Model, "model", "models/blocks.onnx", "ONNX model")
	f.StringVar(&o.Labels, "labels", "", "labels file (default: COCO names, or classN)")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "measured duration")
	f.DurationVar(&o.Warmup, "warmup", 5*time.Second, "warm-up before measuring, once every camera decodes")
	f.DurationVar(&o.StartTimeout, "start-timeout", time.Minute, "longest wait for every camera's first decoded frame")
	f.BoolVar(&o.Pace, "pace", false, "play the clip at its frame rate instead of flat out")
	f.IntVar(&o.QueueSize, "queue", config.DefaultQueueFrames, "frames buffered between decoder and inference per camera")
	f.DurationVar(&o.Stagger, "stagger", 0, "with --pace, delay the cameras' frames by amounts spread over this span (e.g. one GOP, 2s: keyframes then fall at independent times, as real cameras send them)")
	f.StringVar(&o.Trace, "trace", "", "write a Go execution trace of the first 3 s of the measurement to this file")
	f.IntVar(&o.Sets, "sets", 0, "decoupled: batches held at once (0: the device's default)")
	f.BoolVar(&o.CUDAGraph, "cuda-graph", false, "decoupled on cuda: each batch runs as a captured CUDA graph (processing.cuda_graph)")
	f.DurationVar(&o.Timeline, "timeline", 0, "decoupled: also report the stage interval by interval (e.g. 500ms)")
	f.Float64Var(&o.Confidence, "confidence", config.DefaultConfidence, "detection score threshold")
	f.StringVar(&o.ORTLibrary, "onnxruntime", "", "path to libonnxruntime.so (default: search)")
	f.StringVar(&jsonOut, "json", "", "also write the report as JSON to this file")
	f.BoolVar(&o.RTSP, "rtsp", false, "serve --clip over RTSP (gstvision simulate --clip in a child process: no re-encoding, keyframes spread over one GOP) and run the cameras as serve does (rtspsrc over TCP); reports CPU per camera and by thread")
	f.StringVar(&o.RTSPURL, "rtsp-url", "", "take the cameras from these RTSP URLs instead: a template with %d for the camera number 1..N, e.g. rtsp://host:8554/cam%d")
	f.BoolVar(&simInProcess, "sim-in-process", false, "with --rtsp, run the simulator in this process (its CPU then counts)")
	f.StringVar(&o.Viewers, "viewers", "", "after the measurement, a second window with one WHEP viewer per camera of this view: passthrough or annotated")
	f.BoolVar(&viewersInProcess, "viewers-in-process", false, "run the --viewers clients in this process (their receiving cost then counts)")
	f.IntSliceVar(&o.GPUs, "gpus", nil, "with --device cuda, spread the cameras over these GPUs (CUDA ordinals, e.g. 0,1; default: every GPU the driver sees), one inference stage each")
	f.BoolVar(&o.NoTracking, "no-tracking", false, "turn tracking, zones and events off (tracking.enabled false), to tell their cost")
	f.IntVar(&o.EveryN, "every-n", 0, "analyse one decoded frame in N (inference.every_n_frames; 0: 1): a large N measures the ingest path alone")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the measured window to this file")
	f.StringVar(&o.MemProfile, "memprofile", "", "write the Go allocation profile (since start) to this file at the end of the window")
	f.DurationVar(&o.ViewerSettle, "viewer-settle", 3*time.Second, "with --viewers, the time from the last viewer joining to the viewer window")
	return cmd
}
