package web

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/browsertest"
	"github.com/gstvision/gstvision/webrtc"
)

// ptsPub fans each written access unit's pts out to the sessions' detections feeds.
type ptsPub struct {
	mu   sync.Mutex
	subs map[chan time.Duration]struct{}
}

func (p *ptsPub) subscribe() chan time.Duration {
	ch := make(chan time.Duration, 64)
	p.mu.Lock()
	p.subs[ch] = struct{}{}
	p.mu.Unlock()
	return ch
}

func (p *ptsPub) unsubscribe(ch chan time.Duration) {
	p.mu.Lock()
	delete(p.subs, ch)
	p.mu.Unlock()
}

func (p *ptsPub) publish(pts time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch := range p.subs {
		select {
		case ch <- pts:
		default:
		}
	}
}

// frameResult is the /ws JSON of the frame with pts: one box whose label names the frame.
func frameResult(pts time.Duration) []byte {
	n := int(pts / (time.Second / 30))
	x := float64(n%200) + 10
	return []byte(fmt.Sprintf(`{"camera":"cam1","frame":%d,"pts":%d,"ts":"2026-01-01T00:00:00Z","width":320,"height":240,`+
		`"detections":[{"class_id":%d,"label":"f%d","score":0.9,"box":[%g,40,%g,200]}]}`, n, pts.Nanoseconds(), n%16, n, x, x+100))
}

// TestBrowserPassthroughBoxes plays cam1's passthrough view from a real WHEP broadcaster whose
// sessions send each frame's result on the "detections" data channel with its rtp_ts: Chromium's
// requestVideoFrameCallback gives each frame's RTP timestamp, and the page draws the result of
// exactly that frame, without the "matched by time" note.
func TestBrowserPassthroughBoxes(t *testing.T) {
	browsertest.ChromiumPath(t)
	testPassthroughBoxes(t, func(ctx context.Context, url string) browsertest.Page {
		return browsertest.OpenChromium(t, ctx, url)
	}, true, nil)
}

// TestBrowserFirefoxPassthroughBoxes: the same in Firefox (recent ones give frames' RTP
// timestamps too; an older one matches by media time and says so).
func TestBrowserFirefoxPassthroughBoxes(t *testing.T) {
	browsertest.FirefoxPath(t)
	testPassthroughBoxes(t, func(ctx context.Context, url string) browsertest.Page {
		return browsertest.OpenFirefox(t, ctx, url, browsertest.FirefoxPlatformH264)
	}, false, nil)
}

// hideRTPTimestamp makes the page's video frame callbacks lose metadata.rtpTimestamp, as in a
// browser without it, keeping it in window.__rtp for the test.
const hideRTPTimestamp = `(() => {
  window.__rtpHidden = true;
  const orig = HTMLVideoElement.prototype.requestVideoFrameCallback;
  HTMLVideoElement.prototype.requestVideoFrameCallback = function (cb) {
    return orig.call(this, (now, meta) => {
      const m = { ...meta };
      delete m.rtpTimestamp;
      cb(now, m);
      // How many frames off the result drawn is (by its rtp_ts), for the test.
      const t = window.gstvision && window.gstvision.tiles.get('cam1');
      if (t && t.drawn && typeof t.drawn.rtp_ts === 'number' && typeof meta.rtpTimestamp === 'number') {
        const off = Math.round((((meta.rtpTimestamp - t.drawn.rtp_ts) | 0)) / 3000);
        (window.__off = window.__off || []).push(off);
      }
    });
  };
})()`

// TestBrowserPassthroughBoxesByTime: in Chromium without frames' RTP timestamps, the page
// matches the data channel's results to frames by media time, says so, and draws results of
// frames near the one on screen.
func TestBrowserPassthroughBoxesByTime(t *testing.T) {
	browsertest.ChromiumPath(t)
	testPassthroughBoxes(t, func(ctx context.Context, url string) browsertest.Page {
		c := browsertest.OpenChromium(t, ctx, url)
		// Loaded again with the script in place before the viewer's own.
		if _, err := c.Call(ctx, "Page.enable", map[string]any{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Call(ctx, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": hideRTPTimestamp}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Call(ctx, "Page.reload", map[string]any{}); err != nil {
			t.Fatal(err)
		}
		browsertest.Poll(t, 20*time.Second, "the page reloaded without RTP timestamps", func() bool {
			var ok bool
			return c.Evaluate(ctx, `!!window.__rtpHidden && !!window.gstvision`, &ok) == nil && ok
		})
		return c
	}, false, func(ctx context.Context, page browsertest.Page) {
		var st struct {
			Note string `json:"note"`
			Off  []int  `json:"off"`
		}
		if err := page.Evaluate(ctx, `({ note: document.querySelector('[data-camera="cam1"] .note').textContent,
  off: window.__off || [] })`, &st); err != nil {
			t.Fatal(err)
		}
		near := 0
		for _, o := range st.Off {
			if o >= -2 && o <= 2 {
				near++
			}
		}
		t.Logf("frames drawn by time: %d, within 2 frames of their own result: %d; offsets %v", len(st.Off), near, st.Off)
		if st.Note != "boxes matched by time" {
			t.Errorf("note %q, want %q", st.Note, "boxes matched by time")
		}
		if len(st.Off) == 0 || near*10 < len(st.Off)*8 {
			t.Errorf("matched by time: %d of %d frames within 2 frames of their own result", near, len(st.Off))
		}
	})
}

// testPassthroughBoxes plays cam1's passthrough view with its detections channel in the page
// that open opens; byRTP: the browser gives frames' RTP timestamps (else the page must say that
// it matched by time).
func testPassthroughBoxes(t *testing.T, open func(ctx context.Context, url string) browsertest.Page, byRTP bool,
	check func(ctx context.Context, page browsertest.Page)) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	aus := makeClip(t)
	pub := &ptsPub{subs: map[chan time.Duration]struct{}{}}
	m, err := webrtc.NewManager(webrtc.Options{LoopbackOnly: true,
		Detections: func(ctx context.Context, camera string, send func(pts time.Duration, json []byte)) {
			ch := pub.subscribe()
			defer pub.unsubscribe(ch)
			for {
				select {
				case <-ctx.Done():
					return
				case pts := <-ch:
					send(pts, frameResult(pts))
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	b := m.Passthrough("cam1")
	feedCtx, stopFeed := context.WithCancel(ctx)
	t.Cleanup(stopFeed)
	go feedThen(feedCtx, b, aus, pub.publish)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/cameras", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"id":"cam1","state":"running","fps":30,"frames":1,"view":"passthrough"}]`))
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no /ws here", http.StatusNotFound) })
	whep := m.Handler(func(id string) bool { return id == "cam1" })
	mountWHEP(mux, whep)
	url := servePage(t, mux)

	page := open(ctx, url+"/?token="+browserToken)
	var st struct {
		View    string `json:"view"`
		Note    string `json:"note"`
		Exact   int    `json:"exact"`
		Before  int    `json:"before"`
		Time    int    `json:"time"`
		Channel bool   `json:"channel"`
		Label   string `json:"label"`
	}
	browsertest.Poll(t, 45*time.Second, "cam1's boxes matched by RTP timestamp", func() bool {
		err := page.Evaluate(ctx, `(() => {
  const t = window.gstvision && window.gstvision.tiles.get('cam1');
  if (!t) return {};
  const note = t.root.querySelector('.note');
  return { view: t.root.querySelector('.view').textContent, note: note.hidden ? '' : note.textContent,
    exact: t.matches.exact, before: t.matches.before, time: t.matches.time, channel: t.channelOpen,
    label: t.drawn && t.drawn.detections.length ? t.drawn.detections[0].label : '' };
})()`, &st)
		return err == nil && st.Exact+st.Before+st.Time > 30
	})
	t.Logf("cam1: %+v", st)
	if st.View != "passthrough" || !st.Channel || st.Label == "" {
		t.Errorf("cam1: %+v, want passthrough, boxes from the data channel", st)
	}
	switch {
	case byRTP && st.Note != "":
		t.Errorf("cam1 note %q, want none: frames matched by RTP timestamp", st.Note)
	case byRTP && st.Exact < 3*(st.Before+st.Time):
		t.Errorf("frames drawn with their own result %d, with an earlier one %d, by time %d: want mostly their own",
			st.Exact, st.Before, st.Time)
	case !byRTP && st.Time > 0 && st.Note != "boxes matched by time":
		t.Errorf("cam1 matched %d frames by time, note %q", st.Time, st.Note)
	}
	if check != nil {
		check(ctx, page)
	}

	if err := page.Evaluate(ctx, `location.href = 'about:blank'`, nil); err != nil {
		t.Fatal(err)
	}
	browsertest.Poll(t, 10*time.Second, "the passthrough session ended", func() bool { return b.Viewers() == 0 })
}
