package app

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/test"
)

// TestAutomaticModeFollowsCameraCount: with ENABLE_DECOUPLED_PIPELINE left out, serve runs the
// unified mode for a few cameras and the decoupled one beyond config.UnifiedMaxCameras, and the
// log says which and why; an explicit value wins.
func TestAutomaticModeFollowsCameraCount(t *testing.T) {
	for _, c := range []struct {
		cameras  int
		explicit string
		mode     string
		why      string
	}{
		{2, "", config.ModeUnified, "unified mode: 2 cameras"},
		{config.UnifiedMaxCameras + 1, "", config.ModeDecoupled, fmt.Sprintf("decoupled mode: %d cameras", config.UnifiedMaxCameras+1)},
		{config.UnifiedMaxCameras + 1, `"ENABLE_DECOUPLED_PIPELINE": false,`, config.ModeUnified, ""},
	} {
		var cams []string
		for i := range c.cameras {
			cams = append(cams, fmt.Sprintf(`{"id": "c%d", "url": "rtsp://127.0.0.1:1/%d"}`, i, i))
		}
		doc := fmt.Sprintf(`{"device": "cpu", "inference": {"model": "models/blocks.onnx", "labels": ""},
			"server": {"listen": "127.0.0.1:0"}, "processing": {%s "max_wait_ms": 10}, "cameras": [%s]}`,
			c.explicit, strings.Join(cams, ","))
		cfg, err := config.Parse([]byte(doc), repoRoot())
		if err != nil {
			t.Fatal(err)
		}
		var logs test.LogBuffer
		a, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Stage().Decoupled(); got != (c.mode == config.ModeDecoupled) {
			t.Errorf("%d cameras, %q: stage decoupled %v, want mode %s", c.cameras, c.explicit, got, c.mode)
		}
		if !strings.Contains(logs.String(), "mode="+c.mode) || !strings.Contains(logs.String(), c.why) {
			t.Errorf("%d cameras, %q: the log does not say mode=%s (%q):\n%s", c.cameras, c.explicit, c.mode, c.why, logs.String())
		}
		a.Close()
	}
}
