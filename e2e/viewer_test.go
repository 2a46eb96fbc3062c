//go:build e2e

package e2e

// The browser path end to end, on CPU: simulated RTSP cameras → gstvision (in-process) → the
// annotated viewer video over WHEP to pion clients and to headless Chromium, and snapshots
// whose drawn boxes are checked against the simulator's ground truth.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/browsertest"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/test"
	"github.com/gstvision/gstvision/internal/viewer"
	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/overlay"
)

// Log messages of viewer/viewer.go: one per encoder pipeline started or stopped.
const (
	logEncoderStarted = "viewer encoding started"
	logEncoderStopped = "viewer encoding stopped"
)

// checkFirstAccessUnit checks that au holds SPS and PPS followed by an IDR slice.
func checkFirstAccessUnit(t *testing.T, who string, au []byte) {
	t.Helper()
	var types []int
	for _, n := range test.NALs(au) {
		types = append(types, int(n[0]&0x1f))
	}
	idr, iSPS, iPPS := slices.Index(types, 5), slices.Index(types, 7), slices.Index(types, 8)
	if idr < 0 || iSPS < 0 || iPPS < 0 || iSPS > idr || iPPS > idr {
		t.Fatalf("%s: first access unit has NAL types %v, want SPS (7) and PPS (8) before an IDR (5)", who, types)
	}
}

// checkStream checks every access unit: constrained baseline SPS (profile_idc 66 with
// constraint_set1_flag), no B slices. It returns the stream in Annex-B form.
func checkStream(t *testing.T, who string, aus [][]byte) []byte {
	t.Helper()
	var stream []byte
	slicesSeen, idrs := 0, 0
	var kinds [5]int // slices by slice_type mod 5
	for i, au := range aus {
		for _, n := range test.NALs(au) {
			switch n[0] & 0x1f {
			case 7:
				if len(n) < 4 {
					t.Fatalf("%s: AU %d: SPS of %d bytes", who, i, len(n))
				}
				if profile, flags := n[1], n[2]; profile != 66 || flags&0x40 == 0 {
					t.Errorf("%s: AU %d: SPS profile_idc %d constraint flags %08b, want 66 with constraint_set1 (constrained baseline)",
						who, i, profile, flags)
				}
			case 1, 5:
				slicesSeen++
				if n[0]&0x1f == 5 {
					idrs++
				}
				st := test.SliceType(n)
				kinds[st]++
				if st == 1 {
					t.Fatalf("%s: AU %d has a B slice", who, i)
				}
				if n[0]&0x1f == 5 && st != 2 {
					t.Fatalf("%s: AU %d: IDR slice of slice_type %d, want I (2)", who, i, st)
				}
			}
		}
		stream = append(stream, au...)
	}
	if slicesSeen < len(aus) || idrs == 0 || kinds[0] == 0 {
		t.Errorf("%s: %d slices (%d IDR, %d P) in %d access units", who, slicesSeen, idrs, kinds[0], len(aus))
	}
	t.Logf("%s: %d access units, %d slices: %d I (%d IDR), %d P, no B", who, len(aus), slicesSeen, kinds[2], idrs, kinds[0])
	return stream
}

// TestViewerWHEPPlayback: a pion client POSTs an offer to the real server's /whep/cam1 and
// receives the camera's annotated video: SPS, PPS and an IDR first, constrained baseline
// without B-frames, decodable by GStreamer to frames of the camera's size that show the
// simulated scene.
func TestViewerWHEPPlayback(t *testing.T) {
	sim := startSim(t, 1)
	cfg := configFor(t, false, sim.URL(1))
	rec := newLogRecorder()
	a, base := startViewerApp(t, cfg, rec)
	waitCameraFrames(t, a, "cam1", 10)

	const want = 60
	c := whepclient.Dial(t, base+"/whep/cam1", want)
	if ct := c.Response.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type = %q, want application/sdp", ct)
	}
	if !strings.HasPrefix(c.Location, "/whep/cam1/") || len(c.Location) <= len("/whep/cam1/") {
		t.Errorf("Location = %q, want /whep/cam1/{session}", c.Location)
	}
	if !strings.Contains(c.Answer, "H264/90000") || !strings.Contains(c.Answer, "a=candidate:") {
		t.Errorf("answer lacks H264 or candidates:\n%s", c.Answer)
	}
	c.Wait(t, 20*time.Second)
	cam, _ := a.Cameras().Get("cam1") // the camera's decoded frames: the last one received is a little older

	aus := c.AccessUnits()
	checkFirstAccessUnit(t, "viewer", aus[0])
	stream := checkStream(t, "viewer", aus)

	w, h := gst.ScaledSize(640, 360, cfg.WebRTC.MaxWidth)
	frames := test.DecodeH264(t, stream, w, h)
	if len(frames) < len(aus)-1 {
		t.Errorf("decoded %d frames of %d access units received", len(frames), len(aus))
	}
	t.Logf("received %d access units (%d bytes), decoded %d %dx%d frames", len(aus), len(stream), len(frames), w, h)

	// The video is the camera's picture: its last frame is one of the scene's frames (the
	// drawn boxes and compression make up the small remaining difference).
	if w == 640 && h == 360 {
		n, diff, median := matchScene(sim.Scene(1), frames[len(frames)-1], w, false, int(cam.Frames)-150, int(cam.Frames)+5)
		t.Logf("last decoded frame matches scene frame %d (camera at %d): mean luma difference %.2f, median %.2f",
			n, cam.Frames, diff, median)
		if diff > 3 || median < 2*diff {
			t.Errorf("the decoded video does not show the scene: best frame %d differs by %.2f (median %.2f)", n, diff, median)
		}
	}

	c.HangUp(t, base+c.Location)
	pollCond(t, 10*time.Second, "the encoder to stop after the viewer left", func() bool {
		return rec.count(logEncoderStopped, "cam1") == 1
	})
	if n := rec.count(logEncoderStarted, "cam1"); n != 1 {
		t.Errorf("%d encoders started for one viewer, want 1", n)
	}
}

// viewersMetric scrapes gstvision_webrtc_viewers{camera=cam1}, then closes the scrape's idle
// connection, whose goroutines would count against the test's goroutine baseline.
func viewersMetric(t *testing.T, base string) (float64, bool) {
	t.Helper()
	defer http.DefaultClient.CloseIdleConnections()
	return metricValue(scrape(t, base), "gstvision_webrtc_viewers", "camera", "cam1")
}

// TestViewerTwoViewersShareOneEncoder: two WHEP clients of one camera both receive decodable
// video from a single encoder, which stops once both have left; no goroutine outlives them.
func TestViewerTwoViewersShareOneEncoder(t *testing.T) {
	sim := startSim(t, 1)
	cfg := configFor(t, false, sim.URL(1))
	rec := newLogRecorder()
	a, base := startViewerApp(t, cfg, rec)
	waitCameraFrames(t, a, "cam1", 10)

	// A first viewer comes and goes, so that whatever pion and the server start lazily runs
	// before the goroutine baseline is taken.
	warm := whepclient.Dial(t, base+"/whep/cam1", 5)
	warm.Wait(t, 20*time.Second)
	warm.HangUp(t, base+warm.Location)
	pollCond(t, 10*time.Second, "the warm-up viewer's encoder to stop", func() bool {
		return rec.count(logEncoderStopped, "cam1") == 1
	})
	baseline := stableGoroutines()
	started, stopped := rec.count(logEncoderStarted, "cam1"), rec.count(logEncoderStopped, "cam1")

	const want = 45
	c1 := whepclient.Dial(t, base+"/whep/cam1", want)
	c2 := whepclient.Dial(t, base+"/whep/cam1", want)
	if c1.Location == c2.Location {
		t.Fatalf("both sessions at %s", c1.Location)
	}
	c1.Wait(t, 20*time.Second)
	c2.Wait(t, 20*time.Second)
	w, h := gst.ScaledSize(640, 360, cfg.WebRTC.MaxWidth)
	for i, c := range []*whepclient.Client{c1, c2} {
		who := fmt.Sprintf("viewer %d", i+1)
		aus := c.AccessUnits()
		checkFirstAccessUnit(t, who, aus[0])
		frames := test.DecodeH264(t, checkStream(t, who, aus), w, h)
		if len(frames) < len(aus)-1 {
			t.Errorf("%s: decoded %d frames of %d access units", who, len(frames), len(aus))
		}
	}
	if n := rec.count(logEncoderStarted, "cam1") - started; n != 1 {
		t.Errorf("%d encoders started for two viewers of cam1, want exactly 1", n)
	}
	if v, ok := viewersMetric(t, base); !ok || v != 2 {
		t.Errorf("gstvision_webrtc_viewers{camera=cam1} = %v (%v) with two viewers, want 2", v, ok)
	}
	if n := rec.count(logEncoderStopped, "cam1") - stopped; n != 0 {
		t.Errorf("the encoder stopped %d times while both viewers watched", n)
	}

	c1.HangUp(t, base+c1.Location)
	// One viewer left: the other one still watches, so the encoder keeps running.
	more := len(c2.AccessUnits()) + 10
	pollCond(t, 10*time.Second, "the remaining viewer to keep receiving", func() bool {
		return len(c2.AccessUnits()) >= more
	})
	if n := rec.count(logEncoderStopped, "cam1") - stopped; n != 0 {
		t.Errorf("the encoder stopped while a viewer still watched")
	}
	if v, ok := viewersMetric(t, base); !ok || v != 1 {
		t.Errorf("gstvision_webrtc_viewers{camera=cam1} = %v (%v) after one of two viewers left, want 1", v, ok)
	}
	c2.HangUp(t, base+c2.Location)
	pollCond(t, 10*time.Second, "the encoder to stop after both viewers left", func() bool {
		return rec.count(logEncoderStopped, "cam1")-stopped == 1
	})
	if n := rec.count(logEncoderStarted, "cam1") - started; n != 1 {
		t.Errorf("%d encoders started in all, want 1", n)
	}
	waitGoroutinesBelow(t, baseline, 10*time.Second)
}

// stableGoroutines returns the number of goroutines once it has not changed for 200 ms.
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for same := 0; same < 4; {
		time.Sleep(50 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// edgeCheck is the outcome of sampling one edge of one box.
type edgeCheck struct {
	name       string
	hits, seen int
}

// outlineHits samples the outline of box b in img: at points 3 px apart along each edge (4 px
// clear of the corners), it looks at the pixels across the edge from one outside to two inside
// the ground-truth box (where the drawn outline is, allowing for the detector's pixel of
// slack), and counts a hit where one of them has the box colour: within maxDist of box, and
// closer to it than to the object's own colour obj.
func outlineHits(img image.Image, b [4]float64, box, obj [3]uint8, maxDist float64) []edgeCheck {
	x1, y1, x2, y2 := int(b[0]), int(b[1]), int(b[2]), int(b[3])
	bounds := img.Bounds()
	hit := func(x, y int) bool {
		if !(image.Point{x, y}).In(bounds) {
			return false
		}
		c := jpegRGB(img, x, y)
		d := rgbDist(c, box)
		return d < maxDist && d < rgbDist(c, obj)
	}
	across := []int{-1, 0, 1, 2} // outward (-1) to inward (2), from the outline's outer pixel
	var out []edgeCheck
	for _, e := range []struct {
		name string
		at   func(along, in int) (int, int)
		from int
		to   int
	}{
		{"top", func(a, in int) (int, int) { return a, y1 + in }, x1, x2},
		{"bottom", func(a, in int) (int, int) { return a, y2 - 1 - in }, x1, x2},
		{"left", func(a, in int) (int, int) { return x1 + in, a }, y1, y2},
		{"right", func(a, in int) (int, int) { return x2 - 1 - in, a }, y1, y2},
	} {
		ec := edgeCheck{name: e.name}
		for a := e.from + 4; a < e.to-4; a += 3 {
			if x, y := e.at(a, 0); !(image.Point{x, y}).In(bounds) {
				continue // the edge is outside the picture here
			}
			ec.seen++
			for _, in := range across {
				if hit(e.at(a, in)) {
					ec.hits++
					break
				}
			}
		}
		out = append(out, ec)
	}
	return out
}

// interiorHits counts, at points on a 4 px grid inside box b (6 px clear of its edges), the
// pixels that pass the same colour test as outline pixels.
func interiorHits(img image.Image, b [4]float64, box, obj [3]uint8, maxDist float64) (hits, seen int) {
	for y := int(b[1]) + 6; y < int(b[3])-6; y += 4 {
		for x := int(b[0]) + 6; x < int(b[2])-6; x += 4 {
			c := jpegRGB(img, x, y)
			seen++
			if d := rgbDist(c, box); d < maxDist && d < rgbDist(c, obj) {
				hits++
			}
		}
	}
	return hits, seen
}

// snapshotBoxes checks one snapshot: it finds the scene frame the picture shows and checks
// that each ground-truth object of that frame has an outline in its class's box colour, which
// neither the object's inside nor the same frame without annotations (rendered by the
// simulator and JPEG-encoded like snapshots) has. It returns a description of what is wrong.
func snapshotBoxes(sc *simulate.Scene, jpg []byte, lo, hi int, logf func(string, ...any)) error {
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		return fmt.Errorf("decoding the snapshot: %w", err)
	}
	if b := img.Bounds(); b.Dx() != sc.Width || b.Dy() != sc.Height {
		return fmt.Errorf("snapshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), sc.Width, sc.Height)
	}
	ycc, ok := img.(*image.YCbCr)
	if !ok {
		return fmt.Errorf("snapshot decodes to %T, want *image.YCbCr", img)
	}
	n, diff, median := matchScene(sc, ycc.Y, ycc.YStride, true, lo, hi)
	logf("snapshot shows scene frame %d (searched %d..%d): mean luma difference %.2f, median %.2f", n, lo, hi, diff, median)
	if diff > 3 || median < 2*diff {
		return fmt.Errorf("no scene frame in %d..%d matches the snapshot (best %d: %.2f, median %.2f)", lo, hi, n, diff, median)
	}

	// The same frame without annotations, through the snapshot's JPEG encoder.
	raw := make([]byte, sc.Width*sc.Height*3/2)
	sc.RenderI420(n, raw)
	w, h := sc.Width, sc.Height
	plain, err := overlay.EncodeJPEG([3][]byte{raw[:w*h], raw[w*h : w*h*5/4], raw[w*h*5/4:]}, [3]int{w, w / 2, w / 2}, w, h, 85)
	if err != nil {
		return err
	}
	plainImg, err := jpeg.Decode(bytes.NewReader(plain))
	if err != nil {
		return err
	}

	const maxDist, minFrac = 60, 0.8
	var problems []string
	for _, o := range sc.Objects(n) {
		box, obj := overlay.ColorFor(o.ClassID), simulate.ClassRGB[o.ClassID]
		name := simulate.Classes[o.ClassID]
		for _, ec := range outlineHits(img, o.Box, box, obj, maxDist) {
			if ec.seen == 0 {
				continue
			}
			frac := float64(ec.hits) / float64(ec.seen)
			logf("  %s %v %s edge: %d/%d points in box colour %v", name, o.Box, ec.name, ec.hits, ec.seen, box)
			if frac < minFrac {
				problems = append(problems, fmt.Sprintf("%s %v: %s edge has the box colour at %d of %d points",
					name, o.Box, ec.name, ec.hits, ec.seen))
			}
		}
		// Controls: the test tells the outline from the object and from an unannotated picture.
		if hits, seen := interiorHits(img, o.Box, box, obj, maxDist); hits*10 > seen {
			problems = append(problems, fmt.Sprintf("%s: %d of %d points inside the object pass for the box colour", name, hits, seen))
		}
		for _, ec := range outlineHits(plainImg, o.Box, box, obj, maxDist) {
			if ec.seen > 0 && float64(ec.hits)/float64(ec.seen) >= minFrac/2 {
				problems = append(problems, fmt.Sprintf("%s: the unannotated frame passes for an outline on the %s edge (%d of %d)",
					name, ec.name, ec.hits, ec.seen))
			}
		}
	}
	if len(problems) > 0 {
		// Whose boxes are they? The frame nearby whose ground truth the outlines fit best.
		boxesOf, bestFit := n, -1.0
		for m := max(n-30, 0); m <= n+30; m++ {
			if f := outlineFit(img, sc.Objects(m), maxDist); f > bestFit {
				boxesOf, bestFit = m, f
			}
		}
		return fmt.Errorf("snapshot of scene frame %d (its outlines fit frame %d best, %.0f%% of points):\n  %s",
			n, boxesOf, 100*bestFit, strings.Join(problems, "\n  "))
	}
	return nil
}

// outlineFit is the fraction of outline points of objs that have their box colour in img.
func outlineFit(img image.Image, objs []simulate.Object, maxDist float64) float64 {
	hits, seen := 0, 0
	for _, o := range objs {
		for _, ec := range outlineHits(img, o.Box, overlay.ColorFor(o.ClassID), simulate.ClassRGB[o.ClassID], maxDist) {
			hits += ec.hits
			seen += ec.seen
		}
	}
	if seen == 0 {
		return 0
	}
	return float64(hits) / float64(seen)
}

// TestViewerSnapshotBoxes: GET /api/cameras/cam1/snapshot.jpg is a JPEG of the camera's
// picture with an outline in each class's box colour exactly where the ground truth puts the
// objects. With GSTVISION_SNAPSHOT=file.jpg the first snapshot is saved there.
func TestViewerSnapshotBoxes(t *testing.T) {
	// A viewer frame gets its own detections unless the detector falls more than
	// viewer.SyncWait behind; then it gets the latest ones, from an earlier frame. CI machines
	// are loaded (other packages' tests): wait longer here, and restore the default once the
	// app has stopped.
	syncWait := viewer.SyncWait
	viewer.SyncWait = 2 * time.Second
	t.Cleanup(func() { viewer.SyncWait = syncWait })
	sim := startSim(t, 1)
	cfg := configFor(t, false, sim.URL(1))
	a, base := startViewerApp(t, cfg, newLogRecorder())
	waitCameraFrames(t, a, "cam1", 30)
	// Frames decoded before the first result are drawn without boxes.
	pollCond(t, 20*time.Second, "cam1's first detections", func() bool {
		r, ok := a.Hub().Latest("cam1")
		return ok && len(r.Detections) > 0
	})

	// A frame can still carry another frame's boxes: one the detector never saw (dropped from
	// its queue under load) gets the latest detections, and when the viewer branch lags the
	// detector (seen under -race) the latest result is already a later frame's. Up to three
	// snapshots are taken; one must be right.
	var errs []string
	for attempt := 1; attempt <= 3; attempt++ {
		before, _ := a.Cameras().Get("cam1")
		r := viewerDo(t, http.MethodGet, base+"/api/cameras/cam1/snapshot.jpg", "", nil)
		after, _ := a.Cameras().Get("cam1")
		if r.status != http.StatusOK {
			t.Fatalf("snapshot: %d %s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "image/jpeg" {
			t.Fatalf("snapshot Content-Type %q, want image/jpeg", ct)
		}
		if path := os.Getenv("GSTVISION_SNAPSHOT"); path != "" && attempt == 1 {
			_ = os.WriteFile(path, r.body, 0o644)
		}
		// The simulator's client k-th picture is scene frame k; the camera counts decoded frames.
		// (The window spans at least 60 frames, for a meaningful median difference.)
		lo := max(int(before.Frames)-90, 0)
		err := snapshotBoxes(sim.Scene(1), r.body, lo, max(int(after.Frames)+5, lo+60), t.Logf)
		if err == nil {
			return
		}
		errs = append(errs, fmt.Sprintf("attempt %d: %v", attempt, err))
	}
	t.Errorf("no snapshot had the boxes where the ground truth is:\n%s", strings.Join(errs, "\n"))
}

// TestViewerHTTPErrors: the snapshot and WHEP endpoints of the real server answer unknown
// cameras with 404 and malformed offers with 400, as JSON errors that give the reason.
func TestViewerHTTPErrors(t *testing.T) {
	sim := startSim(t, 1)
	cfg := configFor(t, false, sim.URL(1))
	_, base := startViewerApp(t, cfg, newLogRecorder())
	offer := whepclient.New(t, 1).Offer

	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		reason                          string
	}{
		{"snapshot of an unknown camera", "GET", "/api/cameras/nope/snapshot.jpg", "", "", 404, "unknown camera"},
		{"malformed SDP", "POST", "/whep/cam1", "application/sdp", "this is not SDP", 400, "SDP"},
		{"offer without video", "POST", "/whep/cam1", "application/sdp",
			"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n",
			400, "no video"},
		{"WHEP for an unknown camera", "POST", "/whep/nope", "application/sdp", offer, 404, "unknown camera"},
		{"offer that is not SDP", "POST", "/whep/cam1", "application/json", `{"sdp": ""}`, 415, "application/sdp"},
		{"unknown WHEP session", "DELETE", "/whep/cam1/0123", "", "", 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := viewerDo(t, tc.method, base+tc.path, tc.ctype, body)
			if r.status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			msg, ok := jsonErrorBody(r)
			if !ok || !strings.Contains(msg, tc.reason) {
				t.Errorf("%s %s: body %q (%s), want a JSON error mentioning %q", tc.method, tc.path, r.body,
					r.header.Get("Content-Type"), tc.reason)
			}
		})
	}
}

// browserTile is what the page shows of one camera.
type browserTile struct {
	ID          string   `json:"id"`
	State       string   `json:"state"`
	Message     string   `json:"message"`
	VideoFrames int      `json:"videoFrames"` // getVideoPlaybackQuality().totalVideoFrames
	Callbacks   int      `json:"callbacks"`   // requestVideoFrameCallback calls
	Decoded     int      `json:"decoded"`     // framesDecoded of the peer connection's stats
	Width       int      `json:"width"`
	Height      int      `json:"height"`
	Detections  []string `json:"detections"`
}

type browserPage struct {
	Tiles  []browserTile `json:"tiles"`
	Live   string        `json:"live"`
	Banner string        `json:"banner"`
}

// browserPageJS reads the page's state; on its first call for a <video> it starts counting
// that video's frames with requestVideoFrameCallback.
const browserPageJS = `(async () => {
  if (!document.getElementById('live') || !window.gstvision) return {tiles: []}; // still loading
  const tiles = [];
  for (const el of document.querySelectorAll('[data-camera]')) {
    const v = el.querySelector('video');
    if (v && !v.dataset.counting) {
      v.dataset.counting = '1';
      v.__callbacks = 0;
      const cb = () => { v.__callbacks++; v.requestVideoFrameCallback(cb); };
      v.requestVideoFrameCallback(cb);
    }
    tiles.push({
      id: el.dataset.camera,
      state: el.querySelector('.state').textContent,
      message: el.querySelector('.message').hidden ? '' : el.querySelector('.message').textContent,
      videoFrames: v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
      callbacks: (v && v.__callbacks) || 0,
      decoded: await window.gstvision.framesDecoded(el.dataset.camera),
      width: v ? v.videoWidth : 0,
      height: v ? v.videoHeight : 0,
      detections: [...el.querySelectorAll('li.det')].map((e) => e.textContent),
    });
  }
  return {tiles, live: document.getElementById('live').textContent,
    banner: document.getElementById('banner').hidden ? '' : document.getElementById('banner').textContent};
})()`

// TestViewerBrowser: headless Chromium opens the viewer page of a gstvision serving two
// simulated cameras; every tile plays its camera's video and lists its detections; leaving the
// page ends the WHEP sessions and the encoders stop.
func TestViewerBrowser(t *testing.T) {
	browsertest.ChromiumPath(t)
	testViewerBrowser(t, true, func(ctx context.Context, url string) browsertest.Page {
		return browsertest.OpenChromium(t, ctx, url)
	})
}

// TestViewerBrowserFirefox: the same in headless Firefox, which has no OpenH264 plugin offline
// and decodes the H.264 with the system's libavcodec instead (browsertest.FirefoxPlatformH264).
func TestViewerBrowserFirefox(t *testing.T) {
	browsertest.FirefoxPath(t)
	testViewerBrowser(t, false, func(ctx context.Context, url string) browsertest.Page {
		return browsertest.OpenFirefox(t, ctx, url, browsertest.FirefoxPlatformH264)
	})
}

// testViewerBrowser opens the page with open. playbackQuality: the browser counts a
// MediaStream's frames in getVideoPlaybackQuality (Chromium does, Firefox reports 0; the frame
// callbacks and the decoder's count stand for it there).
func testViewerBrowser(t *testing.T, playbackQuality bool, open func(ctx context.Context, url string) browsertest.Page) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	sim := startSim(t, 2)
	cfg := configFor(t, false, sim.URL(1), sim.URL(2))
	rec := newLogRecorder()
	a, base := startViewerApp(t, cfg, rec)
	cams := []string{"cam1", "cam2"}
	for _, id := range cams {
		waitCameraFrames(t, a, id, 10)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	page := open(ctx, base+"/")
	w, h := gst.ScaledSize(640, 360, cfg.WebRTC.MaxWidth)
	var st browserPage
	ready := func() bool {
		if len(st.Tiles) != len(cams) {
			return false
		}
		for _, tl := range st.Tiles {
			if playbackQuality && tl.VideoFrames <= 10 || tl.Callbacks <= 10 || tl.Decoded <= 10 || len(tl.Detections) < 3 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if err := page.Evaluate(ctx, browserPageJS, &st); err != nil {
			t.Fatalf("evaluating in the page: %v", err)
		}
		if ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page state after 30 s: %+v", st)
		}
	}
	t.Logf("page: %+v", st)
	if path := os.Getenv("GSTVISION_SCREENSHOT"); path != "" {
		if err := page.Screenshot(ctx, path); err != nil {
			t.Errorf("screenshot: %v", err)
		} else {
			t.Logf("screenshot saved to %s", path)
		}
	}

	for i, tl := range st.Tiles {
		if tl.ID != cams[i] {
			t.Errorf("tile %d is %q, want %q", i, tl.ID, cams[i])
		}
		if tl.Width != w || tl.Height != h {
			t.Errorf("%s: video is %dx%d, want %dx%d", tl.ID, tl.Width, tl.Height, w, h)
		}
		if tl.State != "running" || tl.Message != "" {
			t.Errorf("%s: state %q, message %q; want running and no message", tl.ID, tl.State, tl.Message)
		}
		// Every result has all three blocks: the latest ones are listed, labelled with scores.
		all := strings.Join(tl.Detections, "\n")
		for _, class := range simulate.Classes {
			if !strings.Contains(all, class) {
				t.Errorf("%s: detections %q lack %q", tl.ID, tl.Detections, class)
			}
		}
		if !strings.Contains(all, "%") {
			t.Errorf("%s: detections %q show no score", tl.ID, tl.Detections)
		}
	}
	if st.Live != "detections: live" || st.Banner != "" {
		t.Errorf("live %q, banner %q", st.Live, st.Banner)
	}
	for _, id := range cams {
		if n := rec.count(logEncoderStarted, id); n != 1 {
			t.Errorf("%s: %d encoders started for one browser, want 1", id, n)
		}
	}

	// Leaving the page DELETEs both sessions: nobody watches, the encoders stop.
	if err := page.Evaluate(ctx, `location.href = 'about:blank'`, nil); err != nil {
		t.Fatal(err)
	}
	pollCond(t, 10*time.Second, "both encoders to stop after the page was left", func() bool {
		return rec.count(logEncoderStopped, "cam1") == 1 && rec.count(logEncoderStopped, "cam2") == 1
	})
}
