//go:build e2e

package e2e

// Operations tests: reconnects that leave other cameras alone, cameras managed through the
// HTTP API with the config file kept in step, and credentials that never leak (/metrics:
// metrics_test.go; the real binary's shutdown and leaks: shutdown_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/test"
)

// fastBackoff makes the app's failed cameras retry within a second and call a camera
// stalled after 3 s without a frame, so tests do not wait out the production backoff.
func fastBackoff() app.Option {
	return app.WithCameraBackoff(camera.Backoff{Min: 200 * time.Millisecond, Max: time.Second, Stall: 3 * time.Second})
}

// opsConfig writes a config file (token "tok") with the given camera objects and loads it.
func opsConfig(t testing.TB, decoupled bool, cams ...string) (*config.Config, string) {
	t.Helper()
	root := repoRoot(t)
	doc := fmt.Sprintf(`{
  "device": "cpu",
  "log_level": "debug",
  "server": {"listen": "127.0.0.1:0", "token": "tok"},
  "inference": {"model": %q, "labels": %q, "confidence": 0.5},
  "processing": {"ENABLE_DECOUPLED_PIPELINE": %v, "max_batch": 4, "max_wait_ms": 15, "stats_every_frames": 60},
  "cameras": [%s]
}`, filepath.Join(root, "models/blocks.onnx"), filepath.Join(root, "models/blocks.labels"), decoupled, strings.Join(cams, ","))
	return test.WriteConfig(t, doc)
}

func camJSON(id, url string) string { return fmt.Sprintf(`{"id": %q, "url": %q}`, id, url) }

// runApp starts the app with log (and opts) and returns it, its base URL and a stop function
// that shuts it down and fails the test unless Run returns nil within 15 s. stop is also a
// cleanup.
func runApp(t testing.TB, cfg *config.Config, log *slog.Logger, opts ...app.Option) (*app.App, string, func()) {
	t.Helper()
	a, err := app.New(cfg, log, opts...)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	test.WaitUntil(t, 10*time.Second, "the server to listen", func() bool { return a.Server().Addr() != nil })
	return a, "http://" + a.Server().Addr().String(), stop
}

// call makes an authenticated (token "tok") request and returns the status and body.
func call(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	return callTok(t, method, url, body, "tok")
}

func callTok(t testing.TB, method, url, body, token string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	test.WaitUntil(t, timeout, what, cond)
}

// flowing reports whether camera id runs and has decoded more than n frames.
func flowing(a *app.App, id string, n uint64) bool {
	st, ok := a.CameraAPI().Get(id)
	return ok && st.State == defs.StateRunning && st.Frames > n
}

// sampler records a camera's decoded frame counter every 200 ms.
type sampler struct {
	mu      sync.Mutex
	samples []uint64
	stop    chan struct{}
	done    chan struct{}
}

func sampleFrames(a *app.App, id string) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			st, _ := a.CameraAPI().Get(id)
			s.mu.Lock()
			s.samples = append(s.samples, st.Frames)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// finish stops sampling and fails the test unless the counter rose within every 1 s window
// (five 200 ms steps) and never went back.
func (s *sampler) finish(t testing.TB, id string) []uint64 {
	t.Helper()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < 10 {
		t.Fatalf("%s: only %d samples", id, len(s.samples))
	}
	for i := 1; i < len(s.samples); i++ {
		if s.samples[i] < s.samples[i-1] {
			t.Fatalf("%s: frame counter went back from %d to %d (camera restarted?)", id, s.samples[i-1], s.samples[i])
		}
	}
	for i := 0; i+5 < len(s.samples); i++ {
		if s.samples[i+5] <= s.samples[i] {
			t.Fatalf("%s: frame counter stalled at %d between samples %d and %d (1 s): %v", id, s.samples[i], i, i+5, s.samples)
		}
	}
	return s.samples
}

// TestReconnectLeavesOthersAlone: one camera's RTSP server goes away and comes back; that
// camera goes reconnecting then running, while the other camera's frames never stall.
func TestReconnectLeavesOthersAlone(t *testing.T) {
	sim := startSim(t, 2)
	cfg, _ := opsConfig(t, false, camJSON("cam1", sim.URL(1)), camJSON("cam2", sim.URL(2)))
	a, _, _ := runApp(t, cfg, testLogger(t), fastBackoff())
	waitFor(t, 30*time.Second, "both cameras running", func() bool { return flowing(a, "cam1", 30) && flowing(a, "cam2", 30) })
	cam1Before, _ := a.CameraAPI().Get("cam1")

	s := sampleFrames(a, "cam1")
	if err := sim.StopCamera(2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "cam2 reconnecting", func() bool {
		st, _ := a.CameraAPI().Get("cam2")
		return st.State == defs.StateReconnecting
	})
	time.Sleep(2 * time.Second) // a few failed retries against the missing mount
	if err := sim.StartCamera(2); err != nil {
		t.Fatal(err)
	}
	down, _ := a.CameraAPI().Get("cam2")
	waitFor(t, 20*time.Second, "cam2 running again", func() bool { return flowing(a, "cam2", down.Frames+30) })
	time.Sleep(time.Second)
	samples := s.finish(t, "cam1")

	cam2, _ := a.CameraAPI().Get("cam2")
	cam1, _ := a.CameraAPI().Get("cam1")
	if cam2.Reconnects < 1 || cam2.LastError == "" {
		t.Errorf("cam2: %d reconnects, last error %q; want at least one with an error", cam2.Reconnects, cam2.LastError)
	}
	if cam1.Reconnects != 0 || cam1.State != defs.StateRunning || !cam1.Since.Equal(cam1Before.Since) {
		t.Errorf("cam1 was disturbed: %+v (before: %+v)", cam1, cam1Before)
	}
	t.Logf("cam2: %d reconnects (%s); cam1: %d samples, %d → %d frames", cam2.Reconnects, cam2.LastError,
		len(samples), samples[0], samples[len(samples)-1])
}

// fileCameras loads the config file as serve would.
func fileCameras(t testing.TB, path string) []config.Camera {
	t.Helper()
	cfg, err := config.LoadWithEnv(path, nil)
	if err != nil {
		t.Fatalf("config file does not load: %v", err)
	}
	return cfg.Cameras
}

// expectFile fails unless the config file holds exactly want (id, url, enabled, latency).
func expectFile(t testing.TB, path, step string, want ...config.Camera) {
	t.Helper()
	got := fileCameras(t, path)
	show := func(cs []config.Camera) string {
		var parts []string
		for _, c := range cs {
			parts = append(parts, fmt.Sprintf("%s %s enabled=%v latency=%v", c.ID, c.URL, c.IsEnabled(), c.Latency()))
		}
		return "[" + strings.Join(parts, "; ") + "]"
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].ID == want[i].ID && got[i].URL == want[i].URL && got[i].IsEnabled() == want[i].IsEnabled() &&
			(want[i].LatencyMS == nil || got[i].Latency() == want[i].Latency())
	}
	if !ok {
		t.Fatalf("%s: config file has %s, want %s", step, show(got), show(want))
	}
}

func fileCam(id, url string, enabled bool, latencyMS ...int) config.Camera {
	c := config.Camera{ID: id, URL: url, Enabled: &enabled}
	if len(latencyMS) > 0 {
		c.LatencyMS = &latencyMS[0]
	}
	return c
}

// TestCameraAPIEndToEnd: add, disable, re-enable, re-point and delete a camera through the HTTP
// API while another runs undisturbed; the config file matches after each step; bad requests
// get 400 naming the field and change nothing.
func TestCameraAPIEndToEnd(t *testing.T) {
	sim := startSim(t, 3)
	cfg, path := opsConfig(t, false, camJSON("cam1", sim.URL(1)))
	a, base, _ := runApp(t, cfg, testLogger(t), fastBackoff())
	api := base + "/api/cameras"
	waitFor(t, 30*time.Second, "cam1 running", func() bool { return flowing(a, "cam1", 30) })
	cam1Before, _ := a.CameraAPI().Get("cam1")
	s := sampleFrames(a, "cam1")

	if code, body := callTok(t, "POST", api, camJSON("cam2", sim.URL(2)), ""); code != 401 {
		t.Fatalf("POST without token: %d %s", code, body)
	}

	code, body := call(t, "POST", api, camJSON("cam2", sim.URL(2)))
	if code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	expectFile(t, path, "after add", fileCam("cam1", sim.URL(1), true), fileCam("cam2", sim.URL(2), true))
	waitFor(t, 30*time.Second, "cam2 running", func() bool { return flowing(a, "cam2", 30) })

	code, body = call(t, "PATCH", api+"/cam2", `{"enabled": false}`)
	if code != 200 || !strings.Contains(body, `"state":"disabled"`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	expectFile(t, path, "after disable", fileCam("cam1", sim.URL(1), true), fileCam("cam2", sim.URL(2), false))
	var list []defs.Status
	code, body = call(t, "GET", api, "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 2 || list[1].ID != "cam2" || list[1].State != defs.StateDisabled {
		t.Fatalf("list with cam2 disabled: %d %s", code, body)
	}
	if _, ok := a.Cameras().Get("cam2"); ok {
		t.Fatal("disabled cam2 still has a pipeline")
	}

	code, body = call(t, "PATCH", api+"/cam2", `{"enabled": true}`)
	if code != 200 {
		t.Fatalf("enable: %d %s", code, body)
	}
	expectFile(t, path, "after enable", fileCam("cam1", sim.URL(1), true), fileCam("cam2", sim.URL(2), true))
	waitFor(t, 30*time.Second, "cam2 running again", func() bool { return flowing(a, "cam2", 30) })

	// PUT: another stream, another latency; the camera restarts on it.
	code, body = call(t, "PUT", api+"/cam2", fmt.Sprintf(`{"url": %q, "latency_ms": 100, "transport": "tcp"}`, sim.URL(3)))
	if code != 200 || !strings.Contains(body, sim.URL(3)) {
		t.Fatalf("put: %d %s", code, body)
	}
	expectFile(t, path, "after put", fileCam("cam1", sim.URL(1), true), fileCam("cam2", sim.URL(3), true, 100))
	waitFor(t, 30*time.Second, "cam2 running on the new URL", func() bool {
		st, _ := a.CameraAPI().Get("cam2")
		return flowing(a, "cam2", 30) && st.URL == sim.URL(3)
	})

	// Bad requests: 400 naming the field, 409 for a duplicate; nothing changes.
	before, _ := os.ReadFile(path)
	for _, c := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", api, `{"id": "cam3", "url": "http://127.0.0.1/x"}`, 400, "cameras[2].url"},
		{"POST", api, `{"id": "cam3", "url": "rtsp://127.0.0.1/x", "latency": 5}`, 400, "latency: unknown field"},
		{"POST", api, `{"id": "no spaces", "url": "rtsp://127.0.0.1/x"}`, 400, "cameras[2].id"},
		{"POST", api, camJSON("cam1", sim.URL(3)), 409, "already exists"},
		{"PATCH", api + "/cam1", `{"latency_ms": -1}`, 400, "cameras[0].latency_ms"},
		{"PATCH", api + "/cam1", `{"transport": "pigeon"}`, 400, "cameras[0].transport"},
		{"PUT", api + "/cam1", `{"enabled": true}`, 400, "cameras[0].url: required"},
		{"PATCH", api + "/nope", `{"enabled": true}`, 404, "not found"},
		{"DELETE", api + "/nope", ``, 404, "not found"},
		{"POST", api, `{"id": "cam3",`, 400, "invalid JSON"},
	} {
		code, body := call(t, c.method, c.path, c.body)
		if code != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %s %s: %d %s; want %d naming %q", c.method, c.path, c.body, code, body, c.status, c.want)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("rejected requests changed the config file:\n%s", after)
	}

	if code, body = call(t, "DELETE", api+"/cam2", ""); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	expectFile(t, path, "after delete", fileCam("cam1", sim.URL(1), true))
	if code, _ = call(t, "GET", api+"/cam2", ""); code != 404 {
		t.Fatalf("deleted camera answers %d", code)
	}

	samples := s.finish(t, "cam1")
	cam1, _ := a.CameraAPI().Get("cam1")
	if cam1.Reconnects != 0 || !cam1.Since.Equal(cam1Before.Since) {
		t.Errorf("cam1 restarted during the changes: %+v (before %+v)", cam1, cam1Before)
	}
	// A restart keeps the file's changes.
	cfg2, err := config.LoadWithEnv(path, nil)
	if err != nil || len(cfg2.Cameras) != 1 {
		t.Fatalf("reload: %v", err)
	}
	t.Logf("cam1 advanced %d → %d frames over %d samples while cam2 was added, disabled, enabled, moved and deleted",
		samples[0], samples[len(samples)-1], len(samples))
}

// TestCredentialsNeverLeak: cameras whose URLs carry a password (pointing at a closed port,
// so they fail and retry) never show it in the logs (debug level), API answers, errors or
// metrics; the redacted form "***" shows instead.
func TestCredentialsNeverLeak(t *testing.T) {
	const pw = "secret"
	var logs test.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, _ := opsConfig(t, false, camJSON("cam1", "rtsp://user:"+pw+"@127.0.0.1:1/stream"))
	a, base, stop := runApp(t, cfg, log, fastBackoff())
	api := base + "/api/cameras"

	var bodies []string
	record := func(what string, code int, body string) {
		// Only the answer: the request itself carries the password.
		bodies = append(bodies, fmt.Sprintf("%s → %d %s", what, code, body))
	}
	code, body := call(t, "POST", api, camJSON("cam2", "rtsp://admin:"+pw+"@127.0.0.1:1/other"))
	record("add cam2", code, body)
	if code != 201 {
		t.Fatalf("add: %d %s", code, body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", api, camJSON("cam3", "rtsp://admin:"+pw+"@127.0.0.1:99999/x")},            // bad port
		{"POST", api, camJSON("cam3", "rtsp://admin:"+pw+"@bad host/x")},                   // whitespace
		{"POST", api, camJSON("cam3", "http://admin:"+pw+"@127.0.0.1/x")},                  // scheme
		{"POST", api, camJSON("cam3", "rtsp://admin:"+pw+"@[::1/x")},                       // unparsable
		{"POST", api, camJSON("cam1", "rtsp://admin:"+pw+"@127.0.0.1:1/x")},                // duplicate
		{"POST", api, `{"id":"cam3","url":"rtsp://admin:` + pw + `@127.0.0.1:1/x","x":1}`}, // unknown field
		{"PATCH", api + "/cam2", `{"url":"rtsp://admin:` + pw + `@127.0.0.1:1/moved"}`},
	} {
		code, body := call(t, c.method, c.path, c.body)
		record(c.method+" "+c.path, code, body)
		if code >= 500 {
			t.Errorf("%s %s: %d %s", c.method, c.body, code, body)
		}
	}
	// A live RTSP server: one camera with credentials that plays (and logs running and stats
	// lines), one whose path does not exist (the server answers 404).
	sim := startSim(t, 1)
	withPw := func(u, user string) string { return strings.Replace(u, "rtsp://", "rtsp://"+user+":"+pw+"@", 1) }
	for _, spec := range []string{camJSON("cam4", withPw(sim.URL(1), "viewer")), camJSON("cam5", withPw(sim.URL(1), "viewer")+"-missing")} {
		code, body := call(t, "POST", api, spec)
		record("add", code, body)
		if code != 201 {
			t.Fatalf("add %s: %d %s", spec, code, body)
		}
	}
	waitFor(t, 30*time.Second, "cameras failing and retrying, cam4 running", func() bool {
		c1, _ := a.CameraAPI().Get("cam1")
		c2, _ := a.CameraAPI().Get("cam2")
		c5, _ := a.CameraAPI().Get("cam5")
		return c1.Reconnects >= 2 && c2.Reconnects >= 2 && c5.Reconnects >= 2 && c1.LastError != "" &&
			c2.LastError != "" && c5.LastError != "" && flowing(a, "cam4", 70)
	})
	for _, p := range []string{"/api/cameras", "/api/cameras/cam1", "/api/cameras/cam2", "/api/cameras/cam4",
		"/api/cameras/cam5", "/api/stats", "/metrics", "/healthz", "/readyz"} {
		code, body := call(t, "GET", base+p, "")
		record("GET "+p, code, body)
	}
	if code, body := call(t, "GET", base+"/api/gpus", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /api/gpus in cpu mode: %d %s, want 200 []", code, body)
	}
	for _, id := range []string{"cam1", "cam5"} {
		st, _ := a.CameraAPI().Get(id)
		t.Logf("%s error: %s", id, st.LastError)
	}
	stop()
	all := strings.Join(bodies, "\n")
	if strings.Contains(all, pw) {
		t.Errorf("the password appears in an API answer:\n%s", grepLines(all, pw))
	}
	if !strings.Contains(all, "user:***@") || !strings.Contains(all, "admin:***@") || !strings.Contains(all, "viewer:***@") {
		t.Errorf("API answers do not show the redacted URLs:\n%s", all)
	}
	out := logs.String()
	if strings.Contains(out, pw) {
		t.Errorf("the password appears in the logs:\n%s", grepLines(out, pw))
	}
	if !strings.Contains(out, "***") {
		t.Errorf("the logs never show a redacted URL")
	}
	if os.Getenv("GSTVISION_SHOW_LOGS") != "" {
		t.Logf("logs:\n%s", out)
	}
	if !strings.Contains(out, "camera down, will retry") || !strings.Contains(out, "camera running") {
		t.Errorf("the logs do not show the failures being retried:\n%s", out)
	}
}

func grepLines(s, needle string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, needle) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
