package webrtc_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/test"
	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

var (
	clipOnce sync.Once
	clipAUs  [][]byte
	clipErr  error
	clipDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if clipDir != "" {
		_ = os.RemoveAll(clipDir)
	}
	os.Exit(code)
}

// testClip returns the access units of a 3 s 320×240 H.264 clip (IDR every 30 frames, several
// slices per picture) made with GStreamer once per test binary.
func testClip(t testing.TB) [][]byte {
	t.Helper()
	clipOnce.Do(func() {
		if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
			clipErr = fmt.Errorf("gst-launch-1.0 not found: %w", err)
			return
		}
		clipDir, clipErr = os.MkdirTemp("", "gstvision-webrtc-test-")
		if clipErr != nil {
			return
		}
		path := filepath.Join(clipDir, "clip.h264")
		cmd := exec.Command("gst-launch-1.0", "-q", "videotestsrc", "num-buffers=90", "pattern=ball", "!",
			"video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!",
			"x264enc", "tune=zerolatency", "key-int-max=30", "threads=2", "!",
			"video/x-h264,profile=constrained-baseline,stream-format=byte-stream", "!",
			"filesink", "location="+path)
		if out, err := cmd.CombinedOutput(); err != nil {
			clipErr = fmt.Errorf("making clip: %w: %s", err, out)
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			clipErr = err
			return
		}
		clipAUs = webrtc.SplitAccessUnits(data)
	})
	if clipErr != nil {
		t.Skipf("no test clip: %v", clipErr)
	}
	if len(clipAUs) != 90 {
		t.Fatalf("clip has %d access units, want 90", len(clipAUs))
	}
	return clipAUs
}

// isKey reports whether an access unit holds an IDR slice.
func isKey(au []byte) bool {
	return bytes.Contains(au, []byte{0, 0, 1, 0x65})
}

// feeder plays a clip into a broadcaster at 30 fps, in a loop, like an encoder: on a keyframe
// request it jumps to the clip's next IDR (which a real encoder would produce at once).
type feeder struct {
	b       *webrtc.Broadcaster
	aus     [][]byte
	paused  atomic.Bool
	jump    atomic.Bool
	written atomic.Int64
	stop    chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	requests []time.Time
}

func startFeeder(t *testing.T, b *webrtc.Broadcaster, aus [][]byte) *feeder {
	f := &feeder{b: b, aus: aus, stop: make(chan struct{}), done: make(chan struct{})}
	b.OnKeyframeRequest(func() {
		f.mu.Lock()
		f.requests = append(f.requests, time.Now())
		f.mu.Unlock()
		f.jump.Store(true)
	})
	go f.run()
	t.Cleanup(f.close)
	return f
}

func (f *feeder) run() {
	defer close(f.done)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	i, n := 0, 0
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		if f.paused.Load() {
			continue
		}
		if f.jump.Swap(false) {
			for j := 1; j <= len(f.aus); j++ {
				if k := (i + j) % len(f.aus); isKey(f.aus[k]) {
					i = k
					break
				}
			}
		}
		f.b.WriteAccessUnit(f.aus[i], time.Duration(n)*time.Second/30)
		f.written.Add(1)
		i = (i + 1) % len(f.aus)
		n++
	}
}

func (f *feeder) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

func (f *feeder) keyframeRequests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.requests...)
}

// testServer is a manager with its WHEP handler on an httptest server on 127.0.0.1, mounted the
// way the lead mounts it: Go 1.22 patterns on a ServeMux.
type testServer struct {
	m    *webrtc.Manager
	srv  *httptest.Server
	http *http.Client
}

func newTestServer(t *testing.T, opts webrtc.Options, cameras ...string) *testServer {
	t.Helper()
	opts.LoopbackOnly = true
	m, err := webrtc.NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, c := range cameras {
		known[c] = true
	}
	h := m.Handler(func(c string) bool { return known[c] })
	mux := http.NewServeMux()
	for _, p := range []string{"POST /whep/{camera}", "OPTIONS /whep/{camera}",
		"DELETE /whep/{camera}/{session}", "PATCH /whep/{camera}/{session}", "OPTIONS /whep/{camera}/{session}"} {
		mux.Handle(p, h)
	}
	srv := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	ts := &testServer{m: m, srv: srv, http: &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true}, // no idle connection goroutines
		Timeout:   10 * time.Second,
	}}
	t.Cleanup(func() {
		_ = m.Close()
		srv.Close()
	})
	return ts
}

// do sends a request with the given header name/value pairs and returns the response with
// its body read.
func (ts *testServer) do(t *testing.T, method, path, contentType string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// dial negotiates with the server: POST the offer, apply the answer.
func dial(t *testing.T, ts *testServer, camera string, wantFrames int) *whepclient.Client {
	t.Helper()
	return whepclient.Dial(t, ts.srv.URL+"/whep/"+camera, wantFrames)
}

// received returns what c received so far: its access units as one Annex-B stream, and their
// number.
func received(c *whepclient.Client) ([]byte, int) {
	aus := c.AccessUnits()
	return bytes.Join(aus, nil), len(aus)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	test.WaitUntil(t, timeout, what, cond)
}

// waitGoroutines waits until the number of goroutines is back to baseline.
func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nalTypes lists the NAL unit types of an Annex-B stream, up to n.
func nalTypes(stream []byte, n int) []int {
	var out []int
	for _, au := range webrtc.SplitAccessUnits(stream) {
		for _, part := range bytes.Split(au, []byte{0, 0, 0, 1}) {
			if len(part) > 0 && len(out) < n {
				out = append(out, int(part[0]&0x1f))
			}
		}
	}
	return out
}

// decode runs the stream through GStreamer's parser and decoder and returns the number of
// 320×240 frames it produced (caps fail to negotiate for any other size).
func decode(t *testing.T, stream []byte) int {
	t.Helper()
	return len(test.DecodeH264(t, stream, 320, 240))
}
