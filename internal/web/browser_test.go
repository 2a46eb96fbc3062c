package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/internal/browsertest"
	"github.com/gstvision/gstvision/webrtc"
)

// The browser tests open the real page in headless browsers (internal/browsertest: Chromium
// over the DevTools protocol, Firefox over WebDriver BiDi) against a real WHEP broadcaster fed
// with an H.264 clip, and fake /api/cameras and /ws. They need gst-launch-1.0 with x264enc, and
// the browser: /usr/bin/chromium (or $GSTVISION_CHROMIUM), firefox-esr or firefox (or
// $GSTVISION_FIREFOX); each test skips without its own.

const browserToken = "s3cret"

// makeClip encodes 3 s of 320×240 test pattern to H.264 access units.
func makeClip(t *testing.T) [][]byte {
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		t.Skip("browser test skipped: no gst-launch-1.0")
	}
	path := filepath.Join(t.TempDir(), "clip.h264")
	cmd := exec.Command("gst-launch-1.0", "-q", "videotestsrc", "num-buffers=90", "pattern=ball", "!",
		"video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!",
		"x264enc", "tune=zerolatency", "key-int-max=30", "!",
		"video/x-h264,profile=constrained-baseline,stream-format=byte-stream", "!", "filesink", "location="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making clip: %v: %s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return webrtc.SplitAccessUnits(data)
}

// feed plays aus into b at 30 fps until ctx ends, jumping to the next IDR on a keyframe request.
func feed(ctx context.Context, b *webrtc.Broadcaster, aus [][]byte) { feedThen(ctx, b, aus, nil) }

// feedThen is feed, calling after (when not nil) with each access unit's pts once written.
func feedThen(ctx context.Context, b *webrtc.Broadcaster, aus [][]byte, after func(pts time.Duration)) {
	jump := make(chan struct{}, 1)
	b.OnKeyframeRequest(func() {
		select {
		case jump <- struct{}{}:
		default:
		}
	})
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for i, n := 0, 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case <-jump:
			for j := 1; j < len(aus); j++ {
				if k := (i + j) % len(aus); strings.Contains(string(aus[k]), "\x00\x00\x01\x65") {
					i = k
					break
				}
			}
		default:
		}
		pts := time.Duration(n) * time.Second / 30
		b.WriteAccessUnit(aus[i], pts)
		if after != nil {
			after(pts)
		}
		i = (i + 1) % len(aus)
	}
}

// fakeWS sends a detection result for cam1 every 100 ms.
func fakeWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	for frame := 1; ; frame++ {
		msg := fmt.Sprintf(`{"camera":"cam1","frame":%d,"pts":%d,"ts":"2026-01-01T00:00:00Z","width":320,`+
			`"height":240,"detections":[{"class_id":0,"label":"person","score":0.87,"box":[12.5,20,140,230]},`+
			`{"class_id":2,"label":"car","score":0.51,"box":[150,60,300,200]}]}`, frame, frame*33333333)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requireToken mimics the server's auth: Bearer header or ?token=, page and assets public.
func requireToken(public http.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, AssetPrefix) {
			public.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+browserToken && r.URL.Query().Get("token") != browserToken {
			http.Error(w, `{"error":"missing or invalid token"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type pageState struct {
	Tiles      []string `json:"tiles"`
	Frames     int      `json:"frames"`
	VideoFrame int      `json:"videoFrames"`
	Width      int      `json:"width"`
	Height     int      `json:"height"`
	Detections []string `json:"detections"`
	Cam1       string   `json:"cam1"` // the tile's message
	Cam2       string   `json:"cam2"`
	Live       string   `json:"live"`
	Banner     string   `json:"banner"`
}

const pageStateJS = `(async () => {
  if (!document.getElementById('live') || !window.gstvision) return {}; // still loading
  const tile = (id) => document.querySelector('[data-camera="' + id + '"]');
  const v = tile('cam1') && tile('cam1').querySelector('video');
  if (v && !v.dataset.counting) {
    v.dataset.counting = '1';
    window.__frames = 0;
    const cb = () => { window.__frames++; v.requestVideoFrameCallback(cb); };
    v.requestVideoFrameCallback(cb);
  }
  return {
    tiles: [...document.querySelectorAll('[data-camera]')].map((e) => e.dataset.camera),
    frames: await window.gstvision.framesDecoded('cam1'),
    videoFrames: window.__frames || 0,
    width: v ? v.videoWidth : 0,
    height: v ? v.videoHeight : 0,
    detections: tile('cam1') ? [...tile('cam1').querySelectorAll('li.det')].map((e) => e.textContent) : [],
    cam1: tile('cam1') ? tile('cam1').querySelector('.message').textContent : '',
    cam2: tile('cam2') ? tile('cam2').querySelector('.message').textContent : '',
    live: document.getElementById('live').textContent,
    banner: document.getElementById('banner').textContent,
  };
})()`

// viewerServer is the page's server: the page and its assets, a real WHEP broadcaster playing a
// clip as cam1 (cam2 is known but sends nothing), a camera list where cam2 is reconnecting,
// and a /ws that sends cam1's detections every 100 ms. Everything but the page needs the token.
type viewerServer struct {
	URL  string // base URL, without the token
	m    *webrtc.Manager
	cam1 *webrtc.Broadcaster
}

func startViewerServer(t *testing.T, ctx context.Context) *viewerServer {
	t.Helper()
	aus := makeClip(t)
	m, err := webrtc.NewManager(webrtc.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	b := m.Broadcaster("cam1")
	feedCtx, stopFeed := context.WithCancel(ctx)
	t.Cleanup(stopFeed)
	go feed(feedCtx, b, aus)

	cameras := `[{"id":"cam1","state":"running","fps":30,"frames":1234},` +
		`{"id":"cam2","state":"reconnecting","fps":0,"frames":0,"last_error":"dial tcp 127.0.0.1:8554: connection refused"}]`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/cameras", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(cameras))
	})
	mux.HandleFunc("GET /ws", fakeWS)
	whep := m.Handler(func(id string) bool { return id == "cam1" || id == "cam2" })
	mountWHEP(mux, whep)
	url := servePage(t, mux)
	return &viewerServer{URL: url, m: m, cam1: b}
}

// mountWHEP routes every WHEP method to whep, as the app does.
func mountWHEP(mux *http.ServeMux, whep http.Handler) {
	for _, p := range []string{"POST /whep/{camera}", "OPTIONS /whep/{camera}", "DELETE /whep/{camera}/{session}",
		"PATCH /whep/{camera}/{session}"} {
		mux.Handle(p, whep)
	}
}

// servePage serves the page and mux (behind the test token) on a loopback address, which the
// browsers' WebRTC accepts, until the test ends; it returns the base URL.
func servePage(t *testing.T, mux *http.ServeMux) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(requireToken(Handler(), mux))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// waitPage polls the page's state until ready holds, failing the test after timeout.
func waitPage(t *testing.T, ctx context.Context, page browsertest.Page, timeout time.Duration, ready func(pageState) bool) pageState {
	t.Helper()
	var st pageState
	for deadline := time.Now().Add(timeout); ; time.Sleep(250 * time.Millisecond) {
		if err := page.Evaluate(ctx, pageStateJS, &st); err != nil {
			t.Fatalf("evaluating in the page: %v", err)
		}
		if ready(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("page state after %v: %+v", timeout, st)
		}
	}
}

// testPagePlays opens the page with open: cam1's video plays at its size, its detections are
// listed, cam2 says why it has no video; leaving the page ends both WHEP sessions.
func testPagePlays(t *testing.T, open func(ctx context.Context, url string) browsertest.Page) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startViewerServer(t, ctx)
	b, m := srv.cam1, srv.m

	page := open(ctx, srv.URL+"/?token="+browserToken)
	st := waitPage(t, ctx, page, 45*time.Second, func(st pageState) bool {
		return st.Frames > 10 && st.VideoFrame > 10 && len(st.Detections) > 0 && strings.Contains(st.Cam2, "refused")
	})
	t.Logf("page: %+v", st)
	if path := os.Getenv("GSTVISION_SCREENSHOT"); path != "" {
		if err := page.Screenshot(ctx, path); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	if st.Width != 320 || st.Height != 240 {
		t.Errorf("video is %dx%d, want 320x240", st.Width, st.Height)
	}
	if strings.Join(st.Tiles, ",") != "cam1,cam2" {
		t.Errorf("tiles %v", st.Tiles)
	}
	if st.Cam1 != "" {
		t.Errorf("cam1 message %q, want none", st.Cam1)
	}
	if !strings.Contains(st.Detections[0], "person") && !strings.Contains(st.Detections[0], "car") ||
		!strings.Contains(strings.Join(st.Detections, " "), "87%") {
		t.Errorf("detections %q", st.Detections)
	}
	if !strings.Contains(st.Cam2, "Reconnecting") {
		t.Errorf("cam2 message %q", st.Cam2)
	}
	if st.Live != "detections: live" || st.Banner != "" {
		t.Errorf("live %q, banner %q", st.Live, st.Banner)
	}

	// Leaving the page DELETEs the WHEP sessions (cam1, and cam2's, which gets no video).
	if err := page.Evaluate(ctx, `location.href = 'about:blank'`, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); b.Viewers() > 0 || m.Broadcaster("cam2").Viewers() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("viewers after leaving the page: cam1 %d, cam2 %d", b.Viewers(), m.Broadcaster("cam2").Viewers())
		}
	}
}

// TestBrowser plays the page in headless Chromium.
func TestBrowser(t *testing.T) {
	browsertest.ChromiumPath(t)
	testPagePlays(t, func(ctx context.Context, url string) browsertest.Page {
		return browsertest.OpenChromium(t, ctx, url)
	})
}
