package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/overlay"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestPage(t *testing.T) {
	h := Handler()
	resp, page := get(t, h, "GET", "/", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<!doctype html>", `src="/assets/viewer.js"`, `href="/assets/viewer.css"`, "<video"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("no Referrer-Policy: the token in the address would leak")
	}

	resp, js := get(t, h, "GET", "/assets/viewer.js", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("GET viewer.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"'/api/cameras'", "`/whep/${", "new URL('/ws'", "Authorization: `Bearer ${token}`",
		"searchParams.set('token'", "method: 'DELETE'", "'application/sdp'", "recvonly",
		"createDataChannel('detections')", "?view=${view}", "X-Gstvision-View", "requestVideoFrameCallback",
		"rtpTimestamp", "IntersectionObserver", "visibilitychange"} {
		if !strings.Contains(js, want) {
			t.Errorf("viewer.js lacks %q", want)
		}
	}
	resp, _ = get(t, h, "GET", "/assets/viewer.css", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("GET viewer.css: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestCachingAndErrors(t *testing.T) {
	h := Handler()
	resp, _ := get(t, h, "GET", "/assets/viewer.js", nil)
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	if resp, _ := get(t, h, "GET", "/assets/viewer.js", map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
		t.Errorf("revalidation: %d, want 304", resp.StatusCode)
	}
	if resp, body := get(t, h, "HEAD", "/", nil); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD /: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get(t, h, "GET", "/assets/nope.js", nil); resp.StatusCode != 404 {
		t.Errorf("unknown asset: %d", resp.StatusCode)
	}
	if resp, _ := get(t, h, "GET", "/static/index.html", nil); resp.StatusCode != 404 {
		t.Errorf("embed path exposed: %d", resp.StatusCode)
	}
	resp, _ = get(t, h, "POST", "/", nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestPaletteMatchesOverlay keeps the page's class colours equal to overlay.Palette.
func TestPaletteMatchesOverlay(t *testing.T) {
	_, js := get(t, Handler(), "GET", "/assets/viewer.js", nil)
	i := strings.Index(js, "const PALETTE = [")
	if i < 0 {
		t.Fatal("no PALETTE in viewer.js")
	}
	js = js[i+len("const PALETTE = ["):]
	js = js[:strings.Index(js, "];")]
	var b strings.Builder
	for i, c := range overlay.Palette {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("[" + strconv.Itoa(int(c[0])) + ", " + strconv.Itoa(int(c[1])) + ", " + strconv.Itoa(int(c[2])) + "]")
	}
	got := strings.Join(strings.Fields(js), " ")
	if got != b.String() {
		t.Errorf("viewer.js palette\n%s\nwant overlay.Palette\n%s", got, b.String())
	}
}
