package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
)

// recordingCameras is a camera manager and patcher that records every call that changes state.
type recordingCameras struct {
	fakePatcher
	mu    sync.Mutex
	calls []string
}

func newRecordingCameras() *recordingCameras {
	return &recordingCameras{fakePatcher: fakePatcher{fakeManager{newFakeCameras(defs.StateRunning)}}}
}

func (c *recordingCameras) record(call string) {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
}

// takeCalls returns the calls recorded since the last takeCalls.
func (c *recordingCameras) takeCalls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

func (c *recordingCameras) AddCamera(ctx context.Context, spec json.RawMessage) (defs.Status, error) {
	c.record("add")
	return c.fakePatcher.AddCamera(ctx, spec)
}

func (c *recordingCameras) UpdateCamera(ctx context.Context, id string, spec json.RawMessage) (defs.Status, error) {
	c.record("update " + id)
	return c.fakePatcher.UpdateCamera(ctx, id, spec)
}

func (c *recordingCameras) PatchCamera(ctx context.Context, id string, patch json.RawMessage) (defs.Status, error) {
	c.record("patch " + id)
	return c.fakePatcher.PatchCamera(ctx, id, patch)
}

func (c *recordingCameras) RemoveCamera(ctx context.Context, id string) error {
	c.record("remove " + id)
	return c.fakePatcher.RemoveCamera(ctx, id)
}

// addWHEPLike registers routes shaped like WHEP's, as another package would, recording calls.
func addWHEPLike(t *testing.T, e *env, c *recordingCameras) {
	t.Helper()
	rec := func(w http.ResponseWriter, r *http.Request) {
		c.record("whep " + r.Method)
		w.WriteHeader(http.StatusCreated)
	}
	for _, p := range []string{"POST /whep/{camera}", "DELETE /whep/{camera}/{session}"} {
		if err := e.srv.HandleFunc(p, rec, false); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *recordingCameras) expectCalls(t *testing.T, want ...string) {
	t.Helper()
	if got := c.takeCalls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestJSONContentType: camera bodies must be sent as JSON; a "simple" text/plain or form POST,
// which a page of any site can send, is refused before the manager sees it.
func TestJSONContentType(t *testing.T) {
	cams := newRecordingCameras()
	e := newEnv(t, Options{}, cams)
	spec := `{"id":"cam9","url":"rtsp://h/s"}`
	for _, tc := range []struct{ method, path, ct string }{
		{"POST", "/api/cameras", "text/plain"},
		{"POST", "/api/cameras", "text/plain;charset=UTF-8"},
		{"POST", "/api/cameras", "application/x-www-form-urlencoded"},
		{"POST", "/api/cameras", "multipart/form-data; boundary=x"},
		{"POST", "/api/cameras", "application/jsonx"},
		{"PUT", "/api/cameras/cam1", "text/plain"},
		{"PATCH", "/api/cameras/cam1", "text/plain"},
	} {
		r := e.do(t, tc.method, tc.path, strings.NewReader(spec), "Content-Type", tc.ct)
		b, _ := json.Marshal(errorBody{Error: `unsupported media type: Content-Type "` + tc.ct + `", want application/json`})
		r.expect(t, http.StatusUnsupportedMediaType, string(b))
	}
	cams.expectCalls(t)
	if _, ok := cams.Get("cam9"); ok {
		t.Fatal("a text/plain POST added a camera")
	}

	e.do(t, "POST", "/api/cameras", strings.NewReader(spec), "Content-Type", "application/json; charset=utf-8").expect(t, 201, "")
	e.do(t, "PUT", "/api/cameras/cam9", strings.NewReader(`{"url":"rtsp://h/t"}`), "Content-Type", "Application/JSON").expect(t, 200, "")
	// PATCH also takes the JSON merge patch type, as before.
	e.do(t, "PATCH", "/api/cameras/cam9", strings.NewReader(`{"url":"rtsp://h/u"}`), "Content-Type", "application/merge-patch+json").expect(t, 200, "")
	// No Content-Type is refused too: a browser sends none for a Blob body, without a preflight.
	b, _ := json.Marshal(errorBody{Error: `unsupported media type: Content-Type "", want application/json`})
	e.do(t, "PATCH", "/api/cameras/cam9", strings.NewReader(`{}`), "Content-Type", "").expect(t, 415, string(b))
	cams.expectCalls(t, "add", "update cam9", "patch cam9")
}

// TestCrossOriginWritesRefused: with the default policy (the server's own origin only), a page
// of another origin can change nothing, whatever the method, content type or route, nor pass a
// preflight.
func TestCrossOriginWritesRefused(t *testing.T) {
	for name, opts := range map[string]Options{
		"default":        {},
		"listed origins": {CORSOrigins: []string{"https://ui.example.com"}},
		"token":          {Token: "tok"},
	} {
		t.Run(name, func(t *testing.T) { crossOriginWritesRefused(t, opts) })
	}
}

func crossOriginWritesRefused(t *testing.T, opts Options) {
	cams := newRecordingCameras()
	e := newEnv(t, opts, cams)
	addWHEPLike(t, e, cams)
	for _, origin := range []string{"https://evil.example", "null", e.ts.URL + ".evil.example"} {
		b, _ := json.Marshal(errorBody{Error: `origin "` + origin + `" not allowed`})
		for _, tc := range []struct{ method, path, body, ct string }{
			{"POST", "/api/cameras", `{"id":"cam9","url":"rtsp://h/s"}`, "text/plain"},
			{"POST", "/api/cameras", `{"id":"cam9","url":"rtsp://h/s"}`, "application/json"},
			{"PUT", "/api/cameras/cam1", `{"url":"rtsp://h/t"}`, "application/json"},
			{"PATCH", "/api/cameras/cam1", `{"url":"rtsp://h/t"}`, "application/merge-patch+json"},
			{"DELETE", "/api/cameras/cam1", "", ""},
			{"POST", "/whep/cam1", "v=0", "application/sdp"},
			{"DELETE", "/whep/cam1/s1", "", ""},
			{"POST", "/nowhere", "x", "text/plain"},
		} {
			r := e.do(t, tc.method, tc.path, strings.NewReader(tc.body),
				"Origin", origin, "Content-Type", tc.ct, "Authorization", "Bearer tok")
			if r.status != http.StatusForbidden || r.body != string(b)+"\n" {
				t.Errorf("%s %s from %s: %d %s, want 403 %s", tc.method, tc.path, origin, r.status, r.body, b)
			}
		}
		r := e.do(t, "OPTIONS", "/api/cameras/cam1", nil, "Origin", origin, "Access-Control-Request-Method", "DELETE")
		r.expect(t, http.StatusForbidden, string(b))
	}
	// A browser that left Origin out still marks a request from another site.
	r := e.do(t, "DELETE", "/api/cameras/cam1", nil, "Sec-Fetch-Site", "cross-site", "Authorization", "Bearer tok")
	r.expect(t, http.StatusForbidden, `{"error":"cross-site request without Origin not allowed"}`)
	cams.expectCalls(t)
	if got := cams.List(); len(got) != 1 || got[0].URL != "rtsp://***@10.0.0.1/s" {
		t.Errorf("cameras changed: %v", got)
	}
	// Reads from anywhere still work (the browser keeps their answers from foreign pages).
	r = e.do(t, "GET", "/api/cameras/cam1", nil, "Origin", "https://evil.example", "Authorization", "Bearer tok")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("cross-origin GET: %d %v", r.status, r.header)
	}
}

// TestSameOriginAndListedWrites: the server's own origin (its viewer page), origins listed in
// CORSOrigins, any origin with "*", and clients without Origin may change state.
func TestSameOriginAndListedWrites(t *testing.T) {
	ctJSON := []string{"Content-Type", "application/json"}
	t.Run("same origin", func(t *testing.T) {
		cams := newRecordingCameras()
		e := newEnv(t, Options{}, cams)
		addWHEPLike(t, e, cams)
		self := e.ts.URL // http://127.0.0.1:port, the Host the client sends
		e.do(t, "POST", "/api/cameras", strings.NewReader(`{"id":"cam9","url":"rtsp://h/s"}`), append(ctJSON, "Origin", self, "Sec-Fetch-Site", "same-origin")...).expect(t, 201, "")
		e.do(t, "POST", "/whep/cam1", strings.NewReader("v=0"), "Origin", self, "Content-Type", "application/sdp").expect(t, 201, "")
		// Behind a proxy that terminates TLS and forwards Host, the page's origin is https.
		https := "https://" + strings.TrimPrefix(self, "http://")
		e.do(t, "DELETE", "/api/cameras/cam9", nil, "Origin", https).expect(t, 204, "")
		// curl and other servers send no Origin.
		e.do(t, "DELETE", "/api/cameras/cam1", nil).expect(t, 204, "")
		cams.expectCalls(t, "add", "whep POST", "remove cam9", "remove cam1")
	})
	t.Run("listed origin", func(t *testing.T) {
		cams := newRecordingCameras()
		e := newEnv(t, Options{CORSOrigins: []string{"https://ui.example.com"}}, cams)
		r := e.do(t, "PATCH", "/api/cameras/cam1", strings.NewReader(`{"url":"rtsp://h/x"}`), append(ctJSON, "Origin", "https://UI.example.com")...)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://UI.example.com" {
			t.Errorf("PATCH from a listed origin: %d %v %s", r.status, r.header, r.body)
		}
		cams.expectCalls(t, "patch cam1")
	})
	t.Run("any origin", func(t *testing.T) {
		cams := newRecordingCameras()
		e := newEnv(t, Options{CORSOrigins: []string{"*"}}, cams)
		e.do(t, "DELETE", "/api/cameras/cam1", nil, "Origin", "https://anywhere.example", "Sec-Fetch-Site", "cross-site").expect(t, 204, "")
		cams.expectCalls(t, "remove cam1")
	})
}

// TestWSOriginDefault: with the default policy the viewer's own WebSocket connects, a foreign
// page's does not.
func TestWSOriginDefault(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras())
	e.dial(t, "", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.ts.URL}}})
	ctx, cancel := context.WithTimeout(context.Background(), closeBound)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.wsURL(""), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from a foreign origin: %v %v; want 403", err, resp)
	}
}

// TestDefaultConfigIsSameOriginOnly: the default of server.cors_origins, as app hands it to New,
// lets the server's own pages read and write, and pages of other origins neither.
func TestDefaultConfigIsSameOriginOnly(t *testing.T) {
	cams := newRecordingCameras()
	e := newEnv(t, Options{CORSOrigins: config.Default().Server.CORSOrigins}, cams)
	evil := "https://evil.example"
	r := e.do(t, "GET", "/api/cameras", nil, "Origin", evil)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from a foreign origin got CORS headers: %d %v", r.status, r.header)
	}
	e.do(t, "DELETE", "/api/cameras/cam1", nil, "Origin", evil).expect(t, 403, `{"error":"origin \"https://evil.example\" not allowed"}`)
	e.do(t, "DELETE", "/api/cameras/cam1", nil, "Origin", e.ts.URL).expect(t, 204, "")
	cams.expectCalls(t, "remove cam1")
}
