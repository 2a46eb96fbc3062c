package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gstvision/gstvision/internal/bench"
	"github.com/gstvision/gstvision/internal/config"
)

func newBenchCmd() *cobra.Command {
	var o bench.Options
	var mode, jsonOut string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure analytics throughput: N cameras → decode → infer → detections (no encoding)",
		Example: "  gstvision bench --simulate --cameras 2 --duration 30s\n" +
			"  gstvision bench --clip clip.h264 --cameras 85 --device cuda --mode decoupled --max-batch 32 --model yolov8n.onnx",
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
			if o.Clip == "" && !o.Simulate {
				return usageError{fmt.Errorf("give --clip FILE or --simulate")}
			}
			o.Logger = newLogger(os.Getenv("GSTVISION_LOG_LEVEL"), "text")
			rep, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			rep.WriteTable(cmd.OutOrStdout())
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
	return cmd
}
