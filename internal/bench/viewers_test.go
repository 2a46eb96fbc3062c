package bench

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
// from one encoder, each with a time to its first picture.
func TestFanoutShort(t *testing.T) {
	f := runFanoutShort(t, "annotated")
	if f.EncoderStarts != 1 || f.EncodersMax != 1 || f.EncodersNow != 1 {
		t.Errorf("encoders: %d started, %d running at once, %d at the end; want exactly one", f.EncoderStarts, f.EncodersMax, f.EncodersNow)
	}
}

// TestFanoutShortPassthrough: the same with the passthrough view: the viewers (which check the
// X-Gstvision-View header) get the camera's own H.264, and no encoder ever starts.
func TestFanoutShortPassthrough(t *testing.T) {
	f := runFanoutShort(t, "passthrough")
	if f.EncoderStarts != 0 || f.EncodersMax != 0 {
		t.Errorf("encoders: %d started, %d running at once; want none", f.EncoderStarts, f.EncodersMax)
	}
}

// runFanoutShort runs the many-viewers benchmark with 3 viewers of view for 3 seconds and
// checks what both views share: every viewer received frames and has a join time.
func runFanoutShort(t *testing.T, view string) *FanoutResult {
	t.Helper()
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
		View:           view,
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
	t.Logf("%s, %d viewers: fps min %.1f mean %.1f, encoder starts %d, running at once %d, CPU one %.0f%% three %.0f%%, join p50 %.0f ms max %.0f ms, in %v",
		view, f.Viewers, f.FPSMin, f.FPSMean, f.EncoderStarts, f.EncodersMax, f.OneCPU, f.ManyCPU, f.Join.P50, f.Join.Max,
		time.Since(start).Round(time.Millisecond))
	if len(f.ViewerFPS) != 3 {
		t.Fatalf("stats for %d viewers, want 3", len(f.ViewerFPS))
	}
	for i, fps := range f.ViewerFPS {
		if fps <= 0 {
			t.Errorf("viewer %d received no frame in %.1f s", i+1, f.Seconds)
		}
	}
	if f.Join.N != 3 || f.Join.P50 <= 0 {
		t.Errorf("join times %+v, want 3 positive ones", f.Join)
	}
	for _, p := range rep.Problems {
		t.Errorf("problem: %s", p)
	}
	return f
}

// TestViewersRefusesUnknownView: a view other than annotated or passthrough is an error before
// anything starts.
func TestViewersRefusesUnknownView(t *testing.T) {
	_, err := RunViewers(context.Background(), ViewerOptions{View: "boxes", Fanout: true})
	if !errors.Is(err, ErrViewerBench) || !strings.Contains(err.Error(), "boxes") {
		t.Errorf("err = %v, want ErrViewerBench naming the view", err)
	}
}
