package webrtc_test

import (
	"encoding/json"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

// TestWHEPPlayback: a pion client negotiates WHEP, receives H.264 that starts with SPS, PPS and
// an IDR, and the received stream decodes to 320×240 frames.
func TestWHEPPlayback(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{}, "cam1")
	b := ts.m.Broadcaster("cam1")
	startFeeder(t, b, aus)

	c := dial(t, ts, "cam1", 45)
	if ct := c.Response.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(c.Location, "/whep/cam1/") || len(c.Location) <= len("/whep/cam1/") {
		t.Errorf("Location = %q", c.Location)
	}
	if et := c.Response.Header.Get("ETag"); len(et) < 3 || et[0] != '"' {
		t.Errorf("ETag = %q", et)
	}
	if !strings.Contains(c.Answer, "a=candidate:") || !strings.Contains(c.Answer, "H264/90000") {
		t.Errorf("answer lacks candidates or H264:\n%s", c.Answer)
	}
	c.WaitState(t, 10*time.Second, pion.PeerConnectionStateConnected)
	c.Wait(t, 10*time.Second)

	stream, frames := received(c)
	types := nalTypes(stream, 3)
	if !slices.Equal(types, []int{7, 8, 5}) {
		t.Errorf("stream starts with NAL types %v, want SPS, PPS, IDR [7 8 5]", types)
	}
	if n := decode(t, stream); n < frames-1 {
		t.Errorf("decoded %d frames of %d received", n, frames)
	}
	if got := b.Viewers(); got != 1 {
		t.Errorf("Viewers = %d, want 1", got)
	}
}

// TestTwoViewersShareOneSource: one WriteAccessUnit stream feeds two viewers; viewer counts are
// reported in order.
func TestTwoViewersShareOneSource(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{}, "cam1")
	b := ts.m.Broadcaster("cam1")
	var mu sync.Mutex
	var counts []int
	b.OnViewersChanged(func(n int) {
		mu.Lock()
		counts = append(counts, n)
		mu.Unlock()
	})
	f := startFeeder(t, b, aus)

	c1 := dial(t, ts, "cam1", 30)
	c2 := dial(t, ts, "cam1", 30)
	if c1.Location == c2.Location {
		t.Fatalf("both sessions at %s", c1.Location)
	}
	c1.Wait(t, 10*time.Second)
	c2.Wait(t, 10*time.Second)
	if got := b.Viewers(); got != 2 {
		t.Errorf("Viewers = %d, want 2", got)
	}
	for i, c := range []*whepclient.Client{c1, c2} {
		stream, frames := received(c)
		if types := nalTypes(stream, 3); !slices.Equal(types, []int{7, 8, 5}) {
			t.Errorf("viewer %d starts with %v", i+1, types)
		}
		if n := decode(t, stream); n < frames-1 {
			t.Errorf("viewer %d: decoded %d of %d frames", i+1, n, frames)
		}
	}
	// Together they got more frames than the source wrote: it was shared, not split.
	_, n1 := received(c1)
	_, n2 := received(c2)
	if w := int(f.written.Load()); n1+n2 <= w {
		t.Errorf("viewers got %d+%d frames of %d written", n1, n2, w)
	}

	for _, c := range []*whepclient.Client{c1, c2} {
		if resp, body := ts.do(t, http.MethodDelete, c.Location, "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(counts, []int{1, 2, 1, 0}) {
		t.Errorf("OnViewersChanged saw %v, want [1 2 1 0]", counts)
	}
}

// TestPLIRequestsKeyframe: PLIs from the viewer reach OnKeyframeRequest, coalesced.
func TestPLIRequestsKeyframe(t *testing.T) {
	aus := testClip(t)
	const interval = 300 * time.Millisecond
	ts := newTestServer(t, webrtc.Options{KeyframeInterval: interval}, "cam1")
	f := startFeeder(t, ts.m.Broadcaster("cam1"), aus)
	c := dial(t, ts, "cam1", 5)
	c.Wait(t, 10*time.Second)
	// The viewer's arrival asked for a keyframe.
	if len(f.keyframeRequests()) == 0 {
		t.Fatal("no keyframe request when the viewer connected")
	}

	// Stop the source so no keyframe cancels a deferred request, then send a burst of PLIs.
	f.paused.Store(true)
	time.Sleep(interval)
	before := len(f.keyframeRequests())
	start := time.Now()
	for range 20 {
		if err := c.SendPLI(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(interval + 100*time.Millisecond)
	elapsed := time.Since(start)
	reqs := f.keyframeRequests()[before:]
	if max := int(elapsed/interval) + 1; len(reqs) < 2 || len(reqs) > max {
		t.Errorf("%d keyframe requests for 20 PLIs over %v, want 2..%d", len(reqs), elapsed, max)
	}
	for i := 1; i < len(reqs); i++ {
		if d := reqs[i].Sub(reqs[i-1]); d < interval-20*time.Millisecond {
			t.Errorf("requests %d and %d %v apart, want ≥ %v", i-1, i, d, interval)
		}
	}
}

// TestDeleteClosesSession: DELETE answers 200, the viewer count drops and the client's
// connection closes; a second DELETE is 404.
func TestDeleteClosesSession(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{}, "cam1")
	b := ts.m.Broadcaster("cam1")
	startFeeder(t, b, aus)
	c := dial(t, ts, "cam1", 3)
	c.Wait(t, 10*time.Second)

	resp, body := ts.do(t, http.MethodDelete, c.Location, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	if n := b.Viewers(); n != 0 {
		t.Errorf("Viewers after DELETE = %d", n)
	}
	c.WaitState(t, 10*time.Second, pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed,
		pion.PeerConnectionStateDisconnected)
	if resp, _ := ts.do(t, http.MethodDelete, c.Location, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", resp.StatusCode)
	}
}

// TestVanishedViewer: a client that closes its peer connection without DELETE, and one that
// never completes ICE, are cleaned up, and the goroutines return to the baseline.
func TestVanishedViewer(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{ConnectTimeout: time.Second}, "cam1")
	b := ts.m.Broadcaster("cam1")
	f := startFeeder(t, b, aus)
	// Let the server, the feeder and pion's lazily started goroutines settle.
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	c := dial(t, ts, "cam1", 10)
	c.Wait(t, 10*time.Second)
	_ = c.PC.Close()
	eventually(t, 15*time.Second, "the vanished viewer to be removed", func() bool { return b.Viewers() == 0 })

	// A client that posts an offer and never applies the answer.
	c2 := whepclient.New(t, 1)
	offer := c2.Offer
	resp, body := ts.do(t, http.MethodPost, "/whep/cam1", "application/sdp", strings.NewReader(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if n := b.Viewers(); n != 1 {
		t.Errorf("Viewers while connecting = %d, want 1", n)
	}
	_ = c2.PC.Close()
	eventually(t, 5*time.Second, "the unconnected session to time out", func() bool { return b.Viewers() == 0 })

	waitGoroutines(t, baseline)
	if f.written.Load() == 0 {
		t.Error("feeder wrote nothing")
	}
}

// TestWHEPErrors covers the error answers of the WHEP endpoint.
func TestWHEPErrors(t *testing.T) {
	ts := newTestServer(t, webrtc.Options{MaxOfferBytes: 16 << 10}, "cam1")
	offer := whepclient.New(t, 1).Offer

	vp8Only := strings.ReplaceAll(offer, "H264", "H265") // no H.264 left in the video m-line
	audioOnly := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		reason                          string
	}{
		{"malformed SDP", "POST", "/whep/cam1", "application/sdp", "this is not SDP", 400, "bad SDP offer"},
		{"empty body", "POST", "/whep/cam1", "application/sdp", "", 400, "empty body"},
		{"audio only", "POST", "/whep/cam1", "application/sdp", audioOnly, 400, "no video m-line"},
		{"no H.264", "POST", "/whep/cam1", "application/sdp", vp8Only, 400, "lists"},
		{"unknown camera", "POST", "/whep/nope", "application/sdp", offer, 404, "unknown camera"},
		{"wrong content type", "POST", "/whep/cam1", "application/json", `{"sdp":""}`, 415, "application/sdp"},
		{"too big", "POST", "/whep/cam1", "application/sdp", offer + strings.Repeat("a=x\r\n", 4000), 413, "too large"},
		{"unknown session", "DELETE", "/whep/cam1/0123", "", "", 404, "session not found"},
		{"PATCH unknown session", "PATCH", "/whep/cam1/0123", "application/trickle-ice-sdpfrag", "a=end-of-candidates", 404, "session not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(t, tc.method, tc.path, tc.ctype, strings.NewReader(tc.body))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tc.reason) {
				t.Errorf("body %q, want a JSON error mentioning %q", body, tc.reason)
			}
		})
	}
	resp, _ := ts.do(t, "POST", "/whep/cam1", "text/plain", strings.NewReader(offer))
	if a := resp.Header.Get("Accept-Post"); a != "application/sdp" {
		t.Errorf("415 Accept-Post = %q", a)
	}
	if n := ts.m.Broadcaster("cam1").Viewers(); n != 0 {
		t.Errorf("failed offers left %d viewers", n)
	}
}

// TestICEServerLinks: POST and OPTIONS announce the configured STUN and TURN servers.
func TestICEServerLinks(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{
		// Nothing listens there: the probes leave them out of the server's own gathering.
		GatherTimeout: 300 * time.Millisecond,
		ICEServers: []webrtc.ICEServer{
			{URLs: []string{"stun:127.0.0.1:3478"}},
			{URLs: []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"},
				Username: "user", Credential: `pa"ss`},
		},
	}, "cam1")
	startFeeder(t, ts.m.Broadcaster("cam1"), aus)
	want := []string{
		`<stun:127.0.0.1:3478>; rel="ice-server"`,
		`<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="user"; credential="pa\"ss"; credential-type="password"`,
		`<turn:127.0.0.1:3478?transport=tcp>; rel="ice-server"; username="user"; credential="pa\"ss"; credential-type="password"`,
	}
	resp, body := ts.do(t, http.MethodOptions, "/whep/cam1", "", nil)
	if resp.StatusCode != http.StatusNoContent || !slices.Equal(resp.Header.Values("Link"), want) {
		t.Errorf("OPTIONS: %d %s, Link %q", resp.StatusCode, body, resp.Header.Values("Link"))
	}
	c := dial(t, ts, "cam1", 3)
	if got := c.Response.Header.Values("Link"); !slices.Equal(got, want) {
		t.Errorf("POST Link = %q, want %q", got, want)
	}
	c.Wait(t, 10*time.Second)
}

// TestRemoveAndClose: a viewer may arrive before the pipeline registers its callbacks (which
// then hear the count at once); Remove ends the camera's sessions; after Close offers get 503.
func TestRemoveAndClose(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{}, "cam1")
	c := whepclient.New(t, 1)
	offer := c.Offer
	resp, body := ts.do(t, http.MethodPost, "/whep/cam1", "application/sdp", strings.NewReader(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if err := c.PC.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}

	b := ts.m.Broadcaster("cam1") // the pipeline comes up after the viewer
	if got := ts.m.Cameras(); !slices.Equal(got, []string{"cam1"}) {
		t.Errorf("Cameras = %v", got)
	}
	counts := make(chan int, 8)
	b.OnViewersChanged(func(n int) { counts <- n })
	if n := <-counts; n != 1 {
		t.Errorf("OnViewersChanged on registration: %d, want 1", n)
	}
	startFeeder(t, b, aus)
	c.Wait(t, 10*time.Second)
	if st := ts.m.Stats()["cam1"]; st.Viewers != 1 || st.AccessUnits == 0 || st.Keyframes == 0 {
		t.Errorf("Stats = %+v", st)
	}

	ts.m.Remove("cam1")
	if n := <-counts; n != 0 || b.Viewers() != 0 {
		t.Errorf("after Remove: OnViewersChanged %d, Viewers %d", n, b.Viewers())
	}
	c.WaitState(t, 10*time.Second, pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed,
		pion.PeerConnectionStateDisconnected)
	if ts.m.Broadcaster("cam1") == b {
		t.Error("Broadcaster after Remove returned the removed one")
	}

	_ = ts.m.Close()
	resp, body = ts.do(t, http.MethodPost, "/whep/cam1", "application/sdp", strings.NewReader(offer))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after Close: %d %s", resp.StatusCode, body)
	}
}
