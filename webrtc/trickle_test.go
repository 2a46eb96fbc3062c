package webrtc_test

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

const sdpFrag = "application/trickle-ice-sdpfrag"

// trickleClient is a recvonly viewer that sends its offer before ICE gathering has begun, so
// that the offer has no candidates, and trickles them afterwards with PATCH, as browsers' WHEP
// players do (MediaMTX's reader among them).
type trickleClient struct {
	pc       *pion.PeerConnection
	offer    string
	gathered chan struct{} // closed when gathering has completed

	mu    sync.Mutex
	cands []string // "candidate:..."

	want   int64
	frames atomic.Int64
	got    chan struct{} // closed when want access units have arrived
}

// newTrickleClient makes the client and its offer. An ICE lite client never sends
// connectivity checks, so the server can only reach it through the candidates it PATCHes.
func newTrickleClient(t *testing.T, lite bool, want int) *trickleClient {
	t.Helper()
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetLite(lite)
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := &trickleClient{pc: pc, gathered: make(chan struct{}), want: int64(want), got: make(chan struct{})}
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo,
		pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnICECandidate(c.onCandidate)
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) { c.read(tr) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	c.offer = offer.SDP // as created: gathering starts only now
	return c
}

func (c *trickleClient) onCandidate(cand *pion.ICECandidate) {
	if cand == nil {
		close(c.gathered)
		return
	}
	c.mu.Lock()
	c.cands = append(c.cands, cand.ToJSON().Candidate)
	c.mu.Unlock()
}

// read counts the access units of the track (one per RTP marker bit).
func (c *trickleClient) read(tr *pion.TrackRemote) {
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if pkt.Marker && c.frames.Add(1) == c.want {
			close(c.got)
		}
	}
}

func (c *trickleClient) candidates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.cands...)
}

// sdpAttr returns the value of the first a=key: line of sdp.
func sdpAttr(sdp, key string) string {
	for _, line := range strings.Split(sdp, "\r\n") {
		if v, ok := strings.CutPrefix(line, "a="+key+":"); ok {
			return v
		}
	}
	return ""
}

// mLine returns the first m= line of sdp.
func mLine(sdp string) string {
	for _, line := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(line, "m=") {
			return line
		}
	}
	return ""
}

// fragment makes an RFC 8840 fragment the way MediaMTX's reader does: the offer's ICE
// credentials, then its m= line and a=mid with the candidates.
func fragment(offer string, cands []string, end bool) string {
	var b strings.Builder
	b.WriteString("a=ice-ufrag:" + sdpAttr(offer, "ice-ufrag") + "\r\n")
	b.WriteString("a=ice-pwd:" + sdpAttr(offer, "ice-pwd") + "\r\n")
	if len(cands) > 0 {
		b.WriteString(mLine(offer) + "\r\na=mid:" + sdpAttr(offer, "mid") + "\r\n")
		for _, c := range cands {
			b.WriteString("a=" + c + "\r\n")
		}
	}
	if end {
		b.WriteString("a=end-of-candidates\r\n")
	}
	return b.String()
}

// patch sends a PATCH with an If-Match header (none when empty).
func (ts *testServer) patch(t *testing.T, path, ifMatch, contentType, body string) (*http.Response, string) {
	t.Helper()
	var hdr []string
	if ifMatch != "" {
		hdr = []string{"If-Match", ifMatch}
	}
	return ts.do(t, http.MethodPatch, path, contentType, strings.NewReader(body), hdr...)
}

// TestWHEPTrickle: a client POSTs an offer without candidates, then PATCHes its candidates and
// the end of candidates as RFC 8840 fragments (204 each), and receives video. The ICE lite
// client proves that the server uses the trickled candidates: it sends no checks, so the
// server cannot learn its address any other way.
func TestWHEPTrickle(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{}, "cam1")
	startFeeder(t, ts.m.Broadcaster("cam1"), aus)
	for _, tc := range []struct {
		name    string
		lite    bool
		ifMatch func(etag string) string
	}{
		{"full agent, If-Match ETag", false, func(etag string) string { return etag }},
		{"ICE lite, If-Match *", true, func(string) string { return "*" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTrickleClient(t, tc.lite, 15)
			if strings.Contains(c.offer, "a=candidate:") {
				t.Fatalf("the offer already has candidates:\n%s", c.offer)
			}
			resp, answer := ts.do(t, http.MethodPost, "/whep/cam1", "application/sdp", strings.NewReader(c.offer))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST: %d %s", resp.StatusCode, answer)
			}
			if ap := resp.Header.Get("Accept-Patch"); ap != sdpFrag {
				t.Errorf("POST Accept-Patch = %q", ap)
			}
			loc, ifMatch := resp.Header.Get("Location"), tc.ifMatch(resp.Header.Get("ETag"))
			if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.gathered:
			case <-time.After(10 * time.Second):
				t.Fatal("the client's gathering did not complete")
			}
			cands := c.candidates()
			if len(cands) == 0 {
				t.Fatal("the client gathered no candidate")
			}
			for _, frag := range []string{fragment(c.offer, cands, false), fragment(c.offer, nil, true)} {
				if resp, body := ts.patch(t, loc, ifMatch, sdpFrag, frag); resp.StatusCode != http.StatusNoContent || body != "" {
					t.Fatalf("PATCH %q: %d %q, want 204 and no body", frag, resp.StatusCode, body)
				}
			}
			select {
			case <-c.got:
			case <-time.After(10 * time.Second):
				t.Fatalf("received %d access units, want %d (connection %v)", c.frames.Load(), c.want, c.pc.ConnectionState())
			}
		})
	}
}

// TestWHEPPatch covers the answers to PATCH: the fragments WHEP clients send, and each error.
func TestWHEPPatch(t *testing.T) {
	ts := newTestServer(t, webrtc.Options{MaxOfferBytes: 16 << 10}, "cam1")
	offer := whepclient.New(t, 1).Offer
	resp, body := ts.do(t, http.MethodPost, "/whep/cam1", "application/sdp", strings.NewReader(offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc, etag := resp.Header.Get("Location"), resp.Header.Get("ETag")
	creds := "a=ice-ufrag:" + sdpAttr(offer, "ice-ufrag") + "\r\na=ice-pwd:" + sdpAttr(offer, "ice-pwd") + "\r\n"
	media := mLine(offer) + "\r\na=mid:" + sdpAttr(offer, "mid") + "\r\n"
	const host = "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
	// RFC 9725's example: credentials inside the m= section, an active TCP candidate, LF only.
	whipStyle := strings.ReplaceAll(media+creds+host+
		"a=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\na=end-of-candidates\r\n", "\r\n", "\n")

	cases := []struct {
		name, path, ifMatch, ctype, body string
		status                           int
		reason                           string // in the JSON error
	}{
		{"candidates, If-Match ETag", loc, etag, sdpFrag, creds + media + host, 204, ""},
		{"If-Match *", loc, "*", sdpFrag, creds + media + host, 204, ""},
		{"If-Match list", loc, `"other", ` + etag, sdpFrag, creds + media + host, 204, ""},
		{"no If-Match, credentials in the m= section", loc, "", sdpFrag, whipStyle, 204, ""},
		{"end of candidates only", loc, etag, sdpFrag, "a=end-of-candidates\r\n", 204, ""},
		{"unknown session", "/whep/cam1/0123", etag, sdpFrag, creds, 404, "session not found"},
		{"unknown camera", strings.Replace(loc, "cam1", "nope", 1), etag, sdpFrag, creds, 404, "session not found"},
		{"If-Match mismatch", loc, `"0000"`, sdpFrag, creds + media + host, 412, "If-Match"},
		{"If-Match weak", loc, "W/" + etag, sdpFrag, creds + media + host, 412, "If-Match"},
		{"wrong content type", loc, etag, "application/sdp", creds + media + host, 415, sdpFrag},
		{"empty body", loc, etag, sdpFrag, "", 400, "empty body"},
		{"not SDP", loc, etag, sdpFrag, "hello", 400, "not an SDP line"},
		{"candidate outside m=", loc, etag, sdpFrag, creds + host, 400, "a=candidate outside an m= section"},
		{"no a=mid", loc, etag, sdpFrag, creds + mLine(offer) + "\r\n" + host, 400, "has no a=mid"},
		{"unknown a=mid", loc, etag, sdpFrag, creds + mLine(offer) + "\r\na=mid:7\r\n" + host, 400, "a=mid:7 names no m= section"},
		{"bad candidate", loc, etag, sdpFrag, creds + media + "a=candidate:1 1 udp x\r\n", 400, "bad candidate"},
		{"two ufrags", loc, etag, sdpFrag, creds + "a=ice-ufrag:zzzz\r\n", 400, "a second, different a=ice-ufrag"},
		{"ICE restart", loc, "*", sdpFrag, "a=ice-ufrag:zzzz\r\na=ice-pwd:zzzzzzzzzzzzzzzzzzzzzzzz\r\n" + media + host, 422,
			"ICE restart not supported; POST a new offer"},
		{"too large", loc, etag, sdpFrag, creds + media + strings.Repeat(host, 500), 413, "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.patch(t, tc.path, tc.ifMatch, tc.ctype, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == http.StatusNoContent {
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tc.reason) {
				t.Errorf("body %q, want a JSON error mentioning %q", body, tc.reason)
			}
			if tc.status == http.StatusUnsupportedMediaType && resp.Header.Get("Accept-Patch") != sdpFrag {
				t.Errorf("415 Accept-Patch = %q", resp.Header.Get("Accept-Patch"))
			}
		})
	}

	for _, path := range []string{"/whep/cam1", loc} {
		resp, body := ts.do(t, http.MethodOptions, path, "", nil)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Accept-Patch") != sdpFrag {
			t.Errorf("OPTIONS %s: %d %s, Accept-Patch %q", path, resp.StatusCode, body, resp.Header.Get("Accept-Patch"))
		}
	}
	if resp, _ := ts.do(t, http.MethodOptions, loc, "", nil); resp.Header.Get("Allow") != "DELETE, OPTIONS, PATCH" {
		t.Errorf("OPTIONS %s: Allow %q", loc, resp.Header.Get("Allow"))
	}
}
