package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gstvision/gstvision/internal/bench"
)

func newBenchViewersCmd() *cobra.Command {
	var o bench.ViewerOptions
	var only, latencies, cpuCases, jsonOut string
	var inProcess bool
	cmd := &cobra.Command{
		Use:   "bench-viewers",
		Short: "Measure the viewer path: glass-to-glass latency, CPU per viewer, time to first picture, many viewers of one camera",
		Long: "bench-viewers runs simulated RTSP cameras and gstvision (cpu mode) in this process and watches the\n" +
			"annotated video (--view passthrough: the cameras' own H.264) with WHEP viewers (pion) on loopback. It\n" +
			"measures (1) glass-to-glass latency from the simulator producing a frame to a viewer receiving and\n" +
			"decoding the picture showing it, (2) the CPU cost of one viewer per camera (annotated: drawing and\n" +
			"encoding too) and each viewer's time from POST to its first picture, (3) many viewers of one camera.",
		Example: "  gstvision bench-viewers\n" +
			"  gstvision bench-viewers --only latency --latency-ms 200,50,0 --latency-rounds 3 --latency-duration 5s\n" +
			"  gstvision bench-viewers --only cpu,fanout --cpu-cases 1x640x360,2x640x360,1x1280x720 --json out.json\n" +
			"  gstvision bench-viewers --view passthrough --only cpu,fanout --cpu-cases 2x640x360 --viewers 10",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, part := range strings.Split(only, ",") {
				switch strings.TrimSpace(part) {
				case "latency":
					o.Latency = true
				case "cpu":
					o.CPU = true
				case "fanout":
					o.Fanout = true
				case "all":
					o.Latency, o.CPU, o.Fanout = true, true, true
				default:
					return usageError{fmt.Errorf("--only: unknown part %q (latency, cpu, fanout, all)", part)}
				}
			}
			var err error
			if o.LatencyMS, err = parseInts(latencies); err != nil {
				return usageError{fmt.Errorf("--latency-ms: %w", err)}
			}
			if o.CPUCases, err = parseCPUCases(cpuCases); err != nil {
				return usageError{fmt.Errorf("--cpu-cases: %w", err)}
			}
			if !inProcess {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench-viewers: finding this executable for the viewer process: %w", err)
				}
				o.ClientCommand = []string{exe, "bench-viewers", "clients"}
			}
			o.Logger = newLogger(os.Getenv("GSTVISION_LOG_LEVEL"), "text")
			o.Progress = cmd.ErrOrStderr()
			rep, err := bench.RunViewers(cmd.Context(), o)
			if rep != nil {
				rep.WriteTable(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if jsonOut != "" {
				f, err := os.Create(jsonOut)
				if err != nil {
					return fmt.Errorf("bench-viewers: %w", err)
				}
				defer f.Close()
				return rep.WriteJSON(f)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&only, "only", "all", "parts to run: latency, cpu, fanout (comma-separated) or all")
	f.StringVar(&o.View, "view", "annotated", "the video the viewers ask for (WHEP ?view=): annotated or passthrough "+
		"(simulated cameras then without B-frames unless --sim-bframes says otherwise)")
	f.StringVar(&o.Model, "model", "models/blocks.onnx", "ONNX model")
	f.StringVar(&o.Labels, "labels", "models/blocks.labels", "labels file")
	f.StringVar(&o.ORTLibrary, "onnxruntime", "", "path to libonnxruntime.so (default: search)")
	f.StringVar(&latencies, "latency-ms", "200,50,0", "cameras' latency_ms (rtspsrc jitter buffer) values to measure")
	f.IntVar(&o.LatencyWidth, "latency-width", 1280, "latency: simulated picture width")
	f.IntVar(&o.LatencyHeight, "latency-height", 720, "latency: simulated picture height")
	f.DurationVar(&o.LatencyDuration, "latency-duration", 15*time.Second, "latency: measured time per latency_ms value and round")
	f.IntVar(&o.LatencyRounds, "latency-rounds", 1, "latency: rounds over the latency_ms values (pooled; spreads the machine's load changes over all values)")
	f.IntVar(&o.SimBFrames, "sim-bframes", 0, "simulated cameras' B-frames (0: the simulator's default, 2; -1: none)")
	f.StringVar(&cpuCases, "cpu-cases", "1x640x360,2x640x360,1x1280x720", "CPU cases, CAMERASxWIDTHxHEIGHT, comma-separated")
	f.DurationVar(&o.CPUDuration, "cpu-duration", 20*time.Second, "CPU: each measured window")
	f.IntVar(&o.CPURounds, "cpu-rounds", 1, "CPU: viewer windows per case, each between two no-viewer windows")
	f.IntVar(&o.FanoutViewers, "viewers", 20, "fanout: viewers of cam1")
	f.IntVar(&o.FanoutWidth, "fanout-width", 640, "fanout: simulated picture width")
	f.IntVar(&o.FanoutHeight, "fanout-height", 360, "fanout: simulated picture height")
	f.DurationVar(&o.FanoutDuration, "fanout-duration", 20*time.Second, "fanout: each measured window")
	f.DurationVar(&o.Warmup, "warmup", 5*time.Second, "cameras running before the first window")
	f.DurationVar(&o.Settle, "settle", 3*time.Second, "after viewers joined, before their window")
	f.BoolVar(&inProcess, "clients-in-process", false, "run the CPU and fanout viewers in this process (their receiving cost then counts)")
	f.StringVar(&jsonOut, "json", "", "also write the report as JSON to this file")
	cmd.AddCommand(&cobra.Command{
		Use:    "clients",
		Short:  "Run WHEP viewers for bench-viewers (internal: driven over stdin/stdout)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.ClientsMain(cmd.Context(), os.Stdin, os.Stdout)
		},
	})
	return cmd
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q is not a number >= 0", p)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseCPUCases(s string) ([]bench.CPUCase, error) {
	var out []bench.CPUCase
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		var c bench.CPUCase
		if n, err := fmt.Sscanf(p, "%dx%dx%d", &c.Cameras, &c.Width, &c.Height); err != nil || n != 3 || c.Cameras < 1 || c.Width < 16 || c.Height < 16 {
			return nil, fmt.Errorf("%q: want CAMERASxWIDTHxHEIGHT, e.g. 2x640x360", p)
		}
		out = append(out, c)
	}
	return out, nil
}
