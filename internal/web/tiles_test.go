package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/browsertest"
	"github.com/gstvision/gstvision/webrtc"
)

// The tile tests open the page in headless Chromium against many fake cameras: cam1 plays a
// clip, the others are known to the WHEP handler but send nothing. The fake backend follows the
// server's view contract (?view=passthrough|annotated, X-Gstvision-View and
// X-Gstvision-View-Reason: cam2 falls back to annotated) and counts each camera's WHEP POSTs
// and DELETEs.

const tileCameras = 20

// whepCounts counts WHEP requests per camera.
type whepCounts struct {
	mu      sync.Mutex
	posts   map[string]int
	deletes map[string]int
	views   map[string]string // the view asked for in the latest POST
}

func (c *whepCounts) get(cam string) (posts, deletes int, view string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.posts[cam], c.deletes[cam], c.views[cam]
}

// startTilesServer serves the page with tileCameras cameras: cam1 passthrough by default and
// playing a clip, cam2 annotated since its camera "has B-frames" (its passthrough requests get
// the annotated view), the others annotated by default (as with webrtc.view "annotated").
func startTilesServer(t *testing.T, ctx context.Context) (string, *whepCounts) {
	t.Helper()
	aus := makeClip(t)
	m, err := webrtc.NewManager(webrtc.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	feedCtx, stopFeed := context.WithCancel(ctx)
	t.Cleanup(stopFeed)
	go feed(feedCtx, m.Broadcaster("cam1"), aus)

	var cams []string
	for i := 1; i <= tileCameras; i++ {
		view := `"view":"annotated"`
		switch i {
		case 1:
			view = `"view":"passthrough"`
		case 2:
			view = `"view":"annotated","view_reason":"camera stream has B-frames"`
		}
		cams = append(cams, fmt.Sprintf(`{"id":"cam%d","state":"running","fps":30,"frames":100,%s}`, i, view))
	}
	cameras := "[" + strings.Join(cams, ",") + "]"

	counts := &whepCounts{posts: map[string]int{}, deletes: map[string]int{}, views: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/cameras", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(cameras))
	})
	mux.HandleFunc("GET /ws", fakeWS)
	whep := m.Handler(func(id string) bool { return strings.HasPrefix(id, "cam") })
	mux.HandleFunc("POST /whep/{camera}", func(w http.ResponseWriter, r *http.Request) {
		cam, view := r.PathValue("camera"), r.URL.Query().Get("view")
		counts.mu.Lock()
		counts.posts[cam]++
		counts.views[cam] = view
		counts.mu.Unlock()
		got, reason := view, ""
		if view != "passthrough" || cam == "cam2" {
			got = "annotated"
		}
		if view == "passthrough" && cam == "cam2" {
			reason = "camera stream has B-frames"
		}
		// Every view plays the one fed broadcaster here; the headers say what the page asked for.
		r.URL.RawQuery = ""
		whep.ServeHTTP(&viewHeaders{ResponseWriter: w, view: got, reason: reason}, r)
	})
	mux.HandleFunc("DELETE /whep/{camera}/{session}", func(w http.ResponseWriter, r *http.Request) {
		counts.mu.Lock()
		counts.deletes[r.PathValue("camera")]++
		counts.mu.Unlock()
		whep.ServeHTTP(w, r)
	})
	for _, p := range []string{"OPTIONS /whep/{camera}", "PATCH /whep/{camera}/{session}"} {
		mux.Handle(p, whep)
	}
	return servePage(t, mux), counts
}

// viewHeaders sets the view headers of a WHEP answer, whatever the handler set.
type viewHeaders struct {
	http.ResponseWriter
	view, reason string
}

func (v *viewHeaders) WriteHeader(code int) {
	v.Header().Set("X-Gstvision-View", v.view)
	v.Header().Del("X-Gstvision-View-Reason")
	if v.reason != "" {
		v.Header().Set("X-Gstvision-View-Reason", v.reason)
	}
	v.ResponseWriter.WriteHeader(code)
}

// tileState is what the page shows of one tile.
type tileState struct {
	View        string  `json:"view"`   // the view pill
	Reason      string  `json:"reason"` // the fallback reason line, "" when hidden
	Toggle      string  `json:"toggle"`
	Note        string  `json:"note"` // the box-matching note, "" when hidden
	Message     string  `json:"message"`
	CanvasShown bool    `json:"canvasShown"`
	CanvasW     int     `json:"canvasW"`
	CanvasH     int     `json:"canvasH"`
	ClientW     float64 `json:"clientW"`
	ClientH     float64 `json:"clientH"`
	Inked       int     `json:"inked"` // canvas pixels drawn on
	Frames      int     `json:"frames"`
}

const tileStateJS = `(async (id) => {
  const t = window.gstvision && window.gstvision.tiles.get(id);
  if (!t) return null;
  const q = (s) => t.root.querySelector(s);
  const shown = (s) => (q(s).hidden ? '' : q(s).textContent);
  const c = t.canvas;
  let inked = 0;
  if (!c.hidden && c.width > 1) {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i]) inked++;
  }
  return { view: q('.view').textContent, reason: shown('.reason'), toggle: q('.toggle').textContent,
    note: shown('.note'), message: shown('.message'), canvasShown: !c.hidden, canvasW: c.width, canvasH: c.height,
    clientW: t.video.clientWidth, clientH: t.video.clientHeight, inked,
    frames: await window.gstvision.framesDecoded(id) };
})`

func tileOf(t *testing.T, ctx context.Context, page browsertest.Page, id string) tileState {
	t.Helper()
	var st *tileState
	if err := page.Evaluate(ctx, tileStateJS+`('`+id+`')`, &st); err != nil {
		t.Fatalf("evaluating in the page: %v", err)
	}
	if st == nil {
		return tileState{}
	}
	return *st
}

// TestBrowserViewerLib checks the page's pure parts in Chromium: where boxes land on the canvas
// (object-fit contain with letterbox bars, cover, DPR 2), which result a frame gets by RTP
// timestamp (exact, else the latest not newer, across the 2^32 wrap) and by media time
// (nearest), the result buffer's 2 s window, and #cam=ID parsing.
func TestBrowserViewerLib(t *testing.T) {
	browsertest.ChromiumPath(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url, _ := startTilesServer(t, ctx)
	page := browsertest.OpenChromium(t, ctx, url+"/?token="+browserToken)
	browsertest.Poll(t, 20*time.Second, "the page's lib", func() bool {
		var ok bool
		return page.Evaluate(ctx, `!!(window.gstvision && window.gstvision.lib)`, &ok) == nil && ok
	})
	var failures []string
	err := page.Evaluate(ctx, `(() => {
  const L = window.gstvision.lib;
  const fails = [];
  const eq = (what, got, want) => {
    const g = JSON.stringify(got), w = JSON.stringify(want);
    if (g !== w) fails.push(what + ': got ' + g + ', want ' + w);
  };
  // (a) A 640×480 video in a 1280×540 element, contain: 720×540 shown, bars of 280 left and right.
  const r = L.contentRect(1280, 540, 640, 480, 'contain');
  eq('contain rect', r, { x: 280, y: 0, w: 720, h: 540 });
  // A box in the camera's 1920×1440 pixels (4:3 like the video): scale 720/1920 = 0.375.
  eq('box', L.mapBox([192, 144, 960, 1440], 1920, 1440, r), { x: 280 + 72, y: 54, w: 288, h: 486 });
  eq('swapped corners', L.mapBox([960, 1440, 192, 144], 1920, 1440, r), { x: 352, y: 54, w: 288, h: 486 });
  // Letterbox top and bottom: a 1920×1080 video in a 400×400 element.
  eq('contain top/bottom', L.contentRect(400, 400, 1920, 1080, 'contain'), { x: 0, y: 87.5, w: 400, h: 225 });
  eq('cover', L.contentRect(400, 400, 1920, 1080, 'cover'), { x: -155.55555555555554, y: 0, w: 711.1111111111111, h: 400 });
  eq('fill', L.contentRect(400, 400, 1920, 1080, 'fill'), { x: 0, y: 0, w: 400, h: 400 });
  // DPR 2: the backing store doubles, the drawing stays in CSS pixels.
  eq('backing DPR 2', L.backingSize(640, 360, 2), { width: 1280, height: 720 });
  eq('backing DPR 1.5', L.backingSize(641, 361, 1.5), { width: 962, height: 542 });
  const c = document.createElement('canvas');
  c.width = 2 * 200; c.height = 2 * 100; // a 200×100 CSS px canvas at DPR 2
  const ctx = c.getContext('2d');
  const rect = L.contentRect(200, 100, 100, 100, 'contain'); // bars of 50 each side
  L.drawResult(ctx, { width: 100, height: 100, detections: [{ class_id: 0, label: 'person', score: 0.87, box: [10, 40, 50, 90] }] }, rect, 2);
  const px = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data);
  eq('left edge of the box at CSS (60, 70) → device (121, 140)', px(121, 140), [255, 51, 51, 255]);
  eq('inside the box', px(160, 140)[3], 0);
  eq('letterbox bar', px(40, 140)[3], 0);
  eq('right of the box', px(2 * 101, 140)[3], 0);
  eq('label', L.labelText({ label: 'person', score: 0.8749, class_id: 0 }), 'person 0.87');
  eq('tracked label', L.labelText({ label: 'person', score: 0.91, class_id: 0, track_id: 12 }), '#12 person 0.91');
  eq('event text', L.eventText({ type: 'line_crossed', track_id: 4, label: 'car', line: 'gate', direction: 'in' }), '#4 car crossed gate (in)');
  eq('zone event text', L.eventText({ type: 'zone_entered', track_id: 3, label: 'person', zone: 'door' }), '#3 person entered door');
  // Zones and lines in normalised coordinates land on the picture, not on the bars.
  const z = document.createElement('canvas');
  z.width = 200; z.height = 100;
  const zctx = z.getContext('2d');
  L.drawGeometry(zctx, { zones: [{ name: '', polygon: [[0, 0], [1, 0], [1, 1], [0, 1]] }],
    lines: [{ name: '', points: [[0.5, 0], [0.5, 1]] }] }, L.contentRect(200, 100, 100, 100, 'contain'), 1);
  const zpx = (x, y) => Array.from(zctx.getImageData(x, y, 1, 1).data);
  eq('zone filled inside the picture', zpx(75, 50)[3] > 0, true);
  eq('no zone over the bars', zpx(20, 50)[3], 0);
  eq('line at x = 0.5 of the picture', zpx(100, 80)[2] > 150, true);
  eq('colour wraps', L.classColor(16), 'rgb(255,51,51)');
  eq('colour negative', L.classColor(-1), 'rgb(110,89,255)');
  // (b) By RTP timestamp: exact first, else the latest not newer.
  const res = [{ rtp_ts: 9000, pts: 100e6 }, { rtp_ts: 12000, pts: 133e6 }, { rtp_ts: 15000, pts: 166e6 }, { rtp_ts: 18000, pts: 200e6 }];
  eq('exact', L.pickByRtp(res, 15000), res[2]);
  eq('latest not newer', L.pickByRtp(res, 16500), res[2]);
  eq('newer than all', L.pickByRtp(res, 30000), res[3]);
  eq('older than all', L.pickByRtp(res, 8000), null);
  eq('order does not matter', L.pickByRtp([res[3], res[0], res[2], res[1]], 13000), res[1]);
  const wrap = [{ rtp_ts: 4294964296 }, { rtp_ts: 1000 }, { rtp_ts: 4000 }];
  eq('across the wrap, exact', L.pickByRtp(wrap, 1000), wrap[1]);
  eq('across the wrap, before', L.pickByRtp(wrap, 500), wrap[0]);
  eq('no rtp_ts', L.pickByRtp([{ pts: 1 }], 5), null);
  // Media-time fallback: nearest pts (ns) to mediaTime (s) + offset (s).
  eq('nearest by time', L.pickByTime(res, 0.140), res[1]);
  eq('nearest by time, later', L.pickByTime(res, 0.190), res[3]);
  eq('nearest with offset', L.pickByTime(res, 10.1, -9.93), res[2]);
  const b = new L.ResultBuffer(2000);
  b.add({ pts: 1 }, 0); b.add({ pts: 2 }, 1500); b.add({ pts: 3, rtp_ts: 7 }, 2500);
  eq('buffer keeps 2 s', b.results(), [{ pts: 2 }, { pts: 3, rtp_ts: 7 }]);
  eq('buffer hasRtp', b.hasRtp, true);
  eq('hash', L.parseHash('#cam=door%201'), { cam: 'door 1' });
  eq('no hash', L.parseHash(''), { cam: '' });
  return fails;
})()`, &failures)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
}

// TestBrowserTiles: tiles on screen get a WHEP session with their view (the page draws cam1's
// boxes, matched by time since this backend sends no rtp_ts; cam2 shows the server's fallback
// and its reason; the toggle re-negotiates), tiles off screen get none, a tile scrolled away
// DELETEs its session after 2 s, a hidden tab releases every session at once, and /#cam=ID
// shows one tile.
func TestBrowserTiles(t *testing.T) {
	browsertest.ChromiumPath(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	url, counts := startTilesServer(t, ctx)
	page := browsertest.OpenChromium(t, ctx, url+"/?token="+browserToken)

	// cam1 plays passthrough with the page's boxes; cam2 got annotated and says why.
	var st1, st2 tileState
	browsertest.Poll(t, 45*time.Second, "cam1 playing with boxes, cam2's fallback shown", func() bool {
		st1, st2 = tileOf(t, ctx, page, "cam1"), tileOf(t, ctx, page, "cam2")
		return st1.Frames > 10 && st1.Inked > 0 && st2.Reason != ""
	})
	t.Logf("cam1 %+v", st1)
	t.Logf("cam2 %+v", st2)
	if st1.View != "passthrough" || !st1.CanvasShown || st1.Note != "boxes matched by time" || st1.Message != "" {
		t.Errorf("cam1: %+v, want passthrough with boxes matched by time", st1)
	}
	if int(st1.ClientW+0.5) != st1.CanvasW && int(st1.ClientW) != st1.CanvasW {
		t.Errorf("cam1 canvas %dx%d for a %vx%v video at DPR 1", st1.CanvasW, st1.CanvasH, st1.ClientW, st1.ClientH)
	}
	if st2.View != "annotated" || !strings.Contains(st2.Reason, "B-frames") || st2.CanvasShown {
		t.Errorf("cam2: %+v, want annotated with the reason, no canvas", st2)
	}
	// cam2's toggle asks for passthrough; the server answers annotated, and the tile says why.
	if err := page.Evaluate(ctx, `document.querySelector('[data-camera="cam2"] .toggle').click()`, nil); err != nil {
		t.Fatal(err)
	}
	browsertest.Poll(t, 20*time.Second, "cam2's fallback after asking for passthrough", func() bool {
		st2 = tileOf(t, ctx, page, "cam2")
		_, _, v := counts.get("cam2")
		return v == "passthrough" && st2.View == "annotated" && st2.Toggle == "show annotated"
	})
	if !strings.Contains(st2.Reason, "B-frames") || st2.CanvasShown {
		t.Errorf("cam2 after the toggle: %+v, want annotated with the reason, no canvas", st2)
	}
	if _, _, v := counts.get("cam1"); v != "passthrough" {
		t.Errorf("cam1 asked for view %q", v)
	}
	if _, _, v := counts.get("cam3"); v != "annotated" {
		t.Errorf("cam3 asked for view %q", v)
	}
	// Only the first rows are on screen: the last camera has no session.
	last := fmt.Sprintf("cam%d", tileCameras)
	if p, _, _ := counts.get(last); p != 0 {
		t.Errorf("%s, off screen, POSTed %d offers", last, p)
	}

	if path := os.Getenv("GSTVISION_SCREENSHOT"); path != "" {
		if err := page.Screenshot(ctx, strings.TrimSuffix(path, ".png")+"-tiles.png"); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}

	// With results from the data channel (rtp_ts), a frame gets the result of its own RTP
	// timestamp, else the latest before it, and the note goes.
	var picked struct {
		Exact, Before, Note string
	}
	if err := page.Evaluate(ctx, `(() => {
  const t = window.gstvision.tiles.get('cam1');
  const r = (rtp, label) => ({ camera: 'cam1', frame: 1, pts: 0, rtp_ts: rtp, width: 320, height: 240,
    detections: [{ class_id: 1, label, score: 0.5, box: [0, 0, 160, 240] }] });
  t.results.add(r(4294967000, 'a'));
  t.results.add(r(2000, 'b'));
  t.results.add(r(5000, 'c'));
  t.onFrame(2000, 0);
  const exact = t.drawn && t.drawn.detections[0].label;
  t.onFrame(4999, 0);
  const before = t.drawn && t.drawn.detections[0].label;
  const note = t.root.querySelector('.note').hidden ? '' : 'shown';
  t.results.clear(); // back to the /ws results, matched by time
  return { Exact: exact, Before: before, Note: note };
})()`, &picked); err != nil {
		t.Fatal(err)
	}
	if picked.Exact != "b" || picked.Before != "b" || picked.Note != "" {
		t.Errorf("frames matched by RTP timestamp: %+v, want b, b and no note", picked)
	}

	// DPR 2: the tile's backing store doubles and the boxes are drawn again.
	if _, err := page.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": 1280, "height": 900, "deviceScaleFactor": 2, "mobile": false}); err != nil {
		t.Fatal(err)
	}
	browsertest.Poll(t, 10*time.Second, "cam1's canvas at DPR 2", func() bool {
		st1 = tileOf(t, ctx, page, "cam1")
		return st1.CanvasW == int(2*st1.ClientW+0.5) && st1.CanvasH == int(2*st1.ClientH+0.5) && st1.Inked > 0
	})
	t.Logf("cam1 at DPR 2: %+v", st1)

	// The toggle: cam1 re-negotiates annotated (its passthrough session is DELETEd).
	posts1, dels1, _ := counts.get("cam1")
	if err := page.Evaluate(ctx, `document.querySelector('[data-camera="cam1"] .toggle').click()`, nil); err != nil {
		t.Fatal(err)
	}
	browsertest.Poll(t, 20*time.Second, "cam1 annotated after the toggle", func() bool {
		st1 = tileOf(t, ctx, page, "cam1")
		p, d, v := counts.get("cam1")
		return st1.View == "annotated" && p == posts1+1 && d == dels1+1 && v == "annotated"
	})
	if st1.CanvasShown || st1.Note != "" || st1.Toggle != "show passthrough" {
		t.Errorf("cam1 annotated: %+v", st1)
	}

	// Scrolled to the bottom: cam1's session lasts 2 s more, then is DELETEd; the last tile starts.
	_, dels1, _ = counts.get("cam1")
	if err := page.Evaluate(ctx, `window.scrollTo(0, document.body.scrollHeight)`, nil); err != nil {
		t.Fatal(err)
	}
	scrolled := time.Now()
	browsertest.Poll(t, 15*time.Second, "cam1's session DELETEd after scrolling away", func() bool {
		_, d, _ := counts.get("cam1")
		return d > dels1
	})
	if waited := time.Since(scrolled); waited < 1500*time.Millisecond {
		t.Errorf("cam1's session DELETEd %v after scrolling away, want about 2 s", waited)
	}
	browsertest.Poll(t, 15*time.Second, last+" POSTs once on screen", func() bool {
		p, _, _ := counts.get(last)
		return p > 0
	})

	// A hidden tab releases its sessions at once; shown again, they start over.
	_, delsLast, _ := counts.get(last)
	postsLast, _, _ := counts.get(last)
	time.Sleep(500 * time.Millisecond) // let the session be set up (its Location known)
	if err := page.Evaluate(ctx, `(() => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
  document.dispatchEvent(new Event('visibilitychange'));
})()`, nil); err != nil {
		t.Fatal(err)
	}
	hidden := time.Now()
	browsertest.Poll(t, 10*time.Second, last+"'s session DELETEd when the tab is hidden", func() bool {
		_, d, _ := counts.get(last)
		return d > delsLast
	})
	if waited := time.Since(hidden); waited > 1500*time.Millisecond {
		t.Errorf("hidden tab: DELETE after %v, want at once", waited)
	}
	if err := page.Evaluate(ctx, `(() => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
  document.dispatchEvent(new Event('visibilitychange'));
})()`, nil); err != nil {
		t.Fatal(err)
	}
	browsertest.Poll(t, 10*time.Second, last+" POSTs again when the tab is shown", func() bool {
		p, _, _ := counts.get(last)
		return p > postsLast
	})

	// /#cam=cam3: one tile, full width, playing the same way.
	if err := page.Evaluate(ctx, `location.hash = 'cam=cam3'`, nil); err != nil {
		t.Fatal(err)
	}
	var single struct {
		Tiles  []string `json:"tiles"`
		Single bool     `json:"single"`
		Width  float64  `json:"width"`
		Page   float64  `json:"page"`
	}
	browsertest.Poll(t, 20*time.Second, "the single-camera page", func() bool {
		err := page.Evaluate(ctx, `(() => ({
  tiles: [...document.querySelectorAll('[data-camera]')].map((e) => e.dataset.camera),
  single: document.body.classList.contains('single'),
  width: (document.querySelector('[data-camera]') || { clientWidth: 0 }).clientWidth,
  page: document.documentElement.clientWidth,
}))()`, &single)
		return err == nil && single.Single && len(single.Tiles) == 1
	})
	if single.Tiles[0] != "cam3" || single.Width < single.Page*0.9 {
		t.Errorf("single-camera page: %+v", single)
	}
	if path := os.Getenv("GSTVISION_SCREENSHOT"); path != "" {
		if err := page.Screenshot(ctx, strings.TrimSuffix(path, ".png")+"-single.png"); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	browsertest.Poll(t, 10*time.Second, "cam3 asks for a session on its own page", func() bool {
		_, _, v := counts.get("cam3")
		st := tileOf(t, ctx, page, "cam3")
		return v == "annotated" && st.View == "annotated"
	})
}
