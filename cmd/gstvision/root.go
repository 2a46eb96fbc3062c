package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitUsage is the exit code for a bad config or bad flags (as sysexits' EX_USAGE spirit: 2).
const exitUsage = 2

// usageError marks errors that must exit with code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// execute runs the CLI with args (without the program name) and returns the exit code.
func execute(args []string, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "gstvision",
		Short:         "Live, GPU-analysed video from IP cameras",
		Long:          "gstvision decodes RTSP cameras with GStreamer (NVDEC in CUDA memory on a GPU), runs ONNX object\ndetection inside the pipelines, and serves detections over WebSocket and annotated video over WebRTC.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newSimulateCmd(), newVersionCmd(), newBenchCmd(), newDoctorCmd(), newBenchViewersCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.SetArgs(args)

	ctx, stop := signalContext()
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "gstvision:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return 1
}

// signalContext ends on the first SIGINT/SIGTERM; a second one exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-ch
		slog.Info("shutting down", "signal", s.String())
		cancel()
		<-ch
		fmt.Fprintln(os.Stderr, "gstvision: second signal, exiting now")
		os.Exit(1)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// newLogger builds the process logger from the configured level and format.
func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if format == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l
}
