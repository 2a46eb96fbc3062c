package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/test"
)

var since = time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)

// fakeCameras is an in-memory registry.
type fakeCameras struct {
	mu   sync.Mutex
	list []defs.Status
}

func newFakeCameras(states ...defs.State) *fakeCameras {
	f := &fakeCameras{}
	for i, st := range states {
		f.list = append(f.list, defs.Status{
			ID: fmt.Sprintf("cam%d", i+1), URL: "rtsp://***@10.0.0.1/s", State: st, Since: since,
		})
	}
	return f
}

func (f *fakeCameras) List() []defs.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]defs.Status(nil), f.list...)
}

func (f *fakeCameras) Get(id string) (defs.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.list {
		if c.ID == id {
			return c, true
		}
	}
	return defs.Status{}, false
}

// fakeManager adds run-time management to fakeCameras.
type fakeManager struct{ *fakeCameras }

type spec struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

type statusErr struct{ code int }

func (e statusErr) Error() string   { return "status " + fmt.Sprint(e.code) }
func (e statusErr) HTTPStatus() int { return e.code }

func (m fakeManager) AddCamera(_ context.Context, raw json.RawMessage) (defs.Status, error) {
	var sp spec
	if err := json.Unmarshal(raw, &sp); err != nil || sp.ID == "" {
		return defs.Status{}, fmt.Errorf("camera spec: id missing: %w", ErrBadRequest)
	}
	if sp.ID == "teapot" {
		return defs.Status{}, fmt.Errorf("wrapped: %w", statusErr{http.StatusTeapot})
	}
	if _, ok := m.Get(sp.ID); ok {
		return defs.Status{}, fmt.Errorf("camera %q exists: %w", sp.ID, ErrConflict)
	}
	st := defs.Status{ID: sp.ID, URL: sp.URL, State: defs.StateStarting, Since: since}
	m.mu.Lock()
	m.list = append(m.list, st)
	m.mu.Unlock()
	return st, nil
}

func (m fakeManager) UpdateCamera(_ context.Context, id string, raw json.RawMessage) (defs.Status, error) {
	var sp spec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return defs.Status{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.list {
		if m.list[i].ID == id {
			m.list[i].URL = sp.URL
			return m.list[i], nil
		}
	}
	return defs.Status{}, fmt.Errorf("camera %q %w", id, ErrNotFound)
}

func (m fakeManager) RemoveCamera(_ context.Context, id string) error {
	if id == "boom" {
		return errors.New("disk on fire")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.list {
		if m.list[i].ID == id {
			m.list = append(m.list[:i], m.list[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("camera %q %w", id, ErrNotFound)
}

type env struct {
	srv  *Server
	hub  *results.Hub
	cams *fakeCameras
	ts   *httptest.Server
}

func newEnv(t *testing.T, opts Options, cams Cameras) *env {
	t.Helper()
	hub := results.NewHub(results.Options{})
	s := New(opts, Deps{Cameras: cams, Results: hub})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.Close()
	})
	e := &env{srv: s, hub: hub, ts: ts}
	switch c := cams.(type) {
	case *fakeCameras:
		e.cams = c
	case fakeManager:
		e.cams = c.fakeCameras
	}
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(t *testing.T, method, path string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json") // as API clients send; hdr may change it
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Content-Type" && hdr[i+1] == "" {
			req.Header.Del(hdr[i]) // no Content-Type at all
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (r response) expect(t *testing.T, status int, body string) {
	t.Helper()
	if r.status != status || (body != "" && r.body != body+"\n") {
		t.Errorf("got %d %q, want %d %q", r.status, r.body, status, body+"\n")
	}
	if body != "" && r.header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning, defs.StateReconnecting))
	e.do(t, "GET", "/healthz", nil).expect(t, 200, `{"status":"ok","cameras":2,"running":1}`)
	e.do(t, "HEAD", "/healthz", nil).expect(t, 200, "")

	none := newEnv(t, Options{}, nil)
	none.do(t, "GET", "/healthz", nil).expect(t, 200, `{"status":"ok","cameras":0,"running":0}`)
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name   string
		states []defs.State
		status int
		body   string
	}{
		{"no cameras", nil, 200, `{"status":"ready","cameras":0,"running":0}`},
		{"none running", []defs.State{defs.StateStarting, defs.StateFailed}, 503, `{"status":"not ready","cameras":2,"running":0}`},
		{"one running", []defs.State{defs.StateStarting, defs.StateRunning}, 200, `{"status":"ready","cameras":2,"running":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{}, newFakeCameras(tt.states...))
			e.do(t, "GET", "/readyz", nil).expect(t, tt.status, tt.body)
		})
	}
	t.Run("shutting down", func(t *testing.T) {
		s := New(Options{}, Deps{})
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != 503 || rec.Body.String() != `{"status":"shutting down","cameras":0,"running":0}`+"\n" {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	})
}

func TestCameras(t *testing.T) {
	cams := newFakeCameras(defs.StateRunning, defs.StateFailed)
	cams.list[0].FPS = 25
	cams.list[0].Frames = 100
	cams.list[0].Width, cams.list[0].Height, cams.list[0].Codec = 640, 360, "h264"
	cams.list[1].LastError = "connection refused"
	e := newEnv(t, Options{}, cams)

	cam1 := `{"id":"cam1","url":"rtsp://***@10.0.0.1/s","state":"running","fps":25,"frames":100,"inferred":0,"dropped":0,"reconnects":0,"since":"2026-11-25T21:00:00Z","width":640,"height":360,"codec":"h264"}`
	cam2 := `{"id":"cam2","url":"rtsp://***@10.0.0.1/s","state":"failed","fps":0,"frames":0,"inferred":0,"dropped":0,"reconnects":0,"last_error":"connection refused","since":"2026-11-25T21:00:00Z"}`
	e.do(t, "GET", "/api/cameras", nil).expect(t, 200, "["+cam1+","+cam2+"]")
	e.do(t, "GET", "/api/cameras/cam2", nil).expect(t, 200, cam2)
	e.do(t, "GET", "/api/cameras/x", nil).expect(t, 404, `{"error":"camera \"x\" not found"}`)

	empty := newEnv(t, Options{}, nil)
	empty.do(t, "GET", "/api/cameras", nil).expect(t, 200, `[]`)
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	e := newEnv(t, Options{Token: "secret"}, newFakeCameras())
	e.do(t, "GET", "/nope", nil).expect(t, 404, `{"error":"not found"}`)
	e.do(t, "GET", "/api/cameras/a/b", nil).expect(t, 404, `{"error":"not found"}`)
	r := e.do(t, "POST", "/healthz", strings.NewReader("{}"))
	r.expect(t, 405, `{"error":"method not allowed"}`)
	if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("Allow = %q, want %q", allow, "GET, HEAD")
	}
	r = e.do(t, "POST", "/api/cameras/cam1", nil)
	r.expect(t, 405, `{"error":"method not allowed"}`)
	if allow := r.header.Get("Allow"); allow != "DELETE, GET, HEAD, PATCH, PUT" {
		t.Errorf("Allow = %q", allow)
	}
}

func TestCameraManagementNotImplemented(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning))
	want := `{"error":"camera management is not implemented"}`
	e.do(t, "POST", "/api/cameras", strings.NewReader(`{"id":"x"}`)).expect(t, 501, want)
	e.do(t, "PUT", "/api/cameras/cam1", strings.NewReader(`{}`)).expect(t, 501, want)
	e.do(t, "DELETE", "/api/cameras/cam1", nil).expect(t, 501, want)
}

func TestCameraManagement(t *testing.T) {
	e := newEnv(t, Options{}, fakeManager{newFakeCameras(defs.StateRunning)})
	body := `{"id":"cam9","url":"rtsp://h/s"}`
	r := e.do(t, "POST", "/api/cameras", strings.NewReader(body))
	r.expect(t, 201, `{"id":"cam9","url":"rtsp://h/s","state":"starting","fps":0,"frames":0,"inferred":0,"dropped":0,"reconnects":0,"since":"2026-11-25T21:00:00Z"}`)
	if loc := r.header.Get("Location"); loc != "/api/cameras/cam9" {
		t.Errorf("Location = %q", loc)
	}
	e.do(t, "POST", "/api/cameras", strings.NewReader(body)).expect(t, 409, `{"error":"camera \"cam9\" exists: conflict"}`)
	e.do(t, "POST", "/api/cameras", strings.NewReader(`{"id":"teapot"}`)).expect(t, 418, `{"error":"wrapped: status 418"}`)
	e.do(t, "POST", "/api/cameras", strings.NewReader(`{"id":`)).expect(t, 400, `{"error":"bad request: invalid JSON: unexpected EOF"}`)
	e.do(t, "POST", "/api/cameras", strings.NewReader(`{} {}`)).expect(t, 400, `{"error":"bad request: trailing data after the JSON value"}`)
	e.do(t, "POST", "/api/cameras", nil, "Content-Type", "application/json").expect(t, 400, `{"error":"bad request: empty body"}`)

	e.do(t, "PUT", "/api/cameras/cam9", strings.NewReader(`{"url":"rtsp://h/t"}`)).expect(t, 200, `{"id":"cam9","url":"rtsp://h/t","state":"starting","fps":0,"frames":0,"inferred":0,"dropped":0,"reconnects":0,"since":"2026-11-25T21:00:00Z"}`)
	e.do(t, "PUT", "/api/cameras/zz", strings.NewReader(`{}`)).expect(t, 404, `{"error":"camera \"zz\" not found"}`)
	r = e.do(t, "DELETE", "/api/cameras/cam9", nil)
	if r.status != 204 || r.body != "" {
		t.Errorf("DELETE: %d %q", r.status, r.body)
	}
	e.do(t, "GET", "/api/cameras/cam9", nil).expect(t, 404, `{"error":"camera \"cam9\" not found"}`)
	e.do(t, "DELETE", "/api/cameras/boom", nil).expect(t, 500, `{"error":"internal server error"}`)
}

func TestToken(t *testing.T) {
	e := newEnv(t, Options{Token: "s3cret"}, newFakeCameras(defs.StateRunning))
	unauth := `{"error":"missing or invalid token"}`
	r := e.do(t, "GET", "/api/cameras", nil)
	r.expect(t, 401, unauth)
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	e.do(t, "GET", "/api/cameras", nil, "Authorization", "Bearer wrong").expect(t, 401, unauth)
	e.do(t, "GET", "/api/cameras", nil, "Authorization", "Basic s3cret").expect(t, 401, unauth)
	e.do(t, "GET", "/api/cameras?token=wrong", nil).expect(t, 401, unauth)
	e.do(t, "GET", "/api/cameras?token=s3cre", nil).expect(t, 401, unauth)
	e.do(t, "GET", "/ws", nil).expect(t, 401, unauth)

	if r := e.do(t, "GET", "/api/cameras", nil, "Authorization", "Bearer s3cret"); r.status != 200 {
		t.Errorf("with header: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/api/cameras", nil, "Authorization", "bearer  s3cret"); r.status != 200 {
		t.Errorf("with lower-case scheme: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/api/cameras?token=s3cret", nil); r.status != 200 {
		t.Errorf("with ?token=: %d %s", r.status, r.body)
	}
	e.do(t, "GET", "/healthz", nil).expect(t, 200, `{"status":"ok","cameras":1,"running":1}`)
	e.do(t, "GET", "/readyz", nil).expect(t, 200, `{"status":"ready","cameras":1,"running":1}`)

	// Routes added by other packages: public ones stay open, the rest need the token.
	ok := func(w http.ResponseWriter, _ *http.Request) { WriteJSON(w, 200, "hi") }
	if err := e.srv.HandleFunc("GET /{$}", ok, true); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.HandleFunc("POST /whep/{camera}", ok, false); err != nil {
		t.Fatal(err)
	}
	e.do(t, "GET", "/", nil).expect(t, 200, `"hi"`)
	e.do(t, "POST", "/whep/cam1", nil).expect(t, 401, unauth)
	e.do(t, "POST", "/whep/cam1", nil, "Authorization", "Bearer s3cret").expect(t, 200, `"hi"`)
}

func TestCORS(t *testing.T) {
	e := newEnv(t, Options{CORSOrigins: []string{"https://ui.example.com", "http://localhost:3000/"}, Token: "t"}, newFakeCameras())
	r := e.do(t, "OPTIONS", "/whep/cam1", nil,
		"Origin", "https://ui.example.com",
		"Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type")
	if r.status != 204 || r.body != "" {
		t.Fatalf("preflight: %d %q", r.status, r.body)
	}
	wantHdr := map[string]string{
		"Access-Control-Allow-Origin":  "https://ui.example.com",
		"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
		"Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
		"Access-Control-Max-Age":       "600",
	}
	for k, v := range wantHdr {
		if got := r.header.Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	if vary := strings.Join(r.header.Values("Vary"), ","); !strings.Contains(vary, "Origin") {
		t.Errorf("Vary = %q", vary)
	}

	r = e.do(t, "GET", "/api/cameras", nil, "Origin", "http://localhost:3000", "Authorization", "Bearer t")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		r.header.Get("Access-Control-Expose-Headers") != "Location, Link, ETag" {
		t.Errorf("simple request: %d %v", r.status, r.header)
	}
	// CORS headers are on error responses too, so browsers can read them.
	r = e.do(t, "GET", "/api/cameras", nil, "Origin", "http://localhost:3000")
	if r.status != 401 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("401 response: %d %v", r.status, r.header)
	}

	r = e.do(t, "OPTIONS", "/api/cameras", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
	r.expect(t, 403, `{"error":"origin \"https://evil.example\" not allowed"}`)
	r = e.do(t, "GET", "/healthz", nil, "Origin", "https://evil.example")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin got CORS headers: %v", r.header)
	}

	any := newEnv(t, Options{CORSOrigins: []string{"*"}}, newFakeCameras())
	r = any.do(t, "OPTIONS", "/api/cameras", nil, "Origin", "https://x.example", "Access-Control-Request-Method", "DELETE")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("wildcard preflight: %d %v", r.status, r.header)
	}

	off := newEnv(t, Options{}, newFakeCameras())
	r = off.do(t, "GET", "/healthz", nil, "Origin", "https://x.example")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS off but got %v", r.header)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, Options{MaxBodyBytes: 16}, nil)
	echo := func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadBody(r)
		if err != nil {
			WriteErr(w, err)
			return
		}
		WriteJSON(w, 200, string(b))
	}
	if err := e.srv.HandleFunc("POST /echo", echo, true); err != nil {
		t.Fatal(err)
	}
	e.do(t, "POST", "/echo", strings.NewReader("0123456789abcdef")).expect(t, 200, `"0123456789abcdef"`)
	want := `{"error":"request body too large (limit 16 bytes)"}`
	e.do(t, "POST", "/echo", strings.NewReader("0123456789abcdefX")).expect(t, 413, want)
	// Without Content-Length (chunked) the limit is met while reading.
	chunked := io.MultiReader(strings.NewReader("0123456789"), strings.NewReader("abcdefXYZ"))
	e.do(t, "POST", "/echo", struct{ io.Reader }{chunked}).expect(t, 413, want)
	// Built-in routes that decode JSON bodies too.
	m := newEnv(t, Options{MaxBodyBytes: 16}, fakeManager{newFakeCameras()})
	m.do(t, "POST", "/api/cameras", strings.NewReader(`{"id":"a-very-long-camera-id"}`)).expect(t, 413, want)
}

func TestPanicRecovery(t *testing.T) {
	var logBuf test.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	e := newEnv(t, Options{Logger: logger}, nil)
	if err := e.srv.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) {
		var m map[string]int
		m["x"] = 1 //lint:ignore SA5000 a deliberate panic: the test checks the recovery middleware
	}, true); err != nil {
		t.Fatal(err)
	}
	e.do(t, "GET", "/panic", nil).expect(t, 500, `{"error":"internal server error"}`)
	e.do(t, "GET", "/healthz", nil).expect(t, 200, `{"status":"ok","cameras":0,"running":0}`)
	if !strings.Contains(logBuf.String(), "http handler panic") {
		t.Errorf("panic not logged: %s", logBuf.String())
	}
}

func TestHandleErrors(t *testing.T) {
	s := New(Options{}, Deps{})
	nop := func(http.ResponseWriter, *http.Request) {}
	if err := s.HandleFunc("GET /healthz", nop, true); !errors.Is(err, ErrBadPattern) {
		t.Errorf("duplicate pattern: %v, want ErrBadPattern", err)
	}
	if err := s.HandleFunc("GET /{a", nop, true); !errors.Is(err, ErrBadPattern) {
		t.Errorf("bad pattern: %v, want ErrBadPattern", err)
	}
	if err := s.Handle("GET /x", nil, true); !errors.Is(err, ErrBadPattern) {
		t.Errorf("nil handler: %v, want ErrBadPattern", err)
	}
}

func TestRequestLogging(t *testing.T) {
	var logBuf test.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, Options{Logger: logger, Token: "s3cret"}, nil)
	e.do(t, "GET", "/api/cameras?token=s3cret", nil)
	out := logBuf.String()
	if !strings.Contains(out, "path=/api/cameras") || !strings.Contains(out, "status=200") || !strings.Contains(out, "method=GET") {
		t.Errorf("request log missing fields: %s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("token leaked into the log: %s", out)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning))
	e.hub.Publish(results.Result{Camera: "cam1"})
	r := e.do(t, "GET", "/api/stats", nil)
	var got struct {
		Cameras   int           `json:"cameras"`
		Running   int           `json:"running"`
		Results   results.Stats `json:"results"`
		WSClients []any         `json:"ws_clients"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	if got.Cameras != 1 || got.Running != 1 || got.Results.Published != 1 || got.WSClients == nil {
		t.Errorf("stats = %s", r.body)
	}
}

func TestListenAndServe(t *testing.T) {
	s := New(Options{Listen: "127.0.0.1:0"}, Deps{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Addr() == nil {
		t.Fatal("server did not start")
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}

	bad := New(Options{Listen: "127.0.0.1:-1"}, Deps{})
	if err := bad.ListenAndServe(context.Background()); err == nil {
		t.Error("ListenAndServe on a bad address returned nil")
	}
}
