package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gstvision/gstvision/internal/bench"
)

// asMainEnv makes the test binary run the CLI instead of the tests: bench starts its simulator
// and viewer processes by re-executing itself (os.Executable), which in a test is this binary.
const asMainEnv = "GSTVISION_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(execute(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchRTSPClip runs `bench --clip --rtsp --viewers passthrough` as the lead runs it on the
// GPU machine, shortened and on the CPU: the clip simulator and the viewers in child
// processes, the cameras over RTSP as serve builds them. Every camera decodes and is analysed,
// every viewer receives frames, and the CPU figures are there. No assertion on speed.
func TestBenchRTSPClip(t *testing.T) {
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		t.Skip("gst-launch-1.0 is not installed")
	}
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.h264")
	// 8-bit 4:2:0 High, no B-frames (the passthrough view refuses them), GOP 30
	mk := exec.Command("gst-launch-1.0", "-q", "videotestsrc", "num-buffers=75", "pattern=ball", "!",
		"video/x-raw,format=I420,width=320,height=180,framerate=30/1", "!",
		"x264enc", "speed-preset=superfast", "key-int-max=30", "bframes=0", "!", "video/x-h264,profile=high", "!",
		"h264parse", "!", "video/x-h264,stream-format=byte-stream", "!", "filesink", "location="+clip)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("making the clip: %v: %s", err, out)
	}
	model, err := filepath.Abs("../../models/blocks.onnx")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asMainEnv, "1") // for the children only: this process is past TestMain
	jsonOut := filepath.Join(dir, "report.json")
	var stderr bytes.Buffer
	code := execute([]string{"bench", "--clip", clip, "--rtsp", "--cameras", "3", "--device", "cpu", "--mode", "auto",
		"--model", model, "--warmup", "1s", "--duration", "2s", "--viewers", "passthrough", "--viewer-settle", "1s",
		"--json", jsonOut}, &stderr)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Cameras != 3 || len(rep.PerCameraFPS) != 3 {
		t.Fatalf("report of %d cameras, %d per-camera figures", rep.Cameras, len(rep.PerCameraFPS))
	}
	for i, fps := range rep.PerCameraFPS {
		if fps <= 0 {
			t.Errorf("cam%d: no frame analysed", i+1)
		}
	}
	if rep.CPUPerCamera <= 0 || rep.SimCPUPercent < 0 || len(rep.Threads) == 0 {
		t.Errorf("CPU per camera %.2f %%, simulator %.2f %% (child: want >= 0), %d thread kinds", rep.CPUPerCamera, rep.SimCPUPercent, len(rep.Threads))
	}
	v := rep.Viewers
	if v == nil || v.View != "passthrough" || v.Viewers != 3 || len(v.ViewerFPS) != 3 || len(v.PerCameraFPS) != 3 {
		t.Fatalf("viewer window: %+v", v)
	}
	for i := range 3 {
		if v.ViewerFPS[i] <= 0 || v.PerCameraFPS[i] <= 0 {
			t.Errorf("cam%d with a viewer: %.1f frames/s analysed, %.1f received by the viewer", i+1, v.PerCameraFPS[i], v.ViewerFPS[i])
		}
	}
	if v.ClientCPU < 0 {
		t.Errorf("the viewers ran in this process (client CPU %.1f)", v.ClientCPU)
	}
}
