package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// clientsEnv makes the test binary run ClientsMain instead of the tests: the viewer process of
// RunViewers re-executes this binary.
const clientsEnv = "GSTVISION_BENCH_VIEWER_CLIENTS"

func TestMain(m *testing.M) {
	if os.Getenv(clientsEnv) == "1" {
		if err := ClientsMain(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// TestFanoutShort is a 3-second version of the many-viewers benchmark: 3 WHEP viewers (in a
// separate process, as the command runs them) of one simulated camera must all receive frames
// from one encoder.
func TestFanoutShort(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := RunViewers(ctx, ViewerOptions{
		Model:          filepath.Join(repoRoot(), "models/blocks.onnx"),
		Labels:         filepath.Join(repoRoot(), "models/blocks.labels"),
		Fanout:         true,
		FanoutViewers:  3,
		FanoutDuration: 3 * time.Second,
		SkipIdle:       true,
		Warmup:         time.Second,
		Settle:         time.Second,
		ClientCommand:  []string{exe, "-test.run=^$"},
		ClientEnv:      []string{clientsEnv + "=1"},
		Logger:         log,
	})
	if err != nil {
		t.Fatalf("RunViewers: %v", err)
	}
	f := rep.Fanout
	t.Logf("%d viewers: fps min %.1f mean %.1f, encoder starts %d, running at once %d, CPU one %.0f%% three %.0f%%, in %v",
		f.Viewers, f.FPSMin, f.FPSMean, f.EncoderStarts, f.EncodersMax, f.OneCPU, f.ManyCPU, time.Since(start).Round(time.Millisecond))
	if len(f.ViewerFPS) != 3 {
		t.Fatalf("stats for %d viewers, want 3", len(f.ViewerFPS))
	}
	for i, fps := range f.ViewerFPS {
		if fps <= 0 {
			t.Errorf("viewer %d received no frame in %.1f s", i+1, f.Seconds)
		}
	}
	if f.EncoderStarts != 1 || f.EncodersMax != 1 || f.EncodersNow != 1 {
		t.Errorf("encoders: %d started, %d running at once, %d at the end; want exactly one", f.EncoderStarts, f.EncodersMax, f.EncodersNow)
	}
	for _, p := range rep.Problems {
		t.Errorf("problem: %s", p)
	}
}
