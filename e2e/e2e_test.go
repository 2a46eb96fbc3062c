//go:build e2e

// Package e2e runs gstvision end to end on CPU: simulated RTSP cameras → gstvision's pipelines
// → the shipped detector → WebSocket, scored against the simulator's ground truth.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/test"
)

// repoRoot finds the module root (the shipped model lives there).
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// startSim serves n simulated cameras on a free loopback port.
func startSim(t testing.TB, n int) *simulate.Server {
	t.Helper()
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: n, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// configFor writes a config for the given camera URLs and loads it like serve does.
func configFor(t testing.TB, decoupled bool, urls ...string) *config.Config {
	t.Helper()
	root := repoRoot(t)
	var cams []string
	for i, u := range urls {
		cams = append(cams, fmt.Sprintf(`{"id": "cam%d", "url": %q}`, i+1, u))
	}
	doc := fmt.Sprintf(`{
  "device": "cpu",
  "server": {"listen": "127.0.0.1:0"},
  "inference": {"model": %q, "labels": %q, "confidence": 0.5},
  "processing": {"ENABLE_DECOUPLED_PIPELINE": %v, "max_batch": 4, "max_wait_ms": 15},
  "cameras": [%s]
}`, filepath.Join(root, "models/blocks.onnx"), filepath.Join(root, "models/blocks.labels"), decoupled, strings.Join(cams, ","))
	cfg, _ := test.WriteConfig(t, doc)
	return cfg
}

// startApp runs gstvision serve in-process and returns its base URL; it stops at cleanup.
func startApp(t testing.TB, cfg *config.Config) (*app.App, string) {
	t.Helper()
	a, base, _ := runApp(t, cfg, testLogger(t))
	return a, base
}

// collect reads WebSocket results until each camera has want results or the timeout passes.
func collect(t testing.TB, base string, want int, timeout time.Duration, cams ...string) map[string][]results.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	got := map[string][]results.Result{}
	done := func() bool {
		for _, c := range cams {
			if len(got[c]) < want {
				return false
			}
		}
		return true
	}
	for !done() {
		_, data, err := conn.Read(ctx)
		if err != nil {
			break
		}
		var r results.Result
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("bad message %s: %v", data, err)
		}
		got[r.Camera] = append(got[r.Camera], r)
	}
	return got
}

// TestServeEndToEnd: simulate with 2 cameras → serve (cpu) → a WebSocket client receives
// detections for both cameras matching the ground truth, in both processing modes.
func TestServeEndToEnd(t *testing.T) {
	sim := startSim(t, 2)
	for _, mode := range []struct {
		name      string
		decoupled bool
	}{{"unified", false}, {"decoupled", true}} {
		t.Run(mode.name, func(t *testing.T) {
			cfg := configFor(t, mode.decoupled, sim.URL(1), sim.URL(2))
			a, base := startApp(t, cfg)
			got := collect(t, base, 60, 60*time.Second, "cam1", "cam2")
			for i, cam := range []string{"cam1", "cam2"} {
				rs := got[cam]
				if len(rs) < 60 {
					t.Fatalf("%s: only %d results in 60 s", cam, len(rs))
				}
				for _, r := range rs {
					if r.Width != 640 || r.Height != 360 {
						t.Fatalf("%s: result size %dx%d, want 640x360", cam, r.Width, r.Height)
					}
				}
				frac, off := groundtruth.Score(rs, sim.Scene(i+1), 150, groundtruth.ByPTS(rs, sim.Scene(i+1).FPS))
				t.Logf("%s (%s): %d results, %.1f%% match the ground truth (frame offset %d)", cam, mode.name, len(rs), 100*frac, off)
				if frac < 0.9 {
					r := rs[len(rs)/2]
					t.Errorf("%s: only %.1f%% of frames match the ground truth (want >= 90%%); e.g. frame %d: got %+v, truth %+v",
						cam, 100*frac, r.Frame, r.Detections, sim.Scene(i+1).Objects(int(r.Frame)+off))
				}
			}
			// the API reports both cameras running
			var cams []defs.Status
			getJSON(t, base+"/api/cameras", &cams)
			if len(cams) != 2 {
				t.Fatalf("/api/cameras: %d cameras, want 2", len(cams))
			}
			for _, c := range cams {
				if c.State != defs.StateRunning || c.Frames == 0 {
					t.Errorf("/api/cameras: %s is %s with %d frames, want running with frames", c.ID, c.State, c.Frames)
				}
			}
			_ = a
		})
	}
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// TestUnreachableCameraDoesNotStopOthers: a camera whose URL answers nothing goes
// reconnecting while the other one keeps producing.
func TestUnreachableCameraDoesNotStopOthers(t *testing.T) {
	sim := startSim(t, 1)
	cfg := configFor(t, false, sim.URL(1), "rtsp://127.0.0.1:1/nothing-here")
	a, _ := startApp(t, cfg)
	deadline := time.Now().Add(30 * time.Second)
	var good, bad defs.Status
	for time.Now().Before(deadline) {
		good, _ = a.Cameras().Get("cam1")
		bad, _ = a.Cameras().Get("cam2")
		if good.Frames > 60 && bad.State == defs.StateReconnecting {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if bad.State != defs.StateReconnecting || bad.LastError == "" {
		t.Fatalf("unreachable camera: state %s, last error %q; want reconnecting with an error", bad.State, bad.LastError)
	}
	before := good.Frames
	time.Sleep(2 * time.Second)
	after, _ := a.Cameras().Get("cam1")
	if after.State != defs.StateRunning || after.Frames <= before+30 {
		t.Fatalf("good camera: state %s, frames %d → %d in 2 s; want running and advancing", after.State, before, after.Frames)
	}
	t.Logf("unreachable camera error: %s", bad.LastError)
}
