package webrtc_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/webrtc"
)

// pionOffer is a recvonly video offer of a pion peer listing the H.264 entries fmtps, in order
// (payload types 96, 98, ...).
func pionOffer(t *testing.T, fmtps ...string) string {
	t.Helper()
	me := &pion.MediaEngine{}
	for i, f := range fmtps {
		err := me.RegisterCodec(pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: f},
			PayloadType:        pion.PayloadType(96 + 2*i),
		}, pion.RTPCodecTypeVideo)
		if err != nil {
			t.Fatal(err)
		}
	}
	pc, err := pion.NewAPI(pion.WithMediaEngine(me)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo,
		pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// answeredProfiles returns the profile-level-id of each H.264 payload type of an answer.
func answeredProfiles(answer string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`a=fmtp:\d+ .*profile-level-id=([0-9a-fA-F]{6})`).FindAllStringSubmatch(answer, -1) {
		out = append(out, strings.ToLower(m[1]))
	}
	return out
}

// writeSPS makes b's camera known to send profile-level-id plid (an SPS-only access unit).
func writeSPS(b *webrtc.Broadcaster, plid []byte) {
	b.WriteAccessUnit(append([]byte{0, 0, 0, 1, 0x67}, append(plid, 0xac, 0x2b, 0x40)...), 0)
}

const (
	fmtpCB    = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	fmtpMain  = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"
	fmtpHigh  = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"
	fmtpHigh0 = "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=64001f"
)

// TestPassthroughAnswerProfile: a passthrough answer carries the offer's entry of the camera's
// profile, stating the camera's profile-level-id (its level too, the offer allowing level
// asymmetry), and only that entry; an annotated answer stays constrained baseline.
func TestPassthroughAnswerProfile(t *testing.T) {
	ts := newTestServer(t, webrtc.Options{GatherTimeout: time.Second}, "high", "main")
	writeSPS(ts.m.Passthrough("high"), []byte{0x64, 0x00, 0x28})
	writeSPS(ts.m.Passthrough("main"), []byte{0x4d, 0x40, 0x1e})
	offer := pionOffer(t, fmtpCB, fmtpHigh0, fmtpMain, fmtpHigh)
	for _, c := range []struct{ path, want string }{
		{"/whep/high?view=passthrough", "640028"},
		{"/whep/main?view=passthrough", "4d401e"},
		{"/whep/high?view=annotated", "42e01f"},
	} {
		resp, answer := ts.do(t, "POST", c.path, "application/sdp", strings.NewReader(offer))
		if resp.StatusCode != 201 {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, answer)
		}
		if got := answeredProfiles(answer); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: answered profile-level-ids %v, want [%s]", c.path, got, c.want)
		}
	}
}

// TestPassthroughAnswerNoProfileFallsBack: an offer whose H.264 entries cannot decode the
// camera's profile (constrained baseline only, High in packetization-mode 0) gets the annotated
// view, said in the headers, with a constrained baseline answer.
func TestPassthroughAnswerNoProfileFallsBack(t *testing.T) {
	ts := newTestServer(t, webrtc.Options{GatherTimeout: time.Second}, "cam1")
	writeSPS(ts.m.Passthrough("cam1"), []byte{0x64, 0x00, 0x28})
	offer := pionOffer(t, fmtpCB, fmtpHigh0)
	resp, answer := ts.do(t, "POST", "/whep/cam1?view=passthrough", "application/sdp", strings.NewReader(offer))
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, answer)
	}
	h := resp.Header
	if h.Get(webrtc.HeaderView) != "annotated" || !strings.Contains(h.Get(webrtc.HeaderViewReason), "640028") {
		t.Errorf("headers %s=%q %s=%q, want annotated naming the camera's profile", webrtc.HeaderView,
			h.Get(webrtc.HeaderView), webrtc.HeaderViewReason, h.Get(webrtc.HeaderViewReason))
	}
	if got := answeredProfiles(answer); len(got) != 1 || got[0] != "42e01f" {
		t.Errorf("answered profile-level-ids %v, want [42e01f]", got)
	}
}
