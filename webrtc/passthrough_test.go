package webrtc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

// TestPassthroughJoinMidGOP: a passthrough viewer joining in the middle of a GOP gets the
// cached GOP at once, from its IDR (with SPS and PPS), without any new access unit from the
// camera (which cannot be asked for a keyframe), and then the live ones without a gap.
func TestPassthroughJoinMidGOP(t *testing.T) {
	aus := testClip(t) // an IDR every 30 access units
	ts := newTestServer(t, webrtc.Options{}, "cam1")
	b := ts.m.Passthrough("cam1")
	const frame = time.Second / 30
	const written = 45 // 15 into the second GOP
	for i := 0; i < written; i++ {
		b.WriteAccessUnit(aus[i], time.Duration(i)*frame)
	}
	c := whepclient.Dial(t, ts.srv.URL+"/whep/cam1?view=passthrough", 16)
	if v := c.Response.Header.Get(webrtc.HeaderView); v != "passthrough" {
		t.Fatalf("%s = %q, want passthrough", webrtc.HeaderView, v)
	}
	// Nothing more is written: all that arrives comes from the cache.
	eventually(t, 10*time.Second, "the cached GOP", func() bool { return len(c.AccessUnits()) >= 15 })
	got := c.AccessUnits()
	if len(got) != 15 {
		t.Fatalf("received %d access units from the cache, want the 15 of the current GOP", len(got))
	}
	if types := nalTypes(got[0], 3); len(types) < 3 || types[0] != 7 || types[1] != 8 || types[2] != 5 {
		t.Errorf("first access unit starts with NAL types %v, want SPS, PPS, IDR", types)
	}
	b.WriteAccessUnit(aus[written], written*frame)
	c.Wait(t, 10*time.Second)
	stream, n := received(c)
	if d := decode(t, stream); d != n {
		t.Errorf("decoded %d frames of %d access units", d, n)
	}
	for i, au := range c.AccessUnits() {
		// pion's depacketizer writes 4-byte start codes; compare the NAL units.
		if !bytes.Equal(bytes.Join(nalUnits(au), nil), bytes.Join(nalUnits(aus[30+i]), nil)) {
			t.Errorf("access unit %d differs from the one written", i)
		}
	}
	if ts := c.Timestamps(); ts[15]-ts[14] != 3000 || ts[1]-ts[0] != 3000 {
		t.Errorf("RTP timestamps %v, want 3000 ticks a frame", ts)
	}
}

// TestPassthroughFallsBackOnBFrames: once a camera's stream shows a B slice, passthrough
// requests get the annotated view with the reason in the headers, and the annotated
// broadcaster counts the viewer (it would start the encoder); the passthrough one does not.
func TestPassthroughFallsBackOnBFrames(t *testing.T) {
	aus := testClip(t)
	ts := newTestServer(t, webrtc.Options{DefaultView: webrtc.ViewPassthrough}, "cam1")
	p := ts.m.Passthrough("cam1")
	if v, r := ts.m.CameraView("cam1"); v != webrtc.ViewPassthrough || r != "" {
		t.Errorf("CameraView before B-frames = %q, %q", v, r)
	}
	p.WriteAccessUnit(aus[0], 0)
	p.WriteAccessUnit([]byte{0, 0, 0, 1, 0x01, 0xa0, 0x80}, time.Second/30) // slice_type B
	if p.Fallback() != webrtc.ReasonBFrames {
		t.Fatalf("Fallback = %q, want %q", p.Fallback(), webrtc.ReasonBFrames)
	}
	if v, r := ts.m.CameraView("cam1"); v != webrtc.ViewAnnotated || r != webrtc.ReasonBFrames {
		t.Errorf("CameraView = %q, %q, want annotated for B-frames", v, r)
	}
	startFeeder(t, ts.m.Broadcaster("cam1"), aus)
	c := whepclient.Dial(t, ts.srv.URL+"/whep/cam1", 10) // the default view: passthrough
	h := c.Response.Header
	if h.Get(webrtc.HeaderView) != "annotated" || h.Get(webrtc.HeaderViewReason) != webrtc.ReasonBFrames {
		t.Errorf("headers %s=%q %s=%q, want annotated with the B-frames reason", webrtc.HeaderView,
			h.Get(webrtc.HeaderView), webrtc.HeaderViewReason, h.Get(webrtc.HeaderViewReason))
	}
	c.Wait(t, 10*time.Second)
	if a, pv := ts.m.Broadcaster("cam1").Viewers(), p.Viewers(); a != 1 || pv != 0 {
		t.Errorf("viewers: annotated %d, passthrough %d; want 1 and 0", a, pv)
	}
	resp, body := ts.do(t, "POST", "/whep/cam1?view=raw", "application/sdp", bytes.NewReader([]byte(c.Offer)))
	if resp.StatusCode != 400 {
		t.Errorf("view=raw: %d %s, want 400", resp.StatusCode, body)
	}
}

// TestDetectionsChannel: a session's "detections" data channel carries each result's JSON
// with the rtp_ts of the video frame of the same PTS, as this session's packets carry it.
func TestDetectionsChannel(t *testing.T) {
	aus := testClip(t)
	const frame = time.Second / 30
	written := make(chan time.Duration, 256)
	opts := webrtc.Options{Detections: func(ctx context.Context, camera string, send func(time.Duration, []byte)) {
		for {
			select {
			case <-ctx.Done():
				return
			case pts := <-written:
				send(pts, []byte(`{"camera":"`+camera+`","pts":`+itoa(int64(pts))+`,"detections":[]}`))
			}
		}
	}}
	ts := newTestServer(t, opts, "cam1")
	b := ts.m.Passthrough("cam1")
	b.WriteAccessUnit(aus[0], 0)
	c := whepclient.NewDetections(t, 40)
	c.Post(t, ts.srv.URL+"/whep/cam1?view=passthrough")
	eventually(t, 10*time.Second, "the first access unit", func() bool { return len(c.AccessUnits()) > 0 })
	time.Sleep(200 * time.Millisecond) // the data channel opens after DTLS
	for i := 1; i < 40; i++ {
		pts := time.Duration(i) * frame
		b.WriteAccessUnit(aus[i], pts)
		written <- pts
		time.Sleep(frame)
	}
	c.Wait(t, 10*time.Second)
	eventually(t, 5*time.Second, "the detections", func() bool { return len(c.Messages()) >= 30 })
	byTS := map[uint32]bool{}
	for _, ts := range c.Timestamps() {
		byTS[ts] = true
	}
	stamps := c.Timestamps()
	for _, m := range c.Messages() {
		var msg struct {
			PTS   int64   `json:"pts"`
			RTPTS *uint32 `json:"rtp_ts"`
		}
		if err := json.Unmarshal(m, &msg); err != nil || msg.RTPTS == nil {
			t.Fatalf("message %s: %v, want rtp_ts", m, err)
		}
		i := int(time.Duration(msg.PTS) / frame)
		if !byTS[*msg.RTPTS] || *msg.RTPTS != stamps[i] {
			t.Errorf("pts %d: rtp_ts %d, want %d (the video frame of that PTS)", msg.PTS, *msg.RTPTS, stamps[i])
		}
	}
}

func itoa(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// nalUnits splits an Annex-B access unit into its NAL units, AUD and filler left out (pion's
// payloader drops them).
func nalUnits(au []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(au, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) == 0 || part[0]&0x1f == 9 || part[0]&0x1f == 12 {
			continue
		}
		out = append(out, part)
	}
	return out
}
