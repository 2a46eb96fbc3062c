//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/browsertest"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/test"
	"github.com/gstvision/gstvision/tracking"
)

// firstLoop is where the scripted scene's first loop ends for the comparison: its last event
// (the blue block lost) is at frame 410 and the second loop's first at 472.
const firstLoop = 445

// TestEventsScripted: two simulated cameras play the scripted scene (blocks crossing a line
// both ways, entering and leaving a zone, passing each other); gstvision serve, with the
// shipped detector, tracks them and its events on /api/events and /ws?events=1 equal the
// ground truth's in count, direction and order, each block keeping one track ID (ID errors on
// at most 1 % of the tracked objects), and each event's snapshot is a JPEG. In both modes (the
// decoupled stage may finish a camera's frames out of order), and analysing every other frame.
func TestEventsScripted(t *testing.T) {
	for _, c := range []struct {
		name      string
		decoupled bool
		everyN    int
	}{{"unified", false, 1}, {"decoupled", true, 1}, {"every_n_frames=2", false, 2}} {
		t.Run(c.name, func(t *testing.T) { testEventsScripted(t, c.decoupled, c.everyN) })
	}
}

func testEventsScripted(t *testing.T, decoupled bool, everyN int) {
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: 2, Listen: "127.0.0.1:0", Script: simulate.EventsScript()})
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := eventsConfig(t, decoupled, everyN, sim.URL(1), sim.URL(2))
	_, base, _ := runApp(t, cfg, testLogger(t))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws?events=1", nil)
	if err != nil {
		t.Fatalf("dial /ws?events=1: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	cams := []string{"cam1", "cam2"}
	res := map[string][]results.Result{}
	var wsEvents []defs.Event
	past := func() bool { // both cameras analysed past the first loop
		for _, c := range cams {
			rs := res[c]
			if len(rs) == 0 || rs[len(rs)-1].Frame+uint64(everyN) <= firstLoop {
				return false
			}
		}
		return true
	}
	for !past() {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("reading /ws?events=1 (results so far: cam1 %d, cam2 %d): %v", len(res["cam1"]), len(res["cam2"]), err)
		}
		var probe struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &probe); err != nil {
			t.Fatalf("bad message %s: %v", data, err)
		}
		if probe.Type != "" {
			var ev defs.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatalf("bad event %s: %v", data, err)
			}
			wsEvents = append(wsEvents, ev)
			continue
		}
		var r results.Result
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("bad result %s: %v", data, err)
		}
		res[r.Camera] = append(res[r.Camera], r)
	}

	sc := simulate.NewScene(640, 360, 30, 0)
	sc.Script = simulate.EventsScript()
	want := groundtruth.ExpectedEvents(sc, groundtruth.EventsZones(), groundtruth.EventsLines(), tracking.DefaultMinHits, tracking.DefaultMaxAge)

	var api []defs.Event
	getJSON(t, base+"/api/events?limit=1000", &api)
	for _, cam := range cams {
		got := firstLoopEvents(api, cam)
		if err := groundtruth.CompareEvents(got, want); err != nil {
			t.Errorf("%s, /api/events: %v", cam, err)
		}
		var filtered []defs.Event
		getJSON(t, base+"/api/events?limit=1000&camera="+cam, &filtered)
		if len(filtered) != len(firstLoopEvents(api, cam))+len(laterEvents(api, cam)) || len(firstLoopEvents(filtered, cam)) != len(got) {
			t.Errorf("%s: /api/events?camera= gave %d events, want %d", cam, len(filtered), len(got))
		}
		// /ws?events=1 carried the same events, from its connection on.
		wsGot := firstLoopEvents(wsEvents, cam)
		if len(wsGot) == 0 {
			t.Errorf("%s: no event on /ws?events=1", cam)
		} else if tail := sinceID(got, wsGot[0].ID); fmt.Sprint(ids(wsGot)) != fmt.Sprint(ids(tail)) {
			t.Errorf("%s: /ws?events=1 event IDs %v, /api/events %v", cam, ids(wsGot), ids(tail))
		}
		// One ID per block across the tracked frames.
		errs, total := idErrors(res[cam], sc)
		t.Logf("%s: %d results, %d events, ID errors %d of %d tracked objects", cam, len(res[cam]), len(got), errs, total)
		if total == 0 || errs*100 > total {
			t.Errorf("%s: ID errors on %d of %d tracked objects (at most 1 %%)", cam, errs, total)
		}
	}
	checkSnapshot(t, base, api)
}

func eventsConfig(t testing.TB, decoupled bool, everyN int, urls ...string) *config.Config {
	t.Helper()
	root := repoRoot(t)
	zs, _ := json.Marshal(groundtruth.EventsZones())
	ls, _ := json.Marshal(groundtruth.EventsLines())
	var cams []string
	for i, u := range urls {
		cams = append(cams, fmt.Sprintf(`{"id": "cam%d", "url": %q, "zones": %s, "lines": %s}`, i+1, u, zs, ls))
	}
	doc := fmt.Sprintf(`{
  "device": "cpu",
  "server": {"listen": "127.0.0.1:0"},
  "inference": {"model": %q, "labels": %q, "confidence": 0.5, "every_n_frames": %d},
  "processing": {"ENABLE_DECOUPLED_PIPELINE": %v, "max_batch": 2, "max_wait_ms": 15},
  "cameras": [%s]
}`, filepath.Join(root, "models/blocks.onnx"), filepath.Join(root, "models/blocks.labels"), everyN, decoupled, strings.Join(cams, ","))
	cfg, _ := test.WriteConfig(t, doc)
	return cfg
}

// firstLoopEvents keeps camera's events of the script's first loop.
func firstLoopEvents(evs []defs.Event, camera string) []defs.Event {
	var out []defs.Event
	for _, e := range evs {
		if e.Camera == camera && e.Frame < firstLoop {
			out = append(out, e)
		}
	}
	return out
}

func laterEvents(evs []defs.Event, camera string) []defs.Event {
	var out []defs.Event
	for _, e := range evs {
		if e.Camera == camera && e.Frame >= firstLoop {
			out = append(out, e)
		}
	}
	return out
}

func sinceID(evs []defs.Event, id uint64) []defs.Event {
	for i, e := range evs {
		if e.ID >= id {
			return evs[i:]
		}
	}
	return nil
}

func ids(evs []defs.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// idErrors aligns a camera's results with the script (the best constant frame offset) and
// counts the tracked objects whose ID is not their block's.
func idErrors(rs []results.Result, sc *simulate.Scene) (errs, total int) {
	var first []results.Result
	for _, r := range rs {
		if r.Frame < firstLoop {
			first = append(first, r)
		}
	}
	if len(first) == 0 {
		return 0, 0
	}
	_, off := groundtruth.Score(first, sc, 5, groundtruth.ByIndex)
	var dets [][]defs.Detection
	var truth [][]simulate.Object
	for _, r := range first {
		if n := int(r.Frame) + off; n >= 0 {
			dets, truth = append(dets, r.Detections), append(truth, sc.Objects(n))
		}
	}
	return groundtruth.IDErrors(dets, truth)
}

// checkSnapshot fetches an event's snapshot: a JPEG.
func checkSnapshot(t *testing.T, base string, evs []defs.Event) {
	t.Helper()
	for _, e := range evs {
		if e.Snapshot == "" {
			continue
		}
		resp, err := http.Get(base + e.Snapshot)
		if err != nil {
			t.Fatalf("GET %s: %v", e.Snapshot, err)
		}
		var head [2]byte
		_, _ = resp.Body.Read(head[:])
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || head != [2]byte{0xff, 0xd8} {
			t.Errorf("GET %s: %d %s %x, want a JPEG", e.Snapshot, resp.StatusCode, resp.Header.Get("Content-Type"), head)
		}
		return
	}
	t.Error("no event links a snapshot")
}

// A zone naming a class the model does not have stops serve at start, as a bad config does,
// naming the field.
func TestEventsUnknownClassAtStart(t *testing.T) {
	cfg := eventsConfig(t, false, 1, "rtsp://127.0.0.1:1/x")
	cfg.Cameras[0].Zones[0].Classes = []string{"red block", "unicorn"}
	_, err := app.New(cfg, testLogger(t))
	if !errors.Is(err, app.ErrConfig) || !strings.Contains(err.Error(), `cameras[0].zones[0].classes[1]: unknown class "unicorn" (the model's classes: "red block", "green block", "blue block")`) {
		t.Fatalf("app.New: %v", err)
	}
}

const eventsPageJS = `(() => {
  const el = document.querySelector('.tile[data-camera="cam1"]');
  if (!el) return {};
  const z = el.querySelector('canvas.zones');
  let ink = 0;
  if (z && !z.hidden && z.width) {
    const d = z.getContext('2d').getImageData(0, 0, z.width, z.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i]) ink++;
  }
  const a = el.querySelector('.events a');
  return { zones_shown: !!z && !z.hidden, ink,
    events: [...el.querySelectorAll('.events li.event')].map((e) => e.textContent),
    snapshot: a ? a.getAttribute('href') : '',
    detections: [...el.querySelectorAll('li.det')].map((e) => e.textContent) };
})()`

// TestEventsBrowser: in headless Chromium the viewer page draws the camera's zone and line
// over the video, labels the detections with their track IDs and lists the events as they
// happen, each linking to its snapshot.
func TestEventsBrowser(t *testing.T) {
	browsertest.ChromiumPath(t)
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: 1, Listen: "127.0.0.1:0", Script: simulate.EventsScript()})
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	_, base, _ := runApp(t, eventsConfig(t, false, 1, sim.URL(1)), testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	page := browsertest.OpenChromium(t, ctx, base+"/")
	var st struct {
		ZonesShown bool     `json:"zones_shown"`
		Ink        int      `json:"ink"`
		Events     []string `json:"events"`
		Snapshot   string   `json:"snapshot"`
		Detections []string `json:"detections"`
	}
	crossed, tracked := "", ""
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := page.Evaluate(ctx, eventsPageJS, &st); err != nil {
			t.Fatalf("evaluating in the page: %v", err)
		}
		for _, e := range st.Events {
			if strings.Contains(e, "red block crossed door (in)") && strings.HasPrefix(e, "#") {
				crossed = e
			}
		}
		for _, d := range st.Detections {
			if strings.HasPrefix(d, "#") {
				tracked = d
			}
		}
		if crossed != "" && tracked != "" && st.ZonesShown && st.Ink > 0 && strings.HasPrefix(st.Snapshot, "/api/events/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page after 40 s: %+v (crossing seen %q, tracked detection %q)", st, crossed, tracked)
		}
	}
	t.Logf("event %q, detection %q, zone pixels %d", crossed, tracked, st.Ink)
	if path := os.Getenv("GSTVISION_SCREENSHOT"); path != "" {
		if err := page.Screenshot(ctx, path); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
}
