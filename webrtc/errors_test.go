package webrtc_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/webrtc"
)

// TestStatusOf: each sentinel, wrapped as the package wraps it, maps to its HTTP status; the
// shared ones of defs included.
func TestStatusOf(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{fmt.Errorf("camera %q: %w", "x", defs.ErrUnknownCamera), http.StatusNotFound},
		{webrtc.ErrSessionNotFound, http.StatusNotFound},
		{webrtc.ErrMethodNotAllowed, http.StatusMethodNotAllowed},
		{webrtc.ErrPreconditionFailed, http.StatusPreconditionFailed},
		{webrtc.ErrOfferTooLarge, http.StatusRequestEntityTooLarge},
		{webrtc.ErrFragmentTooLarge, http.StatusRequestEntityTooLarge},
		{webrtc.ErrUnsupportedMediaType, http.StatusUnsupportedMediaType},
		{webrtc.ErrICERestart, http.StatusUnprocessableEntity},
		{webrtc.ErrBadOffer, http.StatusBadRequest},
		{webrtc.ErrNoVideo, http.StatusBadRequest},
		{webrtc.ErrBadFragment, http.StatusBadRequest},
		{fmt.Errorf("webrtc manager %w", defs.ErrClosed), http.StatusServiceUnavailable},
		{errors.New("other"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		if got := webrtc.StatusOf(c.err); got != c.want {
			t.Errorf("StatusOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestWHEPUnknownCameraAndClosed: the WHEP handler answers 404 for a camera it does not know
// and 503 once the manager is closed, from the shared sentinels of defs.
func TestWHEPUnknownCameraAndClosed(t *testing.T) {
	m, err := webrtc.NewManager(webrtc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Broadcaster("cam1")
	srv := httptest.NewServer(m.Handler(nil))
	defer srv.Close()
	post := func(camera string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/whep/"+camera, "application/sdp", strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := post("nope"); code != http.StatusNotFound || !strings.Contains(body, defs.ErrUnknownCamera.Error()) {
		t.Errorf("POST for an unknown camera: %d %s, want 404 naming %q", code, body, defs.ErrUnknownCamera)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := post("cam1"); code != http.StatusServiceUnavailable || !strings.Contains(body, defs.ErrClosed.Error()) {
		t.Errorf("POST after Close: %d %s, want 503 naming %q", code, body, defs.ErrClosed)
	}
}
