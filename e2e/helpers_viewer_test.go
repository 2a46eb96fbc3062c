//go:build e2e

package e2e

// Helpers of the browser-path tests (viewer_test.go): an in-process gstvision with a log
// recorder, matching pictures against the simulator's ground truth. The WHEP client comes from
// internal/whepclient, H.264 checks and decoding from internal/test, the browsers from
// internal/browsertest.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/scenematch"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/test"
)

// ---- the app under test ----

// logRecorder is a slog.Handler that keeps every record's message and attributes (those added
// with Logger.With included), and passes records on to next when it is set.
type logRecorder struct {
	shared *logStore
	attrs  []slog.Attr
	next   slog.Handler
}

type logStore struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder {
	r := &logRecorder{shared: &logStore{}}
	if testing.Verbose() {
		r.next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	return r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	lr := logRecord{msg: rec.Message, attrs: map[string]string{}}
	for _, a := range r.attrs {
		lr.attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.shared.mu.Lock()
	r.shared.recs = append(r.shared.recs, lr)
	r.shared.mu.Unlock()
	if r.next != nil && r.next.Enabled(ctx, rec.Level) {
		return r.next.Handle(ctx, rec)
	}
	return nil
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), attrs...)
	if r.next != nil {
		c.next = r.next.WithAttrs(attrs)
	}
	return &c
}

func (r *logRecorder) WithGroup(name string) slog.Handler {
	c := *r
	if r.next != nil {
		c.next = r.next.WithGroup(name)
	}
	return &c
}

// count returns how many records had message msg and, when camera is not empty, the
// attribute camera=camera.
func (r *logRecorder) count(msg, camera string) int {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	n := 0
	for _, rec := range r.shared.recs {
		if rec.msg == msg && (camera == "" || rec.attrs["camera"] == camera) {
			n++
		}
	}
	return n
}

// startViewerApp runs gstvision serve in-process, logging to rec, and returns it with its base
// URL. Its shutdown is a cleanup: Run must return nil within 15 s of the cancel.
func startViewerApp(t *testing.T, cfg *config.Config, rec *logRecorder) (*app.App, string) {
	t.Helper()
	a, base, _ := runApp(t, cfg, slog.New(rec))
	return a, base
}

// waitCameraFrames waits until camera id has decoded more than n frames.
func waitCameraFrames(t *testing.T, a *app.App, id string, n uint64) {
	t.Helper()
	pollCond(t, 20*time.Second, fmt.Sprintf("%s to decode %d frames", id, n), func() bool {
		st, ok := a.Cameras().Get(id)
		return ok && st.Frames > n
	})
}

// pollCond polls cond until it holds, failing the test after timeout.
func pollCond(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	test.WaitUntil(t, timeout, what, cond)
}

// viewerResp is a response with its body read.
type viewerResp struct {
	status int
	header http.Header
	body   []byte
}

// viewerHTTP has no idle connections, so that its goroutines end with each request.
var viewerHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}

func viewerDo(t testing.TB, method, url, contentType string, body []byte) viewerResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := viewerHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return viewerResp{resp.StatusCode, resp.Header, b}
}

// jsonErrorBody decodes a {"error": "..."} body; ok is false for anything else.
func jsonErrorBody(r viewerResp) (msg string, ok bool) {
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "", false
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		return "", false
	}
	return *e.Error, true
}

// ---- the ground truth ----

// matchScene returns the frame in [lo, hi] of scene whose luma is closest to pic's (a luma
// plane of stride stride, limited range unless fullRange, sampled every 2 pixels) with its mean
// absolute difference, and the median difference over the window: a picture of the scene
// matches one frame far better than most.
func matchScene(sc *simulate.Scene, luma []byte, stride int, fullRange bool, lo, hi int) (best int, diff, median float64) {
	best, diff, byFrame := scenematch.Best(scenematch.Luma{Pix: luma, Stride: stride, FullRange: fullRange},
		sc.Width, sc.Height, sc.RenderI420, lo, hi)
	diffs := slices.Sorted(maps.Values(byFrame))
	return best, diff, diffs[len(diffs)/2]
}

// jpegRGB returns the colour of img at (x, y) as 8-bit RGB.
func jpegRGB(img image.Image, x, y int) [3]float64 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]float64{float64(r >> 8), float64(g >> 8), float64(b >> 8)}
}

func rgbDist(a [3]float64, b [3]uint8) float64 {
	var s float64
	for i := range 3 {
		d := a[i] - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// waitGoroutinesBelow waits until the process has at most n goroutines, dumping them all on
// failure.
func waitGoroutinesBelow(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			k := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines %v after the viewers left, baseline %d:\n%s", runtime.NumGoroutine(), timeout, n, buf[:k])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
