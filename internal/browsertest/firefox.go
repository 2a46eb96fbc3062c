package browsertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// FirefoxPath returns Firefox's path ($GSTVISION_FIREFOX, else firefox-esr or firefox on the
// PATH), skipping the test when there is none.
func FirefoxPath(t testing.TB) string {
	t.Helper()
	if path := os.Getenv("GSTVISION_FIREFOX"); path != "" {
		if _, err := os.Stat(path); err != nil {
			t.Skipf("Firefox test skipped: GSTVISION_FIREFOX=%s: %v", path, err)
		}
		return path
	}
	for _, name := range []string{"firefox-esr", "firefox"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("Firefox test skipped: no firefox-esr or firefox on the PATH (apt-get install firefox-esr, or set GSTVISION_FIREFOX)")
	return ""
}

// FirefoxPrefs are the preferences every Firefox of these tests starts with (in its profile's
// user.js): WebDriver BiDi on, autoplay allowed, nothing fetched from the network, and ICE
// candidates on loopback with their real addresses. For loopback, media.peerconnection.ice.loopback
// is not enough: a page without camera or microphone permission gets candidates of the default
// route's interface only (never lo), so the permission defaults grant both.
var FirefoxPrefs = map[string]any{
	"remote.active-protocols":                           1, // WebDriver BiDi (Firefox has no CDP any more)
	"media.autoplay.default":                            0, // allowed
	"media.autoplay.blocking_policy":                    0,
	"media.peerconnection.ice.loopback":                 true,
	"media.peerconnection.ice.obfuscate_host_addresses": false, // no mDNS names
	"permissions.default.camera":                        1,     // allow: lifts "default address only"
	"permissions.default.microphone":                    1,
	"media.gmp-manager.updateEnabled":                   false, // no OpenH264 download attempts
	"media.gmp-manager.url":                             "http://127.0.0.1:9/",
	"app.update.disabledForTesting":                     true,
	"browser.shell.checkDefaultBrowser":                 false,
	"datareporting.policy.dataSubmissionEnabled":        false,
	"toolkit.telemetry.enabled":                         false,
}

// FirefoxPlatformH264 are the preferences that let Firefox receive H.264 over WebRTC without
// the OpenH264 plugin. Firefox offers H.264 only when it has that plugin (Cisco's, downloaded
// at run time, so never offline) or a hardware H.264 codec: media.webrtc.hw.h264.enabled where
// the graphics blocklist lets FEATURE_WEBRTC_HW_ACCELERATION_H264 through, which it does not on
// Linux. Forcing that feature's status to OK (1) makes Firefox offer constrained baseline and
// baseline H.264, packetization modes 0 and 1, and decode it with its platform decoder, which on
// Linux is FFmpeg: the system's libavcodec (libavcodec59 on Debian 12), in software.
var FirefoxPlatformH264 = map[string]any{
	"media.webrtc.hw.h264.enabled":              true,
	"gfx.blacklist.webrtc.hw.acceleration.h264": 1, // nsIGfxInfo::FEATURE_STATUS_OK
}

// Firefox is one headless Firefox driven over WebDriver BiDi, with one browsing context (tab)
// that Navigate, Evaluate and Screenshot act on.
type Firefox struct {
	conn    *websocket.Conn
	mu      sync.Mutex
	id      int
	context string // the tab's browsing context id
}

// OpenFirefox starts headless Firefox with FirefoxPrefs and then prefs (which win), opens a
// WebDriver BiDi session and loads url in its tab (empty: about:blank). Firefox is stopped in a
// cleanup, its log printed when the test failed.
func OpenFirefox(t testing.TB, ctx context.Context, url string, prefs ...map[string]any) *Firefox {
	t.Helper()
	bin := FirefoxPath(t)
	dir, err := os.MkdirTemp("", "gstvision-firefox-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), userJS(append([]map[string]any{FirefoxPrefs}, prefs...)), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "firefox.log")
	cmd := exec.Command(bin, "--headless", "--no-remote", "--profile", dir, "--remote-debugging-port=0",
		"--width=1280", "--height=900")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	startBrowser(t, cmd, dir, logPath, "Firefox")

	// Firefox prints "WebDriver BiDi listening on ws://127.0.0.1:PORT" once it listens.
	listening := regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)
	var wsURL string
	Poll(t, 60*time.Second, "Firefox's WebDriver BiDi port", func() bool {
		b, _ := os.ReadFile(logPath)
		if m := listening.FindSubmatch(b); m != nil {
			wsURL = string(m[1])
		}
		return wsURL != ""
	})
	conn, _, err := websocket.Dial(ctx, strings.TrimSuffix(wsURL, "/")+"/session", nil)
	if err != nil {
		t.Fatalf("connecting to Firefox's WebDriver BiDi: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	f := &Firefox{conn: conn}

	if _, err := f.Call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	raw, err := f.Call(ctx, "browsingContext.getTree", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(raw, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("browsingContext.getTree: no tab in %s (%v)", raw, err)
	}
	f.context = tree.Contexts[0].Context
	if url != "" {
		if err := f.Navigate(ctx, url); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// userJS renders the union of prefs (the last one wins) as a profile's user.js.
func userJS(maps []map[string]any) []byte {
	prefs := map[string]any{}
	for _, m := range maps {
		for k, v := range m {
			prefs[k] = v
		}
	}
	keys := make([]string, 0, len(prefs))
	for k := range prefs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, _ := json.Marshal(prefs[k])
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", k, v)
	}
	return []byte(b.String())
}

// Call sends a BiDi command and returns its result, skipping the events in between.
func (f *Firefox) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id++
	req, err := json.Marshal(map[string]any{"id": f.id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := f.conn.Write(ctx, websocket.MessageText, req); err != nil {
		return nil, err
	}
	for {
		_, data, err := f.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		var resp struct {
			Type    string          `json:"type"` // success, error or event
			ID      int             `json:"id"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := json.Unmarshal(data, &resp); err != nil || resp.Type == "event" || resp.ID != f.id {
			continue
		}
		if resp.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, resp.Error, resp.Message)
		}
		return resp.Result, nil
	}
}

// Navigate loads url in the tab and waits for its load event.
func (f *Firefox) Navigate(ctx context.Context, url string) error {
	_, err := f.Call(ctx, "browsingContext.navigate", map[string]any{
		"context": f.context, "url": url, "wait": "complete"})
	return err
}

// Evaluate implements [Page]. The value comes back as JSON text: BiDi's own serialization of
// values is typed and verbose.
func (f *Firefox) Evaluate(ctx context.Context, expr string, out any) error {
	raw, err := f.Call(ctx, "script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (" + expr + ")))()",
		"target":       map[string]any{"context": f.context},
		"awaitPromise": true,
	})
	if err != nil {
		return err
	}
	var res struct {
		Type   string `json:"type"` // success or exception
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	if res.Type == "exception" && res.ExceptionDetails != nil {
		return fmt.Errorf("exception: %s", res.ExceptionDetails.Text)
	}
	if out == nil || res.Result.Type != "string" {
		return nil // undefined: nothing to decode
	}
	return json.Unmarshal([]byte(res.Result.Value), out)
}

// Screenshot implements [Page].
func (f *Firefox) Screenshot(ctx context.Context, path string) error {
	raw, err := f.Call(ctx, "browsingContext.captureScreenshot", map[string]any{"context": f.context})
	if err != nil {
		return err
	}
	var res struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
