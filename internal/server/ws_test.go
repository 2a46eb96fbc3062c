package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/results"
)

func (e *env) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/ws" + query
}

func (e *env) dial(t *testing.T, query string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, e.wsURL(query), opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", query, err, status)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "hub subscribers", func() bool { return e.hub.Stats().Subscribers == n })
}

func readText(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v, want text", typ)
	}
	return string(b)
}

func TestWSReceivesResults(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning, defs.StateRunning))
	all := e.dial(t, "", nil)
	only2 := e.dial(t, "?camera=cam2", nil)
	e.waitSubscribers(t, 2)

	ts := time.Date(2026, 11, 25, 21, 3, 4, 123456789, time.UTC)
	e.hub.Publish(results.Result{
		Camera: "cam1", Frame: 123, PTS: 4100 * time.Millisecond, Time: ts, Width: 640, Height: 360,
		Detections: []defs.Detection{{ClassID: 0, Label: "red block", Score: 0.93, Box: [4]float32{1, 2.5, 30, 40}}},
	})
	e.hub.Publish(results.Result{Camera: "cam2", Frame: 7, Time: ts, Width: 320, Height: 240})

	want1 := `{"camera":"cam1","frame":123,"pts":4100000000,"ts":"2026-11-25T21:03:04.123456789Z","width":640,"height":360,"detections":[{"class_id":0,"label":"red block","score":0.93,"box":[1,2.5,30,40]}]}`
	want2 := `{"camera":"cam2","frame":7,"pts":0,"ts":"2026-11-25T21:03:04.123456789Z","width":320,"height":240,"detections":[]}`
	if got := readText(t, all); got != want1 {
		t.Errorf("all, first message:\n got %s\nwant %s", got, want1)
	}
	if got := readText(t, all); got != want2 {
		t.Errorf("all, second message:\n got %s\nwant %s", got, want2)
	}
	if got := readText(t, only2); got != want2 {
		t.Errorf("cam2 filter:\n got %s\nwant %s", got, want2)
	}
}

func TestWSUnknownCamera(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.wsURL("?camera=x"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("dial unknown camera: err %v, resp %v; want 404", err, resp)
	}
	// A plain GET gets the JSON error.
	e.do(t, "GET", "/ws?camera=x", nil).expect(t, 404, `{"error":"camera \"x\" not found"}`)
	if n := e.hub.Stats().Subscribers; n != 0 {
		t.Errorf("Subscribers = %d after a refused upgrade", n)
	}
}

func TestWSNoResults(t *testing.T) {
	s := New(Options{}, Deps{})
	rec := &respRecorder{header: http.Header{}}
	s.Handler().ServeHTTP(rec, mustRequest(t, "GET", "/ws"))
	if rec.code != 503 || rec.body.String() != `{"error":"results stream is unavailable"}`+"\n" {
		t.Errorf("got %d %s", rec.code, rec.body.String())
	}
}

func TestWSToken(t *testing.T) {
	e := newEnv(t, Options{Token: "s3cret"}, newFakeCameras(defs.StateRunning))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.wsURL(""), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial without token: %v %v; want 401", err, resp)
	}
	e.dial(t, "?token=s3cret&camera=cam1", nil)
	e.dial(t, "", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer s3cret"}}})
	e.waitSubscribers(t, 2)
}

func TestWSOrigin(t *testing.T) {
	e := newEnv(t, Options{CORSOrigins: []string{"https://ui.example.com"}}, newFakeCameras())
	e.dial(t, "", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://ui.example.com"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.wsURL(""), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from a foreign origin: %v %v; want 403", err, resp)
	}
}

// TestWSSlowClient checks that a client that never reads neither blocks Publish nor delays a
// fast client, and that its drops are counted.
func TestWSSlowClient(t *testing.T) {
	const n = 10000
	e := newEnv(t, Options{WSQueueLen: 16}, newFakeCameras(defs.StateRunning))
	slow := e.dial(t, "", nil) // never reads
	e.waitSubscribers(t, 1)
	slowID := e.hub.Subscriptions()[0].ID
	fast := e.dial(t, "", nil)
	e.waitSubscribers(t, 2)

	// Big messages (~9 KB) so the slow client's socket buffers fill and its writer blocks.
	dets := make([]defs.Detection, 100)
	for i := range dets {
		dets[i] = defs.Detection{ClassID: i, Label: "red block", Score: 0.5, Box: [4]float32{1.5, 2.5, 3.5, 4.5}}
	}

	fastDone := make(chan uint64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		count := uint64(0)
		for {
			_, b, err := fast.Read(ctx)
			if err != nil {
				fastDone <- 0
				return
			}
			count++
			if strings.Contains(string(b), `"frame":9999,`) { // the newest result
				fastDone <- count
				return
			}
		}
	}()

	// Publish in bursts, pausing between them as a real pipeline would, so that the fast client
	// can keep up while the slow one cannot. Only the Publish calls are timed.
	var publishing, slowest time.Duration
	for i := range uint64(n) {
		start := time.Now()
		e.hub.Publish(results.Result{Camera: "cam1", Frame: i, Detections: dets})
		d := time.Since(start)
		publishing += d
		slowest = max(slowest, d)
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
	}
	if publishing > 2*time.Second || slowest > 500*time.Millisecond {
		t.Errorf("publishing %d results took %v (slowest call %v) with a stuck client", n, publishing, slowest)
	}

	var fastGot uint64
	select {
	case fastGot = <-fastDone:
		if fastGot == 0 {
			t.Fatal("fast client failed before receiving the latest result")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fast client never received the latest result")
	}

	var slowDropped, fastDropped uint64
	for _, s := range e.hub.Subscriptions() {
		if s.ID == slowID {
			slowDropped = s.Dropped
		} else {
			fastDropped = s.Dropped
		}
	}
	t.Logf("Publish: %v in total, slowest %v; fast client received %d, dropped %d; slow client dropped %d",
		publishing, slowest, fastGot, fastDropped, slowDropped)
	if slowDropped == 0 {
		t.Errorf("slow client's drop counter did not rise")
	}
	if fastDropped >= slowDropped {
		t.Errorf("fast client dropped %d, not fewer than the stuck one (%d)", fastDropped, slowDropped)
	}
	if st := e.hub.Stats(); st.Dropped != slowDropped+fastDropped {
		t.Errorf("hub Dropped %d, want %d+%d", st.Dropped, slowDropped, fastDropped)
	}

	// /api/stats shows it too.
	r := e.do(t, "GET", "/api/stats", nil)
	if r.status != 200 || !strings.Contains(r.body, `"ws_clients":[{"id":`) {
		t.Errorf("stats: %d %s", r.status, r.body)
	}

	// The stuck writer ends when the client goes.
	_ = slow.CloseNow()
	_ = fast.CloseNow()
	e.waitSubscribers(t, 0)
	waitFor(t, "ws clients to end", func() bool { return len(e.srv.wsStats()) == 0 })
}

func TestWSDisconnectEndsGoroutines(t *testing.T) {
	// Pings every 250 ms: a client must answer within one interval, which a loaded 2-core
	// machine may not schedule within a shorter one.
	e := newEnv(t, Options{WSPingInterval: 250 * time.Millisecond}, newFakeCameras(defs.StateRunning))
	// Warm up the HTTP client and server once so lazily started goroutines are in the baseline.
	e.do(t, "GET", "/healthz", nil)
	e.ts.Client().CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()

	for range 3 {
		conn := e.dial(t, "", nil)
		e.waitSubscribers(t, 1)
		e.hub.Publish(results.Result{Camera: "cam1", Frame: 1})
		readText(t, conn)
		// Let a few pings go by: the client answers them while reading.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _, err := conn.Read(ctx)
		expired := ctx.Err() != nil
		cancel()
		// The read must last until the deadline; the library then reports the deadline or,
		// having closed the connection for it, "use of closed network connection".
		if err == nil || !expired {
			t.Fatalf("read ended before the deadline: %v", err)
		}
		// A Read that timed out closes the client's connection; either way the client is gone.
		_ = conn.CloseNow()
		e.waitSubscribers(t, 0)
	}
	waitFor(t, "ws clients to end", func() bool { return len(e.srv.wsStats()) == 0 })
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWSPingKeepsClientAndDropsDeadOne(t *testing.T) {
	e := newEnv(t, Options{WSPingInterval: 20 * time.Millisecond}, newFakeCameras(defs.StateRunning))
	alive := e.dial(t, "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if _, _, err := alive.Read(ctx); err != nil {
				return
			}
		}
	})
	dead := e.dial(t, "", nil) // never reads, so never answers pings
	_ = dead
	e.waitSubscribers(t, 2)
	// The silent client is dropped after a missed pong; the reading one stays.
	waitFor(t, "the silent client to be dropped", func() bool { return e.hub.Stats().Subscribers == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := e.hub.Stats().Subscribers; n != 1 {
		t.Errorf("Subscribers = %d, want the reading client kept", n)
	}
	cancel()
	wg.Wait()
}

func TestWSShutdown(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning))
	conn := e.dial(t, "", nil)
	e.waitSubscribers(t, 1)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := conn.Read(context.Background())
		readErr <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	select {
	case err := <-readErr:
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("client read error %v, want close status going away", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client not closed by Shutdown")
	}
	if n := e.hub.Stats().Subscribers; n != 0 {
		t.Errorf("Subscribers = %d after Shutdown", n)
	}
	// New clients are refused.
	_, resp, err := websocket.Dial(ctx, e.wsURL(""), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Shutdown: %v %v; want 503", err, resp)
	}
}

func TestWSShutdownForcesStuckClient(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning))
	e.dial(t, "", nil) // never reads: the close handshake cannot complete
	e.waitSubscribers(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("forced Shutdown took %v", d)
	}
	waitFor(t, "ws clients to end", func() bool { return len(e.srv.wsStats()) == 0 })
}

func TestWSHubClosed(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning))
	conn := e.dial(t, "", nil)
	e.waitSubscribers(t, 1)
	e.hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := conn.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("read after hub Close: %v, want going away", err)
	}
}

// respRecorder is a minimal ResponseWriter (httptest.ResponseRecorder would do, but this keeps
// the test independent of its Flush/Hijack behaviour).
type respRecorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *respRecorder) Header() http.Header { return r.header }
func (r *respRecorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *respRecorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(p)
}

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://example.com"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestWSOutlivesBodyReadTimeout: the body read deadline does not reach WebSocket connections,
// which stay open and keep receiving long past it.
func TestWSOutlivesBodyReadTimeout(t *testing.T) {
	const timeout = time.Millisecond
	e := newEnv(t, Options{BodyReadTimeout: timeout}, newFakeCameras(defs.StateRunning))
	conn := e.dial(t, "", nil)
	e.waitSubscribers(t, 1)
	for i := range 3 {
		time.Sleep(50 * timeout)
		e.hub.Publish(results.Result{Camera: "cam1", Frame: uint64(i)})
		if got := readText(t, conn); !strings.Contains(got, fmt.Sprintf(`"frame":%d,`, i)) {
			t.Fatalf("message %d: %s", i, got)
		}
	}
	if n := e.hub.Stats().Subscribers; n != 1 {
		t.Errorf("Subscribers = %d, want the client still there", n)
	}
}
