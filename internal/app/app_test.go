package app

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/analytics"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/onnxgen"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func cpuConfig(t *testing.T, model string) *config.Config {
	t.Helper()
	doc := `{"device": "cpu", "inference": {"model": "` + model + `", "labels": ""}, "server": {"listen": "127.0.0.1:0"}}`
	cfg, err := config.Parse([]byte(doc), repoRoot())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// TestModelErrorsFailAtStart: a missing, unreadable or unknown-layout model stops start-up
// with a message naming the file and the problem.
func TestModelErrorsFailAtStart(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	os.WriteFile(garbage, []byte("this is not an ONNX model"), 0o644)
	unreadable := filepath.Join(dir, "unreadable.onnx")
	os.WriteFile(unreadable, []byte("x"), 0o000)
	weird := filepath.Join(dir, "weird.onnx")
	g := onnxgen.NewGraph("weird")
	g.Input("images", onnxgen.Float, -1, 3, 64, 64)
	g.Output("output0", onnxgen.Float, -1, 3)
	g.Node("ReduceMean", []string{"images"}, []string{"output0"}, onnxgen.AttrInts("axes", 2, 3), onnxgen.AttrInt("keepdims", 0))
	if err := g.WriteFile(weird, 13); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, model string
		want        []string
	}{
		{"missing", filepath.Join(dir, "nope.onnx"), []string{"inference.model", "nope.onnx"}},
		{"garbage", garbage, []string{"inference.model", "garbage.onnx"}},
		{"unknown layout", weird, []string{"inference.model", "weird.onnx", "layout"}},
	}
	if os.Getuid() != 0 { // root reads any file
		cases = append(cases, struct {
			name, model string
			want        []string
		}{"unreadable", unreadable, []string{"inference.model", "unreadable.onnx"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewEngine(cpuConfig(t, c.model), slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatal("NewEngine succeeded; want an error")
			}
			if !errors.Is(err, ErrStartup) || !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrStartup and ErrConfig (serve exits 2 for it)", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
}

// TestCUDAModeFailsHardWithoutGPU: with device cuda and no GPU, start-up fails naming the
// driver, never falling back to the CPU.
func TestCUDAModeFailsHardWithoutGPU(t *testing.T) {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("this machine has a GPU")
	}
	cfg := cpuConfig(t, "models/blocks.onnx")
	cfg.Device = config.DeviceCUDA
	_, err := NewEngine(cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("NewEngine in cuda mode succeeded without a GPU")
	}
	if !strings.Contains(err.Error(), "device cuda") || !strings.Contains(err.Error(), "libcuda.so.1") {
		t.Fatalf("error %q should say device cuda failed and name libcuda.so.1", err)
	}
}

func TestStageSets(t *testing.T) {
	for _, c := range []struct {
		device     string
		configured int
		want       int
	}{
		{config.DeviceCPU, 0, analytics.DefaultSets}, {config.DeviceCUDA, 0, analytics.GPUSets},
		{config.DeviceCPU, 4, 4}, {config.DeviceCUDA, 3, 3},
	} {
		if got := stageSets(c.device, c.configured); got != c.want {
			t.Errorf("stageSets(%q, %d) = %d, want %d", c.device, c.configured, got, c.want)
		}
	}
}
