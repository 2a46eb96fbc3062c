package bench

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeRTSPClip writes a 2.5 s 320x180 H.264 clip (8-bit 4:2:0 High, GOP 30, no B-frames).
func makeRTSPClip(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		t.Skip("gst-launch-1.0 is not installed")
	}
	clip := filepath.Join(t.TempDir(), "clip.h264")
	mk := exec.Command("gst-launch-1.0", "-q", "videotestsrc", "num-buffers=75", "pattern=ball", "!",
		"video/x-raw,format=I420,width=320,height=180,framerate=30/1", "!",
		"x264enc", "speed-preset=superfast", "key-int-max=30", "bframes=0", "!", "video/x-h264,profile=high", "!",
		"h264parse", "!", "video/x-h264,stream-format=byte-stream", "!", "filesink", "location="+clip)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("making the clip: %v: %s", err, out)
	}
	return clip
}

// With RTSP and no SimCommand, the clip simulator runs in this process: the cameras still
// come over RTSP as serve's do, and the report says the simulator's CPU is not apart.
func TestRunRTSPClipInProcess(t *testing.T) {
	rep, err := Run(context.Background(), Options{
		Clip: makeRTSPClip(t), RTSP: true, Cameras: 2, Device: "cpu", Auto: true,
		Model: filepath.Join(repoRoot(), "models", "blocks.onnx"), Warmup: time.Second, Duration: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Source, "RTSP from clip") || !strings.Contains(rep.Source, "in this process") {
		t.Errorf("source %q", rep.Source)
	}
	for i, fps := range rep.PerCameraFPS {
		if fps <= 0 {
			t.Errorf("cam%d: no frame analysed", i+1)
		}
	}
	if rep.SimCPUPercent != -1 || rep.CPUPerCamera <= 0 || len(rep.Threads) == 0 {
		t.Errorf("simulator CPU %.1f (want -1: not apart), CPU per camera %.2f, %d thread kinds", rep.SimCPUPercent, rep.CPUPerCamera, len(rep.Threads))
	}
}

func TestRTSPURLTemplate(t *testing.T) {
	_, err := Run(context.Background(), Options{RTSPURL: "rtsp://127.0.0.1:1/cam", Cameras: 1, Device: "cpu",
		Model: filepath.Join(repoRoot(), "models", "blocks.onnx")})
	if !errors.Is(err, ErrRTSPSource) {
		t.Errorf("a template without %%d: %v", err)
	}
}
