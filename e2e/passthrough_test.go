//go:build e2e

package e2e

// The passthrough view (issue #14): the camera's own H.264 over WebRTC, the GOP cache for
// viewers joining mid-GOP, detections keyed to frames over the data channel, and the fallback
// to the annotated view for cameras WebRTC cannot carry as they are.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/test"
	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

// startPassthroughSim serves one camera as passthrough needs it: High profile without
// B-frames, a keyframe every 10 s (300 frames), so that a viewer joining at ~3 s is far from
// the camera's next keyframe.
func startPassthroughSim(t *testing.T) *simulate.Server {
	t.Helper()
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: 1, Listen: "127.0.0.1:0",
		BFrames: -1, KeyIntMax: 300})
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// rtspAccessUnits reads the first n access units of url with a plain RTSP client (the same
// depayloader and parser settings as a camera pipeline), as Annex-B.
func rtspAccessUnits(t *testing.T, url string, n int) [][]byte {
	t.Helper()
	return rtspAccessUnitsOf(t, "h264", url, n)
}

// rtspAccessUnitsOf is rtspAccessUnits for codec "h264" or "h265".
func rtspAccessUnitsOf(t *testing.T, codec, url string, n int) [][]byte {
	t.Helper()
	pl, err := gogst.NewPipelineFromString(fmt.Sprintf("rtspsrc location=%[2]s protocols=tcp ! rtp%[1]sdepay ! "+
		"%[1]sparse config-interval=-1 ! video/x-%[1]s,stream-format=byte-stream,alignment=au ! "+
		"appsink name=sink sync=false max-buffers=1000", codec, url))
	if err != nil {
		t.Fatalf("reference client: %v", err)
	}
	el, err := pl.GetElementByName("sink")
	if err != nil {
		t.Fatal(err)
	}
	sink := app.SinkFromElement(el)
	if err := pl.SetState(gogst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	defer pl.SetState(gogst.StateNull)
	var out [][]byte
	for len(out) < n {
		s := sink.TryPullSample(gogst.ClockTime(10 * time.Second))
		if s == nil {
			t.Fatalf("reference client: %d access units of %d", len(out), n)
		}
		out = append(out, s.GetBuffer().Bytes())
	}
	return out
}

// nalUnits lists an access unit's NAL units without AUD (9) and filler (12), which the RTP
// payloader leaves out, and without repeats of an SPS or PPS (7, 8) already listed: parsers
// and payloaders insert parameter sets before IDRs as they see fit.
func nalUnits(au []byte) [][]byte {
	var out [][]byte
	for _, n := range test.NALs(au) {
		t := n[0] & 0x1f
		if t == 9 || t == 12 || (t == 7 || t == 8) && slices.ContainsFunc(out, func(o []byte) bool { return string(o) == string(n) }) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// sameNALs reports whether two access units carry the same NAL units, bit for bit.
func sameNALs(a, b []byte) bool {
	return slices.EqualFunc(nalUnits(a), nalUnits(b), func(x, y []byte) bool { return string(x) == string(y) })
}

// TestPassthroughViewer: a viewer joining a passthrough camera ~3 s into a 10 s GOP gets, within
// 3 s, the camera's own IDR (High profile SPS, not our encoder's constrained baseline) from the
// GOP cache, then bit-identical access units (compared with a plain RTSP client of the same
// mount, whose encoder, deterministic, produces the same stream), and no encoder runs for it.
// Its detections channel carries each analysed frame's rtp_ts, which is the RTP timestamp of a
// received frame whose picture the detections match.
func TestPassthroughViewer(t *testing.T) {
	sim := startPassthroughSim(t)
	cfg := configFor(t, false, sim.URL(1))
	rec := newLogRecorder()
	a, base := startViewerApp(t, cfg, rec)
	waitCameraFrames(t, a, "cam1", 90) // ~3 s into the camera's first GOP

	var st defs.Status
	getJSON(t, base+"/api/cameras/cam1", &st)
	if st.View != "passthrough" || st.ViewReason != "" {
		t.Errorf("/api/cameras/cam1: view %q (%q), want passthrough", st.View, st.ViewReason)
	}

	const want = 150
	c := whepclient.NewDetections(t, want)
	posted := time.Now()
	c.Post(t, base+"/whep/cam1?view=passthrough")
	if v := c.Response.Header.Get("X-Gstvision-View"); v != "passthrough" {
		t.Fatalf("X-Gstvision-View = %q, want passthrough", v)
	}
	select {
	case <-c.First():
	case <-time.After(3 * time.Second):
		t.Fatalf("no access unit within 3 s of the offer (the camera's next keyframe is ~7 s away)")
	}
	firstAfter := time.Since(posted)
	c.Wait(t, 30*time.Second)
	aus, stamps := c.AccessUnits()[:want], c.Timestamps()[:want] // the client keeps receiving
	checkFirstAccessUnit(t, "passthrough viewer", aus[0])
	if sps := nalUnits(aus[0])[0]; sps[0]&0x1f != 7 || sps[1] != 100 {
		t.Errorf("first NAL unit %x…, want the camera's High profile SPS (profile_idc 100)", sps[:4])
	}
	idrs := 0
	for i, au := range aus {
		for _, n := range test.NALs(au) {
			switch n[0] & 0x1f {
			case 5:
				if i > 0 {
					idrs++
				}
			case 7:
				if n[1] != 100 {
					t.Fatalf("AU %d: SPS profile_idc %d, want the camera's 100 (High), not our encoder's 66", i, n[1])
				}
			}
		}
	}
	if idrs > 0 {
		t.Errorf("%d more IDRs in %d access units: the first did not come from the cache", idrs, len(aus))
	}
	t.Logf("client stats %+v", c.Stats())
	t.Logf("first access unit %v after the offer; SPS profile_idc %d level %d", firstAfter.Round(time.Millisecond),
		nalUnits(aus[0])[0][1], nalUnits(aus[0])[0][3])

	// The camera's own access units: the reference client's stream starts at its encoder's
	// first frame, as the camera pipeline's did, and the viewer's starts at that GOP's IDR.
	ref := rtspAccessUnits(t, sim.URL(1), want)
	same := 0
	var differ []int
	for i := range aus {
		if sameNALs(aus[i], ref[i]) {
			same++
		} else if len(differ) < 10 {
			differ = append(differ, i)
		}
	}
	if len(differ) > 0 {
		t.Logf("access units that differ: %v", differ)
	}
	if same != len(aus) {
		t.Errorf("%d of %d access units are bit-identical to the camera's", same, len(aus))
	}

	checkDetections(t, sim.Scene(1), c, aus, stamps)

	if n := rec.count(logEncoderStarted, "cam1"); n != 0 {
		t.Errorf("%d encoders started for a passthrough viewer, want none", n)
	}
	c.HangUp(t, base+c.Location)
}

// checkDetections checks the detections channel: at least 95 % of the messages carry the
// rtp_ts of a received frame, and their detections match the ground truth of that frame. The
// scene frame each received frame shows is found from the last decoded picture (scenematch)
// and the frames' RTP timestamps, at 30 fps.
func checkDetections(t *testing.T, sc *simulate.Scene, c *whepclient.Client, aus [][]byte, stamps []uint32) {
	t.Helper()
	var stream []byte
	for _, au := range aus {
		stream = append(stream, au...)
	}
	// The decoder may keep its last few frames; those it returns are the first ones.
	frames := test.DecodeH264(t, stream, sc.Width, sc.Height)
	if len(frames) < len(aus)-10 {
		t.Fatalf("decoded %d frames of %d access units", len(frames), len(aus))
	}
	last := len(frames) - 1
	nLast, diff, _ := matchScene(sc, frames[last], sc.Width, false, 0, len(frames)+600)
	if diff > 3 {
		t.Fatalf("the last frame matches no scene frame (best %d, difference %.2f)", nLast, diff)
	}
	sceneOf := map[uint32]int{}
	for _, ts := range stamps[:last+1] {
		sceneOf[ts] = nLast - int(int64(stamps[last]-ts)/3000)
	}
	// Results come for the frames analysed after the channel opened: the live frames, not
	// the cached GOP that arrived in a burst at the start.
	at := c.ArrivalTimes()[:last+1] // the client keeps receiving
	live := 0
	for _, when := range at {
		if when.Sub(at[0]) > 500*time.Millisecond {
			live++
		}
	}
	inWindow, keyed, matched := 0, 0, 0
	for _, m := range c.Messages() {
		var msg struct {
			RTPTS      *uint32          `json:"rtp_ts"`
			Detections []defs.Detection `json:"detections"`
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			t.Fatalf("message %s: %v", m, err)
		}
		if msg.RTPTS != nil && int32(*msg.RTPTS-stamps[last]) > 0 {
			continue // a frame after the ones the client kept
		}
		inWindow++
		if msg.RTPTS == nil {
			continue
		}
		n, ok := sceneOf[*msg.RTPTS]
		if !ok {
			continue
		}
		keyed++
		if groundtruth.FrameMatches(msg.Detections, sc.Objects(n)) {
			matched++
		}
	}
	t.Logf("%d live frames; %d messages up to the last kept frame, %d keyed to a received frame, %d match its ground truth",
		live, inWindow, keyed, matched)
	if live < 20 || inWindow < live*9/10 {
		t.Errorf("%d messages for %d live frames", inWindow, live)
	}
	if keyed < inWindow*95/100 {
		t.Errorf("%d of %d messages carry the rtp_ts of a received frame, want 95 %%", keyed, inWindow)
	}
	if matched < keyed*95/100 {
		t.Errorf("%d of %d keyed messages match the ground truth of their frame, want 95 %%", matched, keyed)
	}
}

// TestPassthroughFallback: a camera with B-frames (the simulator's default) asked for
// passthrough plays the annotated view, says why in the headers and in /api/cameras, and the
// encoder runs for it (TestPassthroughViewer checks that none runs for passthrough viewers).
// Its detections channel keys results to the annotated frames.
func TestPassthroughFallback(t *testing.T) {
	sim := startSim(t, 1)
	cfg := configFor(t, false, sim.URL(1))
	rec := newLogRecorder()
	a, base := startViewerApp(t, cfg, rec)
	waitCameraFrames(t, a, "cam1", 10)

	var st defs.Status
	getJSON(t, base+"/api/cameras/cam1", &st)
	if st.View != "annotated" || st.ViewReason != "the camera sends B-frames, which WebRTC cannot carry" {
		t.Errorf("/api/cameras/cam1: view %q, view_reason %q; want annotated for B-frames", st.View, st.ViewReason)
	}
	c := whepclient.NewDetections(t, 60)
	c.Post(t, base+"/whep/cam1?view=passthrough")
	h := c.Response.Header
	if h.Get("X-Gstvision-View") != "annotated" || h.Get("X-Gstvision-View-Reason") == "" {
		t.Errorf("X-Gstvision-View %q, reason %q; want annotated with a reason", h.Get("X-Gstvision-View"),
			h.Get("X-Gstvision-View-Reason"))
	}
	c.Wait(t, 20*time.Second)
	aus := c.AccessUnits()
	checkFirstAccessUnit(t, "fallen-back viewer", aus[0])
	checkStream(t, "fallen-back viewer", aus) // our encoder's constrained baseline, no B slices
	// Annotated sessions get rtp_ts too: the encoder keeps each frame's PTS. A frame the
	// viewer branch dropped (its leaky queue) has a result but no video frame.
	stamps := map[uint32]bool{}
	for _, ts := range c.Timestamps() {
		stamps[ts] = true
	}
	last := c.Timestamps()[len(aus)-1]
	inWindow, keyed := 0, 0
	for _, m := range c.Messages() {
		var msg struct {
			RTPTS *uint32 `json:"rtp_ts"`
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			t.Fatalf("message %s: %v", m, err)
		}
		if msg.RTPTS != nil && int32(*msg.RTPTS-last) > 0 {
			continue
		}
		inWindow++
		if msg.RTPTS != nil && stamps[*msg.RTPTS] {
			keyed++
		}
	}
	t.Logf("annotated: %d messages up to the last kept frame, %d keyed to a received frame", inWindow, keyed)
	if inWindow < 10 || keyed < inWindow*8/10 {
		t.Errorf("annotated: %d of %d messages carry the rtp_ts of a received frame, want 80 %%", keyed, inWindow)
	}
	if n := rec.count(logEncoderStarted, "cam1"); n != 1 {
		t.Errorf("%d encoders started for the fallen-back viewer, want 1", n)
	}
	c.HangUp(t, base+c.Location)
}

// TestPassthroughH265: an H.265 camera (without B-frames) is passed through to a viewer
// whose offer lists H.265: joining ~3 s into a 10 s GOP it gets, within 3 s, the camera's own
// IRAP picture with VPS, SPS (Main profile) and PPS from the GOP cache, then access units
// bit-identical to a plain RTSP client's, and no encoder runs. A viewer whose offer lacks
// H.265 (a browser that does not play it) gets the annotated view and the reason;
// /api/cameras says which view goes to whom.
func TestPassthroughH265(t *testing.T) {
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: 1, Listen: "127.0.0.1:0",
		Codec: simulate.CodecH265, BFrames: -1, KeyIntMax: 300})
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := configFor(t, false, sim.URL(1))
	rec := newLogRecorder()
	a, base := startViewerApp(t, cfg, rec)
	waitCameraFrames(t, a, "cam1", 90)
	var st defs.Status
	getJSON(t, base+"/api/cameras/cam1", &st)
	if st.View != "passthrough" || st.ViewReason != webrtc.NoteH265 {
		t.Errorf("/api/cameras/cam1: view %q, view_reason %q; want passthrough with %q", st.View, st.ViewReason, webrtc.NoteH265)
	}

	const want = 60
	c := whepclient.New(t, want)
	c.Post(t, base+"/whep/cam1")
	if v := c.Response.Header.Get(webrtc.HeaderView); v != "passthrough" {
		t.Fatalf("%s = %q (%q), want passthrough", webrtc.HeaderView, v, c.Response.Header.Get(webrtc.HeaderViewReason))
	}
	select {
	case <-c.First():
	case <-time.After(3 * time.Second):
		t.Fatalf("no access unit within 3 s of the offer (the camera's next keyframe is ~7 s away)")
	}
	c.Wait(t, 30*time.Second)
	aus := c.AccessUnits()[:want]
	var types []int
	for _, n := range test.NALs(aus[0]) {
		types = append(types, int(n[0]>>1)&0x3f)
	}
	if len(types) < 4 || types[0] != 32 || types[1] != 33 || types[2] != 34 || !slices.ContainsFunc(types[3:], func(v int) bool { return v >= 16 && v <= 21 }) {
		t.Fatalf("first access unit has NAL types %v, want VPS, SPS, PPS and an IRAP picture", types)
	}
	if sps := test.NALs(aus[0])[1]; len(sps) < 4 || sps[3]&0x1f != 1 {
		t.Errorf("SPS %x…: want the camera's Main profile (general_profile_idc 1)", sps[:min(len(sps), 8)])
	}
	ref := rtspAccessUnitsOf(t, "h265", sim.URL(1), want)
	same := 0
	for i := range aus {
		if slices.EqualFunc(nal265s(aus[i]), nal265s(ref[i]), func(x, y []byte) bool { return string(x) == string(y) }) {
			same++
		}
	}
	if same != len(aus) {
		t.Errorf("%d of %d access units are bit-identical to the camera's", same, len(aus))
	}
	if n := rec.count(logEncoderStarted, "cam1"); n != 0 {
		t.Errorf("%d encoders started for an H.265 passthrough viewer, want none", n)
	}
	c.HangUp(t, base+c.Location)

	h264 := whepclient.New(t, 10).WithoutH265()
	h264.Post(t, base+"/whep/cam1")
	h := h264.Response.Header
	if h.Get(webrtc.HeaderView) != "annotated" || h.Get(webrtc.HeaderViewReason) != webrtc.ReasonH265 {
		t.Errorf("an offer without H.265: %s=%q %s=%q, want annotated with %q", webrtc.HeaderView,
			h.Get(webrtc.HeaderView), webrtc.HeaderViewReason, h.Get(webrtc.HeaderViewReason), webrtc.ReasonH265)
	}
	h264.Wait(t, 30*time.Second)
	checkFirstAccessUnit(t, "H.264 viewer of an H.265 camera", h264.AccessUnits()[0])
	h264.HangUp(t, base+h264.Location)
}

// nal265s lists an H.265 access unit's NAL units without AUD (35), filler (38) and repeats of
// a parameter set (32 to 34) already listed, as nalUnits does for H.264.
func nal265s(au []byte) [][]byte {
	var out [][]byte
	for _, n := range test.NALs(au) {
		t := int(n[0]>>1) & 0x3f
		if t == 35 || t == 38 || t >= 32 && t <= 34 && slices.ContainsFunc(out, func(o []byte) bool { return string(o) == string(n) }) {
			continue
		}
		out = append(out, n)
	}
	return out
}
