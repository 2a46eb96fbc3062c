package web

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/browsertest"
)

// Firefox receives H.264 over WebRTC only with Cisco's OpenH264 plugin, which it downloads at
// run time (never here: the tests are offline), or through a "hardware" H.264 codec, a path
// Linux keeps closed unless told (browsertest.FirefoxPlatformH264), which then decodes with the
// system's libavcodec. TestBrowserFirefox plays the page that way; TestBrowserFirefoxWithoutH264
// checks what a Firefox without OpenH264 shows.

// TestBrowserFirefox plays the page in headless Firefox, H.264 decoded by libavcodec.
func TestBrowserFirefox(t *testing.T) {
	browsertest.FirefoxPath(t)
	testPagePlays(t, func(ctx context.Context, url string) browsertest.Page {
		return browsertest.OpenFirefox(t, ctx, url, browsertest.FirefoxPlatformH264)
	})
}

// TestBrowserFirefoxWithoutH264: a Firefox that cannot receive H.264 (stock, offline, so without
// OpenH264) gets a clear message in cam1's tile instead of video, without asking the server for
// any session, and still lists the detections; its own offer, posted anyway, is refused with a
// clear 400 that names the codecs it has.
func TestBrowserFirefoxWithoutH264(t *testing.T) {
	browsertest.FirefoxPath(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startViewerServer(t, ctx)

	page := browsertest.OpenFirefox(t, ctx, srv.URL+"/?token="+browserToken)
	st := waitPage(t, ctx, page, 30*time.Second, func(st pageState) bool {
		return strings.Contains(st.Cam1, "cannot play") && len(st.Detections) > 0 && strings.Contains(st.Cam2, "refused")
	})
	t.Logf("page: %+v", st)
	if path := os.Getenv("GSTVISION_SCREENSHOT"); path != "" {
		if err := page.Screenshot(ctx, path); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	for _, want := range []string{"no H.264", "OpenH264"} {
		if !strings.Contains(st.Cam1, want) {
			t.Errorf("cam1 message %q lacks %q", st.Cam1, want)
		}
	}
	if st.Frames != 0 || st.Width != 0 || srv.cam1.Viewers() != 0 {
		t.Errorf("video without H.264: %d frames decoded, %dx%d, %d viewers", st.Frames, st.Width, st.Height, srv.cam1.Viewers())
	}
	if st.Live != "detections: live" || st.Banner != "" {
		t.Errorf("live %q, banner %q", st.Live, st.Banner)
	}

	var post struct {
		Status      int
		ContentType string
		Body        string
	}
	err := page.Evaluate(ctx, `(async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const sdp = pc.localDescription.sdp;
  pc.close();
  const r = await fetch('/whep/cam1?token=`+browserToken+`', { method: 'POST',
    headers: { 'Content-Type': 'application/sdp' }, body: sdp });
  return { Status: r.status, ContentType: r.headers.get('Content-Type'), Body: await r.text() };
})()`, &post)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("POST /whep/cam1 with Firefox's offer: %d %s", post.Status, post.Body)
	if post.Status != 400 || post.ContentType != "application/json" ||
		!strings.Contains(post.Body, `"error":"offer has no H.264 video m-line`) || !strings.Contains(post.Body, "VP8") {
		t.Errorf("POST /whep/cam1 with Firefox's offer: %d %s %s, want 400 and a JSON error naming the codecs offered",
			post.Status, post.ContentType, post.Body)
	}
}
