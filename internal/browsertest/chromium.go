package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// ChromiumPath returns Chromium's path ($GSTVISION_CHROMIUM, else /usr/bin/chromium), skipping
// the test when there is none.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("GSTVISION_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("browser test skipped: no Chromium at %s (apt-get install chromium, or set GSTVISION_CHROMIUM)", path)
	}
	return path
}

// Chromium is one page of a headless Chromium, driven over the Chrome DevTools Protocol.
type Chromium struct {
	conn *websocket.Conn
	mu   sync.Mutex
	id   int
}

// OpenChromium opens url in headless Chromium and connects to its page. Chromium is stopped in
// a cleanup, its log printed when the test failed.
func OpenChromium(t testing.TB, ctx context.Context, url string) *Chromium {
	t.Helper()
	bin := ChromiumPath(t)
	dir, err := os.MkdirTemp("", "gstvision-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--password-store=basic",
		"--user-data-dir="+dir, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		// Nothing but loopback: no name resolution, loopback ICE candidates with real addresses.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
		"--autoplay-policy=no-user-gesture-required", "--window-size=1280,900",
		url)
	startBrowser(t, cmd, dir, filepath.Join(dir, "chromium.log"), "Chromium")

	// Chromium writes its DevTools port to DevToolsActivePort in the profile directory.
	var port string
	Poll(t, 30*time.Second, "Chromium's DevTools port", func() bool {
		f, err := os.Open(filepath.Join(dir, "DevToolsActivePort"))
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			port = strings.TrimSpace(sc.Text())
		}
		return port != ""
	})
	page, _, _ := strings.Cut(url, "?") // the page's target URL, whatever its query
	var wsURL string
	Poll(t, 15*time.Second, "a page target in Chromium", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var targets []struct{ Type, URL, WebSocketDebuggerURL string }
		if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
			return false
		}
		for _, tg := range targets {
			if tg.Type == "page" && strings.HasPrefix(tg.URL, page) {
				wsURL = tg.WebSocketDebuggerURL
			}
		}
		return wsURL != ""
	})
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("connecting to the page: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &Chromium{conn: conn}
}

// Call sends a CDP command and returns its result, skipping the events in between.
func (c *Chromium) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
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

// Evaluate implements [Page].
func (c *Chromium) Evaluate(ctx context.Context, expr string, out any) error {
	raw, err := c.Call(ctx, "Runtime.evaluate", map[string]any{
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

// Screenshot implements [Page].
func (c *Chromium) Screenshot(ctx context.Context, path string) error {
	raw, err := c.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return err
	}
	var res struct{ Data []byte }
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	return os.WriteFile(path, res.Data, 0o644)
}
