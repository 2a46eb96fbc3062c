package app

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPprof: debug.pprof serves Go's profiles behind the token; off, the routes do not exist.
func TestPprof(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := cpuConfig(t, "models/blocks.onnx")
		cfg.Debug.Pprof = on
		cfg.Server.Token = "sekrit"
		a, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		get := func(path, token string) (int, string) {
			req := httptest.NewRequest("GET", path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			a.Server().Handler().ServeHTTP(rec, req)
			return rec.Code, rec.Body.String()
		}
		code, body := get("/debug/pprof/goroutine?debug=1", "sekrit")
		switch {
		case on && (code != http.StatusOK || !strings.Contains(body, "goroutine profile:")):
			t.Errorf("pprof on: goroutine profile answered %d %.80q", code, body)
		case !on && code != http.StatusNotFound:
			t.Errorf("pprof off: /debug/pprof/goroutine answered %d, want 404", code)
		}
		if code, _ := get("/debug/pprof/", ""); on && code != http.StatusUnauthorized {
			t.Errorf("pprof on: /debug/pprof/ without the token answered %d, want 401", code)
		}
		a.Close()
	}
}
