package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/results"
)

// closeBound is how long a test waits for the server to answer and close a connection. It only
// bounds a hang: nothing here asserts on speed.
const closeBound = 10 * time.Second

// serveLocal runs a Server on a loopback listener, as ListenAndServe would, and returns it
// with its address.
func serveLocal(t *testing.T, opts Options, cams Cameras) (*Server, string) {
	t.Helper()
	s := New(opts, Deps{Cameras: cams, Results: results.NewHub(results.Options{})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// headersOnly sends a request head announcing a 100000-byte body, plus the first bytes of that
// body, and never the rest. It returns the response the server sent before closing the
// connection, and fails the test if the connection is neither answered nor closed within
// closeBound.
func headersOnly(t *testing.T, addr, method, path, firstBytes string, hdr ...string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n", method, path, addr)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&req, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	req.WriteString("\r\n" + firstBytes)
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(closeBound)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn) // until the server closes
	if err != nil {
		t.Fatalf("%s %s: connection not answered and closed within %v: read %q, %v",
			method, path, closeBound, got, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(got))), nil)
	if err != nil {
		t.Fatalf("%s %s: bad response %q: %v", method, path, got, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func expectResponse(t *testing.T, resp *http.Response, status int, body string) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status || string(b) != body+"\n" {
		t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, status, body+"\n")
	}
	if !resp.Close {
		t.Error("response without Connection: close, though the body was left unread")
	}
}

// TestUnreadBodyClosesConnection: a request refused before its body is read is answered at
// once and its connection closed, without waiting for a body the client may never send (and
// without waiting for the body read timeout, left at its 30 s default).
func TestUnreadBodyClosesConnection(t *testing.T) {
	m := fakeManager{newFakeCameras(defs.StateRunning)}
	_, addr := serveLocal(t, Options{Token: "s3cret"}, m)
	ctJSON := []string{"Content-Type", "application/json"}
	unauth := `{"error":"missing or invalid token"}`

	t.Run("no token", func(t *testing.T) {
		expectResponse(t, headersOnly(t, addr, "POST", "/api/cameras", "", ctJSON...), 401, unauth)
	})
	t.Run("wrong token", func(t *testing.T) {
		resp := headersOnly(t, addr, "POST", "/api/cameras", `{"id":`, append(ctJSON, "Authorization", "Bearer nope")...)
		expectResponse(t, resp, 401, unauth)
	})
	t.Run("foreign origin", func(t *testing.T) {
		resp := headersOnly(t, addr, "PUT", "/api/cameras/cam1", "", append(ctJSON, "Origin", "https://evil.example")...)
		expectResponse(t, resp, 403, `{"error":"origin \"https://evil.example\" not allowed"}`)
	})
	t.Run("not JSON", func(t *testing.T) {
		resp := headersOnly(t, addr, "POST", "/api/cameras", "", "Content-Type", "text/plain", "Authorization", "Bearer s3cret")
		expectResponse(t, resp, 415, `{"error":"unsupported media type: Content-Type \"text/plain\", want application/json"}`)
	})
	if n := len(m.List()); n != 1 {
		t.Errorf("%d cameras, want the 1 there was", n)
	}
}

// TestBodyReadTimeout: an authorised request whose body never comes is given up after the body
// read timeout: 408 and the connection closed, on built-in routes and added ones alike.
func TestBodyReadTimeout(t *testing.T) {
	m := fakeManager{newFakeCameras(defs.StateRunning)}
	s, addr := serveLocal(t, Options{Token: "s3cret", BodyReadTimeout: 300 * time.Millisecond}, m)
	echo := func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadBody(r)
		if err != nil {
			WriteErr(w, err)
			return
		}
		WriteJSON(w, 200, len(b))
	}
	if err := s.HandleFunc("POST /echo", echo, true); err != nil {
		t.Fatal(err)
	}
	auth := []string{"Authorization", "Bearer s3cret", "Content-Type", "application/json"}

	for _, tc := range []struct{ method, path, first string }{
		{"POST", "/api/cameras", ""},
		{"PUT", "/api/cameras/cam1", `{"url":"rtsp://h/`},
		{"POST", "/echo", "0123456789"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp := headersOnly(t, addr, tc.method, tc.path, tc.first, auth...)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), `"error":"request timeout: body not received in time`) {
				t.Errorf("got %d %s, want 408", resp.StatusCode, b)
			}
		})
	}
	if st, _ := m.Get("cam1"); st.URL != "rtsp://***@10.0.0.1/s" || len(m.List()) != 1 {
		t.Errorf("cameras changed: %v", m.List())
	}
}

// TestBodyReadTimeoutSparesReadBodies: the deadline covers the body only. A handler that works
// longer than it after reading the body keeps its request, and the kept-alive connection serves
// the next request.
func TestBodyReadTimeoutSparesReadBodies(t *testing.T) {
	const timeout = 50 * time.Millisecond
	s, addr := serveLocal(t, Options{BodyReadTimeout: timeout}, nil)
	slow := func(w http.ResponseWriter, r *http.Request) {
		var v map[string]int
		if err := DecodeJSON(r, &v); err != nil {
			WriteErr(w, err)
			return
		}
		time.Sleep(4 * timeout)
		if err := r.Context().Err(); err != nil {
			WriteError(w, http.StatusInternalServerError, "request cancelled: "+err.Error())
			return
		}
		WriteJSON(w, 200, v["n"]+1)
	}
	if err := s.HandleFunc("POST /slow", slow, true); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: closeBound}
	for i := range 2 {
		resp, err := client.Post("http://"+addr+"/slow", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != fmt.Sprintf("%d\n", i+1) || resp.Close {
			t.Errorf("request %d: %d %q (close %v), want 200 %d kept alive", i, resp.StatusCode, b, resp.Close, i+1)
		}
		time.Sleep(2 * timeout) // idle on the kept-alive connection past the body deadline
	}
}
