package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/webrtc"
)

// The browser test drives headless Chromium through the DevTools protocol (a few lines over
// the WebSocket library the server already uses, rather than a CDP client dependency) against
// the real page, a real WHEP broadcaster fed with an H.264 clip, and fake /api/cameras and /ws.
// It needs /usr/bin/chromium (or $GSTVISION_CHROMIUM) and gst-launch-1.0 with x264enc.

const browserToken = "s3cret"

func chromiumPath(t *testing.T) string {
	path := os.Getenv("GSTVISION_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("browser test skipped: no Chromium at %s (apt-get install chromium, or set GSTVISION_CHROMIUM)", path)
	}
	return path
}

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
func feed(ctx context.Context, b *webrtc.Broadcaster, aus [][]byte) {
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
		b.WriteAccessUnit(aus[i], time.Duration(n)*time.Second/30)
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

// cdp is a minimal Chrome DevTools Protocol client for one page.
type cdp struct {
	conn *websocket.Conn
	mu   sync.Mutex
	id   int
}

// call sends a CDP command and returns its result.
func (c *cdp) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id++
	req, err := json.Marshal(map[string]any{"id": c.id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := c.conn.Write(ctx, websocket.MessageText, req); err != nil {
		return nil, err
	}
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(data, &resp); err != nil || resp.ID != c.id {
			continue // an event, or another reply
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, resp.Error.Message)
		}
		return resp.Result, nil
	}
}

// evaluate runs a JavaScript expression in the page (awaiting a promise) and decodes its value.
func (c *cdp) evaluate(ctx context.Context, expr string, out any) error {
	raw, err := c.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return err
	}
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("%s %s", e.Text, e.Exception.Description)
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// screenshot saves the page as a PNG.
func (c *cdp) screenshot(ctx context.Context, path string) error {
	raw, err := c.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return err
	}
	var res struct{ Data []byte }
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	return os.WriteFile(path, res.Data, 0o644)
}

// startChromium opens url in headless Chromium and connects to its page.
func startChromium(t *testing.T, ctx context.Context, url string) *cdp {
	// Not t.TempDir: its removal races with Chromium's helper processes still writing there.
	dir, err := os.MkdirTemp("", "gstvision-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromiumPath(t),
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--password-store=basic",
		"--user-data-dir="+dir, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		// Nothing but loopback: no name resolution, loopback ICE candidates with real addresses.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
		"--autoplay-policy=no-user-gesture-required", "--window-size=1280,800",
		url)
	logPath := filepath.Join(dir, "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that the browser and its helpers can be stopped together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM) // Chromium shuts down cleanly on SIGTERM
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("Chromium log:\n%s", b)
			}
		}
		// Helpers may outlive the main process for a moment.
		for i := 0; i < 50 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})

	// Chromium writes its DevTools port to DevToolsActivePort in the profile directory.
	var port string
	for deadline := time.Now().Add(30 * time.Second); port == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Chromium did not open its DevTools port")
		}
		if f, err := os.Open(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			sc := bufio.NewScanner(f)
			if sc.Scan() {
				port = strings.TrimSpace(sc.Text())
			}
			f.Close()
		}
	}
	var wsURL string
	for deadline := time.Now().Add(15 * time.Second); wsURL == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no page target in Chromium")
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			continue
		}
		var targets []struct{ Type, URL, WebSocketDebuggerURL string }
		err = json.NewDecoder(resp.Body).Decode(&targets)
		resp.Body.Close()
		for _, tg := range targets {
			if err == nil && tg.Type == "page" && strings.HasPrefix(tg.URL, url[:strings.Index(url, "?")]) {
				wsURL = tg.WebSocketDebuggerURL
			}
		}
	}
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("connecting to the page: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &cdp{conn: conn}
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
    cam2: tile('cam2') ? tile('cam2').querySelector('.message').textContent : '',
    live: document.getElementById('live').textContent,
    banner: document.getElementById('banner').textContent,
  };
})()`

func TestBrowser(t *testing.T) {
	chromiumPath(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	aus := makeClip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	m, err := webrtc.NewManager(webrtc.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := m.Broadcaster("cam1")
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
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
	for _, p := range []string{"POST /whep/{camera}", "OPTIONS /whep/{camera}", "DELETE /whep/{camera}/{session}",
		"PATCH /whep/{camera}/{session}"} {
		mux.Handle(p, whep)
	}
	srv := httptest.NewUnstartedServer(requireToken(Handler(), mux))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	page := startChromium(t, ctx, srv.URL+"/?token="+browserToken)
	var st pageState
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if err := page.evaluate(ctx, pageStateJS, &st); err != nil {
			t.Fatalf("evaluating in the page: %v", err)
		}
		if st.Frames > 10 && st.VideoFrame > 10 && len(st.Detections) > 0 && strings.Contains(st.Cam2, "refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page state after 45 s: %+v (viewers %d)", st, b.Viewers())
		}
	}
	t.Logf("page: %+v", st)
	if path := os.Getenv("GSTVISION_SCREENSHOT"); path != "" {
		if err := page.screenshot(ctx, path); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	if st.Width != 320 || st.Height != 240 {
		t.Errorf("video is %dx%d, want 320x240", st.Width, st.Height)
	}
	if strings.Join(st.Tiles, ",") != "cam1,cam2" {
		t.Errorf("tiles %v", st.Tiles)
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
	if err := page.evaluate(ctx, `location.href = 'about:blank'`, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); b.Viewers() > 0 || m.Broadcaster("cam2").Viewers() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("viewers after leaving the page: cam1 %d, cam2 %d", b.Viewers(), m.Broadcaster("cam2").Viewers())
		}
	}
}
