package webrtc_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

// testClip265 returns the access units of a 2 s 320×240 H.265 clip from x265 (an IDR every 30
// frames; bframes B-frames between references), one file per access unit as h265parse aligns
// them.
func testClip265(t *testing.T, bframes int) [][]byte {
	t.Helper()
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		t.Skipf("gst-launch-1.0 not found: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("gst-launch-1.0", "-q", "videotestsrc", "num-buffers=60", "pattern=ball", "!",
		"video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!",
		"x265enc", "speed-preset=ultrafast", "key-int-max=30", "log-level=error",
		fmt.Sprintf("option-string=bframes=%d:b-adapt=0:open-gop=0:frame-threads=1:pools=1", bframes), "!",
		"h265parse", "config-interval=-1", "!", "video/x-h265,stream-format=byte-stream,alignment=au", "!",
		"multifilesink", "location="+filepath.Join(dir, "au%05d.h265"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("no H.265 test clip (x265enc, multifilesink): %v: %s", err, out)
	}
	names, err := filepath.Glob(filepath.Join(dir, "au*.h265"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var aus [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, b)
	}
	if len(aus) != 60 {
		t.Fatalf("H.265 clip has %d access units, want 60", len(aus))
	}
	return aus
}

// nal265Units splits an H.265 access unit into its NAL units, AUD (35) and filler (38) left out
// (pion's payloader drops them).
func nal265Units(au []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(au, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if t := nal265Type(part); t < 0 || t == 35 || t == 38 {
			continue
		}
		out = append(out, part)
	}
	return out
}

func nal265Type(nal []byte) int {
	if len(nal) < 2 {
		return -1
	}
	return int(nal[0]>>1) & 0x3f
}

// nal265Types lists the NAL unit types of an H.265 access unit.
func nal265Types(au []byte) []int {
	var out []int
	for _, n := range nal265Units(au) {
		out = append(out, nal265Type(n))
	}
	return out
}

// TestPassthroughH265: an H.265 camera is passed through to a viewer whose offer lists H.265:
// a viewer joining mid-GOP gets the cached GOP from its IRAP picture with VPS, SPS and PPS,
// then the live access units, all bit-identical to the camera's. A viewer whose offer lacks
// H.265 gets the annotated view, with the reason; the API's note says both.
func TestPassthroughH265(t *testing.T) {
	aus := testClip265(t, 0)
	ts := newTestServer(t, webrtc.Options{DefaultView: webrtc.ViewPassthrough}, "cam1")
	b := ts.m.Passthrough("cam1")
	b.SetCodec(webrtc.CodecH265)
	const frame = time.Second / 30
	const written = 40 // 10 into the second GOP
	for i := 0; i < written; i++ {
		b.WriteAccessUnit(aus[i], time.Duration(i)*frame)
	}
	if b.Fallback() != "" {
		t.Fatalf("x265 without B-frames fell back: %q", b.Fallback())
	}
	if v, note := ts.m.CameraView("cam1"); v != webrtc.ViewPassthrough || note != webrtc.NoteH265 {
		t.Errorf("CameraView = %q, %q; want passthrough with the H.265 note", v, note)
	}

	c := whepclient.Dial(t, ts.srv.URL+"/whep/cam1", 20)
	if v := c.Response.Header.Get(webrtc.HeaderView); v != "passthrough" {
		t.Fatalf("%s = %q, want passthrough", webrtc.HeaderView, v)
	}
	if !bytes.Contains([]byte(c.Answer), []byte("H265/90000")) {
		t.Errorf("answer does not send H.265:\n%s", c.Answer)
	}
	eventually(t, 10*time.Second, "the cached GOP", func() bool { return len(c.AccessUnits()) >= 10 })
	for i := written; i < len(aus); i++ {
		b.WriteAccessUnit(aus[i], time.Duration(i)*frame)
	}
	c.Wait(t, 10*time.Second)
	got := c.AccessUnits()
	if types := nal265Types(got[0]); len(types) < 4 || types[0] != 32 || types[1] != 33 || types[2] != 34 {
		t.Errorf("first access unit has NAL types %v, want VPS, SPS, PPS, then the IRAP picture", types)
	}
	for i, au := range got {
		if !bytes.Equal(bytes.Join(nal265Units(au), nil), bytes.Join(nal265Units(aus[30+i]), nil)) {
			t.Errorf("access unit %d differs from the camera's %d", i, 30+i)
		}
	}

	h264 := whepclient.New(t, 5).WithoutH265()
	startFeeder(t, ts.m.Broadcaster("cam1"), testClip(t)) // the annotated view's encoder
	h264.Post(t, ts.srv.URL+"/whep/cam1")
	h := h264.Response.Header
	if h.Get(webrtc.HeaderView) != "annotated" || h.Get(webrtc.HeaderViewReason) != webrtc.ReasonH265 {
		t.Errorf("an offer without H.265: %s=%q %s=%q, want annotated with %q", webrtc.HeaderView,
			h.Get(webrtc.HeaderView), webrtc.HeaderViewReason, h.Get(webrtc.HeaderViewReason), webrtc.ReasonH265)
	}
	h264.Wait(t, 10*time.Second)
}

// TestPassthroughH265FallsBackOnBFrames: x265 with B-frames is seen by its B slices, and
// passthrough requests then get the annotated view.
func TestPassthroughH265FallsBackOnBFrames(t *testing.T) {
	aus := testClip265(t, 2)
	ts := newTestServer(t, webrtc.Options{}, "cam1")
	b := ts.m.Passthrough("cam1")
	b.SetCodec(webrtc.CodecH265)
	for i := 0; i < 10 && b.Fallback() == ""; i++ {
		b.WriteAccessUnit(aus[i], time.Duration(i)*time.Second/30)
	}
	if b.Fallback() != webrtc.ReasonBFrames {
		t.Fatalf("Fallback = %q after 10 access units with B-frames, want %q", b.Fallback(), webrtc.ReasonBFrames)
	}
	if v, r := ts.m.CameraView("cam1"); v != webrtc.ViewAnnotated || r != webrtc.ReasonBFrames {
		t.Errorf("CameraView = %q, %q, want annotated for B-frames", v, r)
	}
}
