package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/server"
	"github.com/gstvision/gstvision/internal/test"
)

// fakeRunner stands in for camera.Manager: it records starts and stops.
type fakeRunner struct {
	mu      sync.Mutex
	running map[string]camera.Config
	order   []string
	events  []string // "add ID", "remove ID"
	failAdd error
}

func newFakeRunner() *fakeRunner { return &fakeRunner{running: map[string]camera.Config{}} }

func (f *fakeRunner) Add(cfg camera.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAdd != nil {
		return f.failAdd
	}
	if _, ok := f.running[cfg.ID]; ok {
		return fmt.Errorf("%w: %q", camera.ErrExists, cfg.ID)
	}
	f.running[cfg.ID] = cfg
	f.order = append(f.order, cfg.ID)
	f.events = append(f.events, "add "+cfg.ID)
	return nil
}

func (f *fakeRunner) Remove(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.running[id]; !ok {
		return fmt.Errorf("%w: %q", defs.ErrUnknownCamera, id)
	}
	delete(f.running, id)
	f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
	f.events = append(f.events, "remove "+id)
	return nil
}

func (f *fakeRunner) status(id string) defs.Status {
	c := f.running[id]
	return defs.Status{ID: id, URL: c.RedactedURL, State: defs.StateRunning, Frames: 42}
}

func (f *fakeRunner) Get(id string) (defs.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.running[id]; !ok {
		return defs.Status{}, false
	}
	return f.status(id), true
}

func (f *fakeRunner) List() []defs.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]defs.Status, 0, len(f.order))
	for _, id := range f.order {
		out = append(out, f.status(id))
	}
	return out
}

// takeEvents returns the events since the last call.
func (f *fakeRunner) takeEvents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := f.events
	f.events = nil
	return ev
}

func (f *fakeRunner) config(id string) camera.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[id]
}

// apiEnv is a CameraAPI over a fake runner and a real config file, served by a real server.
type apiEnv struct {
	path    string
	cfg     *config.Config
	run     *fakeRunner
	api     *CameraAPI
	handler http.Handler
	forgot  []string
}

const apiTestConfig = `{
  "device": "cpu",
  "inference": {"model": "model.onnx"},
  "cameras": [
    {"id": "cam1", "url": "rtsp://admin:hunter2@10.0.0.1/live"},
    {"id": "cam2", "url": "rtsp://10.0.0.2/live", "enabled": false}
  ]
}
`

func newAPIEnv(t testing.TB, doc string) *apiEnv {
	t.Helper()
	cfg, path := test.WriteConfig(t, doc)
	e := &apiEnv{path: path, cfg: cfg, run: newFakeRunner()}
	for _, c := range cfg.Cameras {
		if c.IsEnabled() {
			if err := e.run.Add(CameraConfig(cfg, c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.run.takeEvents()
	e.api = newCameraAPI(cfg, e.run, nil, func(c config.Camera) (camera.Config, error) { return CameraConfig(cfg, c), nil },
		func(id string) { e.forgot = append(e.forgot, id) })
	e.handler = server.New(server.Options{}, server.Deps{Cameras: e.api}).Handler()
	return e
}

type apiResp struct {
	status int
	body   string
}

func (e *apiEnv) do(t testing.TB, method, path, body string) apiResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return apiResp{rec.Code, rec.Body.String()}
}

// fileCameras loads the config file as serve would and returns its cameras.
func (e *apiEnv) fileCameras(t testing.TB) []config.Camera {
	t.Helper()
	cfg, err := config.LoadWithEnv(e.path, nil)
	if err != nil {
		t.Fatalf("config file no longer loads: %v", err)
	}
	return cfg.Cameras
}

func (e *apiEnv) fileBytes(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFile asserts that the file's cameras equal the API's and the App config's.
func (e *apiEnv) checkFile(t testing.TB, step string) {
	t.Helper()
	file := e.fileCameras(t)
	mem := e.api.Cameras()
	if !camerasEqual(file, mem) || !camerasEqual(file, e.cfg.Cameras) {
		t.Fatalf("%s: config file cameras %s, in memory %s", step, jsonOf(file), jsonOf(mem))
	}
}

func camerasEqual(a, b []config.Camera) bool { return jsonOf(a) == jsonOf(b) }

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func statusOf(t testing.TB, r apiResp) defs.Status {
	t.Helper()
	var st defs.Status
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatalf("bad status body %q: %v", r.body, err)
	}
	return st
}

func expectEvents(t testing.TB, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("runner events %q, want %q", got, want)
	}
}

// TestCameraAPILifecycle: add, disable, re-enable, rename, change URL, delete; each change is in
// the file, touches only its camera, and disabled cameras stay listed as disabled.
func TestCameraAPILifecycle(t *testing.T) {
	e := newAPIEnv(t, apiTestConfig)

	// The disabled camera of the file is listed.
	var list []defs.Status
	r := e.do(t, "GET", "/api/cameras", "")
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if list[0].ID != "cam1" || list[0].State != defs.StateRunning || list[1].ID != "cam2" || list[1].State != defs.StateDisabled {
		t.Fatalf("list: %s", r.body)
	}
	if strings.Contains(r.body, "hunter2") || !strings.Contains(r.body, "admin:***@") {
		t.Fatalf("list shows the password or no redaction: %s", r.body)
	}

	r = e.do(t, "POST", "/api/cameras", `{"id":"cam3","url":"rtsp://u:pw@10.0.0.3/s","latency_ms":50}`)
	if r.status != 201 || statusOf(t, r).State != defs.StateRunning || statusOf(t, r).URL != "rtsp://u:***@10.0.0.3/s" {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "add cam3")
	if c := e.run.config("cam3"); c.URL != "rtsp://u:pw@10.0.0.3/s" || c.Latency.Milliseconds() != 50 || c.Transport != "tcp" {
		t.Fatalf("cam3 started with %+v", c)
	}
	e.checkFile(t, "add")

	r = e.do(t, "PATCH", "/api/cameras/cam3", `{"enabled":false}`)
	if r.status != 200 || statusOf(t, r).State != defs.StateDisabled {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "remove cam3")
	if !slices.Equal(e.forgot, []string{"cam3"}) {
		t.Fatalf("forgot %q after disabling cam3", e.forgot)
	}
	e.checkFile(t, "disable")
	if st, ok := e.api.Get("cam3"); !ok || st.State != defs.StateDisabled || st.Since.IsZero() {
		t.Fatalf("disabled camera: %+v %v", st, ok)
	}
	// Still listed, after cam2, in file order.
	r = e.do(t, "GET", "/api/cameras", "")
	list = nil
	_ = json.Unmarshal([]byte(r.body), &list)
	if len(list) != 3 || list[2].ID != "cam3" || list[2].State != defs.StateDisabled {
		t.Fatalf("list after disabling: %s", r.body)
	}

	r = e.do(t, "PATCH", "/api/cameras/cam3", `{"enabled":true}`)
	if r.status != 200 || statusOf(t, r).State != defs.StateRunning {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "add cam3")
	if c := e.run.config("cam3"); c.Latency.Milliseconds() != 50 {
		t.Fatalf("PATCH lost the latency: %+v", c)
	}
	e.checkFile(t, "enable")

	// A name change restarts nothing.
	r = e.do(t, "PATCH", "/api/cameras/cam3", `{"name":"Front door"}`)
	if r.status != 200 {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents())
	e.checkFile(t, "rename")

	// PATCH with null returns a field to its default.
	r = e.do(t, "PATCH", "/api/cameras/cam3", `{"latency_ms":null,"transport":"udp"}`)
	if r.status != 200 {
		t.Fatalf("patch null: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "remove cam3", "add cam3")
	if c := e.run.config("cam3"); c.Latency.Milliseconds() != config.DefaultLatencyMS || c.Transport != "udp" {
		t.Fatalf("after PATCH null: %+v", c)
	}
	e.checkFile(t, "patch null")

	// PUT replaces: absent fields take their defaults (the name goes back to the id).
	r = e.do(t, "PUT", "/api/cameras/cam3", `{"url":"rtsp://10.0.0.33/s"}`)
	if r.status != 200 || statusOf(t, r).URL != "rtsp://10.0.0.33/s" {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "remove cam3", "add cam3")
	if cams := e.api.Cameras(); cams[2].Name != "cam3" || cams[2].Transport != "tcp" {
		t.Fatalf("PUT did not replace: %+v", cams[2])
	}
	e.checkFile(t, "put")

	// Enabling the camera that the file had disabled starts only it.
	r = e.do(t, "PUT", "/api/cameras/cam2", `{"id":"cam2","url":"rtsp://10.0.0.2/live","enabled":true}`)
	if r.status != 200 {
		t.Fatalf("enable cam2: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "add cam2")
	e.checkFile(t, "enable cam2")

	if r = e.do(t, "DELETE", "/api/cameras/cam3", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "remove cam3")
	e.checkFile(t, "delete")
	if r = e.do(t, "GET", "/api/cameras/cam3", ""); r.status != 404 {
		t.Fatalf("deleted camera: %d %s", r.status, r.body)
	}
	// Deleting a disabled camera stops nothing.
	e.do(t, "PATCH", "/api/cameras/cam2", `{"enabled":false}`)
	e.run.takeEvents()
	if r = e.do(t, "DELETE", "/api/cameras/cam2", ""); r.status != 204 {
		t.Fatalf("delete disabled: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents())
	e.checkFile(t, "delete disabled")
	if cams := e.fileCameras(t); len(cams) != 1 || cams[0].ID != "cam1" {
		t.Fatalf("file cameras at the end: %s", jsonOf(cams))
	}
	// cam1 was never touched.
	if c := e.run.config("cam1"); c.ID != "cam1" {
		t.Fatal("cam1 is no longer running")
	}
}

// TestCameraAPIRejects: bad requests get 400 naming the field (409 for a duplicate, 404 for an
// unknown camera) and change nothing, neither the file nor the running cameras.
func TestCameraAPIRejects(t *testing.T) {
	e := newAPIEnv(t, apiTestConfig)
	before := e.fileBytes(t)
	cases := []struct {
		method, path, body string
		status             int
		want               string // in the error message
	}{
		{"POST", "/api/cameras", `{"id":"cam3","url":"http://10.0.0.3/"}`, 400, "cameras[2].url: scheme must be rtsp or rtsps"},
		{"POST", "/api/cameras", `{"id":"cam3"}`, 400, "cameras[2].url: required"},
		{"POST", "/api/cameras", `{"url":"rtsp://h/s"}`, 400, "cameras[2].id: required"},
		{"POST", "/api/cameras", `{"id":"bad id!","url":"rtsp://h/s"}`, 400, "cameras[2].id: must be"},
		{"POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s","urll":"x"}`, 400, `urll: unknown field (did you mean \"url\"?)`},
		{"POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s","latency_ms":"x"}`, 400, "latency_ms: expected an integer"},
		{"POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s","latency_ms":20000}`, 400, "cameras[2].latency_ms"},
		{"POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s","transport":"carrier-pigeon"}`, 400, "cameras[2].transport"},
		{"POST", "/api/cameras", `{"id":"cam3","id":"cam4","url":"rtsp://h/s"}`, 400, "id: duplicate field"},
		{"POST", "/api/cameras", `[1,2]`, 400, "expected a JSON object"},
		{"POST", "/api/cameras", `null`, 400, "expected a JSON object"},
		{"POST", "/api/cameras", `{"id":"cam1","url":"rtsp://h/s"}`, 409, `camera \"cam1\" already exists`},
		{"POST", "/api/cameras", `{"id":"cam2","url":"rtsp://h/s"}`, 409, `camera \"cam2\" already exists`},
		{"PATCH", "/api/cameras/cam1", `{"latency_ms":-5}`, 400, "cameras[0].latency_ms"},
		{"PATCH", "/api/cameras/cam1", `{"gpu":0}`, 400, `cameras[0].gpu: needs \"device\": \"cuda\", got \"cpu\"`},
		{"POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s","gpu":-1}`, 400, "cameras[2].gpu: must be at least 0, got -1"},
		{"PATCH", "/api/cameras/cam1", `{"id":"other"}`, 400, "cameras[0].id: cannot change the id"},
		{"PATCH", "/api/cameras/cam1", `{"url":""}`, 400, "cameras[0].url: required"},
		{"PATCH", "/api/cameras/cam1", `{"enabled":"yes"}`, 400, "enabled: expected true or false"},
		{"PATCH", "/api/cameras/cam1", `"x"`, 400, "expected a JSON object"},
		{"PATCH", "/api/cameras/nope", `{"enabled":false}`, 404, `camera \"nope\" not found`},
		{"PUT", "/api/cameras/cam1", `{"id":"cam1"}`, 400, "cameras[0].url: required"},
		{"PUT", "/api/cameras/cam1", `{"id":"cam2","url":"rtsp://h/s"}`, 400, "cameras[0].id: cannot change the id"},
		{"PUT", "/api/cameras/nope", `{"url":"rtsp://h/s"}`, 404, `camera \"nope\" not found`},
		{"DELETE", "/api/cameras/nope", ``, 404, `camera \"nope\" not found`},
	}
	for _, c := range cases {
		r := e.do(t, c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(r.body, c.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, r.status, r.body, c.status, c.want)
		}
	}
	if after := e.fileBytes(t); !bytes.Equal(before, after) {
		t.Errorf("rejected requests changed the file:\n%s", after)
	}
	expectEvents(t, e.run.takeEvents())
}

// TestCameraAPIWriteFailureLosesNothing: when the file cannot be written the change is not
// applied; when a saved change cannot be applied, the file is rolled back.
func TestCameraAPIWriteFailureLosesNothing(t *testing.T) {
	e := newAPIEnv(t, apiTestConfig)
	before := e.fileBytes(t)
	mem := e.api.Cameras()
	diskFull := errors.New("no space left on device")
	e.api.save = func(string, *config.Config) error { return diskFull }
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s"}`},
		{"PATCH", "/api/cameras/cam1", `{"enabled":false}`},
		{"PUT", "/api/cameras/cam2", `{"url":"rtsp://h/s"}`},
		{"DELETE", "/api/cameras/cam1", ``},
	} {
		r := e.do(t, c.method, c.path, c.body)
		if r.status != 500 || strings.Contains(r.body, "space") {
			t.Errorf("%s %s with a failing disk: %d %s, want a generic 500", c.method, c.path, r.status, r.body)
		}
	}
	// The error itself says what failed, for the log.
	if _, err := e.api.PatchCamera(t.Context(), "cam1", json.RawMessage(`{"enabled":false}`)); !errors.Is(err, ErrConfigWrite) || !errors.Is(err, diskFull) {
		t.Errorf("error %v, want ErrConfigWrite wrapping the disk's", err)
	}
	expectEvents(t, e.run.takeEvents())
	if !camerasEqual(mem, e.api.Cameras()) || !camerasEqual(mem, e.cfg.Cameras) {
		t.Errorf("memory changed: %s", jsonOf(e.api.Cameras()))
	}
	if !bytes.Equal(before, e.fileBytes(t)) {
		t.Errorf("file changed")
	}

	// Saved, but the camera cannot start: the file is rolled back.
	e.api.save = config.Save
	e.run.failAdd = errors.New("pipeline refused")
	r := e.do(t, "POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s"}`)
	if r.status != 500 {
		t.Fatalf("add with a failing start: %d %s", r.status, r.body)
	}
	e.checkFile(t, "rolled back")
	if len(e.api.Cameras()) != 2 {
		t.Fatalf("cameras after rollback: %s", jsonOf(e.api.Cameras()))
	}
	e.run.failAdd = nil
	if r := e.do(t, "POST", "/api/cameras", `{"id":"cam3","url":"rtsp://h/s"}`); r.status != 201 {
		t.Fatalf("add after rollback: %d %s", r.status, r.body)
	}
}

// TestCameraAPIWithoutFile: a config that came from no file keeps changes in memory.
func TestCameraAPIWithoutFile(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"inference":{"model":"m.onnx"}}`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	run := newFakeRunner()
	api := newCameraAPI(cfg, run, nil, func(c config.Camera) (camera.Config, error) { return CameraConfig(cfg, c), nil }, nil)
	st, err := api.AddCamera(t.Context(), json.RawMessage(`{"id":"a","url":"rtsp://h/s"}`))
	if err != nil || st.State != defs.StateRunning {
		t.Fatalf("add: %+v %v", st, err)
	}
	if len(cfg.Cameras) != 1 || cfg.Cameras[0].ID != "a" {
		t.Fatalf("config cameras %s", jsonOf(cfg.Cameras))
	}
	if err := api.RemoveCamera(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if len(api.List()) != 0 {
		t.Fatalf("list after remove: %+v", api.List())
	}
}

// FuzzAddCamera: whatever the body, POST /api/cameras never panics and never answers 5xx
// (the file is written for real, so a body that passes ValidateCamera but not Validate
// would show up as a 500).
func FuzzAddCamera(f *testing.F) {
	for _, s := range []string{
		`{"id":"cam3","url":"rtsp://h/s"}`,
		`{"id":"cam3","url":"rtsp://u:p@h:554/s","enabled":false,"transport":"udp","latency_ms":0,"name":"x"}`,
		`{"id":"cam1","url":"rtsp://h/s"}`,
		`{"id":"a","url":"rtsp://[::1]:99999/s"}`,
		`{"id":"a","url":"rtsps://h/s?x=@y#z"}`,
		`{"id":null,"url":null,"enabled":null}`,
		`{"id":"x\u0000","url":"rtsp://h/\u00ff"}`,
		`{}`, `[]`, `null`, `"x"`, `1e999`, `{"id":`, ``, `{"a":{"b":[1,{"c":2}]}}`,
	} {
		f.Add(s)
	}
	e := newAPIEnv(f, apiTestConfig)
	f.Fuzz(func(t *testing.T, body string) {
		r := e.do(t, "POST", "/api/cameras", body)
		if r.status >= 500 {
			t.Fatalf("POST %q: %d %s", body, r.status, r.body)
		}
		if r.status == 201 {
			// Keep the config small and ids free for the next inputs.
			id := statusOf(t, r).ID
			if d := e.do(t, "DELETE", "/api/cameras/"+id, ""); d.status != 204 {
				t.Fatalf("DELETE %q after adding %q: %d %s", id, body, d.status, d.body)
			}
		}
		r = e.do(t, "PATCH", "/api/cameras/cam2", body)
		if r.status >= 500 {
			t.Fatalf("PATCH %q: %d %s", body, r.status, r.body)
		}
	})
}

// TestCameraAPIHostileBody: a body of thousands of duplicate keys is refused at once, and a
// long list of field errors is cut short.
func TestCameraAPIHostileBody(t *testing.T) {
	e := newAPIEnv(t, apiTestConfig)
	big := "{" + strings.Repeat(`"x":1,`, 100000) + `"id":"a"}`
	start := time.Now()
	r := e.do(t, "POST", "/api/cameras", big)
	if r.status != 400 || !strings.Contains(r.body, "at most") || time.Since(start) > time.Second {
		t.Fatalf("huge body: %d %.200s after %v", r.status, r.body, time.Since(start))
	}
	many := "{" + strings.Repeat(`"x":1,`, 50) + `"id":"a"}`
	r = e.do(t, "PATCH", "/api/cameras/cam1", many)
	if r.status != 400 || !strings.Contains(r.body, "and 40 more problems") {
		t.Fatalf("many errors: %d %s", r.status, r.body)
	}
}

// TestCameraAPIView: with WebRTC, every status (list and single, running and disabled) says
// which view a passthrough request gets and why.
func TestCameraAPIView(t *testing.T) {
	e := newAPIEnv(t, apiTestConfig)
	e.api.setViewOf(func(id string) (string, string) {
		if id == "cam1" {
			return "annotated", "B-frames"
		}
		return "passthrough", ""
	})
	var list []defs.Status
	r := e.do(t, "GET", "/api/cameras", "")
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if list[0].View != "annotated" || list[0].ViewReason != "B-frames" || list[1].View != "passthrough" || list[1].ViewReason != "" {
		t.Errorf("list: %s", r.body)
	}
	if st := statusOf(t, e.do(t, "GET", "/api/cameras/cam1", "")); st.View != "annotated" || st.ViewReason != "B-frames" {
		t.Errorf("cam1: view %q, reason %q", st.View, st.ViewReason)
	}
}

// TestCameraAPIGPU: in cuda mode a camera's gpu must be one of the GPUs in use (the error
// names the field); changing it restarts the camera (on its new GPU) and is saved.
func TestCameraAPIGPU(t *testing.T) {
	e := newAPIEnv(t, `{
  "device": "cuda",
  "gpus": [0, 1],
  "inference": {"model": "model.onnx"},
  "cameras": [{"id": "cam1", "url": "rtsp://10.0.0.1/live", "gpu": 0}]
}
`)
	e.api.gpus = []int{0, 1}
	r := e.do(t, "POST", "/api/cameras", `{"id":"cam2","url":"rtsp://h/s","gpu":2}`)
	if r.status != 400 || !strings.Contains(r.body, "cameras[1].gpu: GPU 2 is not among the GPUs in use [0 1]") {
		t.Errorf("POST with gpu 2: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents())
	r = e.do(t, "PATCH", "/api/cameras/cam1", `{"gpu":1}`)
	if r.status != 200 {
		t.Fatalf("PATCH gpu 1: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents(), "remove cam1", "add cam1")
	if !strings.Contains(string(e.fileBytes(t)), `"gpu": 1`) {
		t.Errorf("the file lacks the new gpu:\n%s", e.fileBytes(t))
	}
	r = e.do(t, "PATCH", "/api/cameras/cam1", `{"name":"yard"}`)
	if r.status != 200 {
		t.Fatalf("PATCH name: %d %s", r.status, r.body)
	}
	expectEvents(t, e.run.takeEvents()) // same gpu: no restart
}
