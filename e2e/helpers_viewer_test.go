package e2e

// Helpers of the browser-path tests (viewer_test.go): an in-process gstvision with a log
// recorder, a pion WHEP client, H.264 bitstream checks, GStreamer decoding, matching pictures
// against the simulator's ground truth. The browsers come from internal/browsertest.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/app"
	"github.com/gstvision/gstvision/config"
	"github.com/gstvision/gstvision/internal/waitfor"
	"github.com/gstvision/gstvision/simulate"
)

// ---- the app under test ----

// logRecorder is a slog.Handler that keeps every record's message and attributes (those added
// with Logger.With included), and passes records on to next when it is set.
type logRecorder struct {
	shared *logStore
	attrs  []slog.Attr
	next   slog.Handler
}

type logStore struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder {
	r := &logRecorder{shared: &logStore{}}
	if testing.Verbose() {
		r.next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	return r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	lr := logRecord{msg: rec.Message, attrs: map[string]string{}}
	for _, a := range r.attrs {
		lr.attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.shared.mu.Lock()
	r.shared.recs = append(r.shared.recs, lr)
	r.shared.mu.Unlock()
	if r.next != nil && r.next.Enabled(ctx, rec.Level) {
		return r.next.Handle(ctx, rec)
	}
	return nil
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), attrs...)
	if r.next != nil {
		c.next = r.next.WithAttrs(attrs)
	}
	return &c
}

func (r *logRecorder) WithGroup(name string) slog.Handler {
	c := *r
	if r.next != nil {
		c.next = r.next.WithGroup(name)
	}
	return &c
}

// count returns how many records had message msg and, when camera is not empty, the
// attribute camera=camera.
func (r *logRecorder) count(msg, camera string) int {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	n := 0
	for _, rec := range r.shared.recs {
		if rec.msg == msg && (camera == "" || rec.attrs["camera"] == camera) {
			n++
		}
	}
	return n
}

// startViewerApp runs gstvision serve in-process, logging to rec, and returns it with its base
// URL. Its shutdown is a cleanup: Run must return nil within 15 s of the cancel.
func startViewerApp(t *testing.T, cfg *config.Config, rec *logRecorder) (*app.App, string) {
	t.Helper()
	a, err := app.New(cfg, slog.New(rec))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return within 15 s of cancel")
		}
	})
	pollCond(t, 10*time.Second, "the server to listen", func() bool { return a.Server().Addr() != nil })
	return a, "http://" + a.Server().Addr().String()
}

// waitCameraFrames waits until camera id has decoded more than n frames.
func waitCameraFrames(t *testing.T, a *app.App, id string, n uint64) {
	t.Helper()
	pollCond(t, 20*time.Second, fmt.Sprintf("%s to decode %d frames", id, n), func() bool {
		st, ok := a.Cameras().Get(id)
		return ok && st.Frames > n
	})
}

// pollCond polls cond until it holds, failing the test after timeout.
func pollCond(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitfor.Until(t, timeout, what, cond)
}

// viewerResp is a response with its body read.
type viewerResp struct {
	status int
	header http.Header
	body   []byte
}

// viewerHTTP has no idle connections, so that its goroutines end with each request.
var viewerHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}

func viewerDo(t testing.TB, method, url, contentType string, body []byte) viewerResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := viewerHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return viewerResp{resp.StatusCode, resp.Header, b}
}

// jsonErrorBody decodes a {"error": "..."} body; ok is false for anything else.
func jsonErrorBody(r viewerResp) (msg string, ok bool) {
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "", false
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		return "", false
	}
	return *e.Error, true
}

// ---- a WHEP client ----

// whepClient is a recvonly pion peer connection that depacketizes the H.264 it receives into
// access units (one per RTP marker bit).
type whepClient struct {
	pc       *pion.PeerConnection
	resp     viewerResp
	location string

	mu   sync.Mutex
	aus  [][]byte // complete access units, Annex-B
	cur  []byte
	want int
	got  chan struct{} // closed when want access units have arrived
}

// newWHEPClient creates a recvonly peer connection on loopback with a complete offer.
func newWHEPClient(t *testing.T, want int) (*whepClient, string) {
	t.Helper()
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &whepClient{pc: pc, want: want, got: make(chan struct{})}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo,
		pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) { c.read(tr) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return c, pc.LocalDescription().SDP
}

func (c *whepClient) read(tr *pion.TrackRemote) {
	var depack codecs.H264Packet
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		data, err := depack.Unmarshal(pkt.Payload)
		c.mu.Lock()
		if err == nil {
			c.cur = append(c.cur, data...)
		}
		if pkt.Marker && len(c.cur) > 0 {
			c.aus = append(c.aus, c.cur)
			c.cur = nil
			if len(c.aus) == c.want {
				close(c.got)
			}
		}
		c.mu.Unlock()
	}
}

// dialWHEP posts an offer for camera to the server at base and applies the answer. The POST
// must answer 201.
func dialWHEP(t *testing.T, base, camera string, want int) *whepClient {
	t.Helper()
	c, offer := newWHEPClient(t, want)
	c.resp = viewerDo(t, http.MethodPost, base+"/whep/"+camera, "application/sdp", []byte(offer))
	if c.resp.status != http.StatusCreated {
		t.Fatalf("POST /whep/%s: %d %s", camera, c.resp.status, c.resp.body)
	}
	c.location = c.resp.header.Get("Location")
	if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(c.resp.body)}); err != nil {
		t.Fatalf("applying the answer: %v", err)
	}
	return c
}

// waitAUs waits for the client's want access units.
func (c *whepClient) waitAUs(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.got:
	case <-time.After(timeout):
		c.mu.Lock()
		n := len(c.aus)
		c.mu.Unlock()
		t.Fatalf("received %d access units in %v, want %d (connection %v)", n, timeout, c.want, c.pc.ConnectionState())
	}
}

// accessUnits returns a copy of the access units received so far.
func (c *whepClient) accessUnits() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.aus...)
}

// hangUp DELETEs the session (200 expected) and closes the peer connection.
func (c *whepClient) hangUp(t *testing.T, base string) {
	t.Helper()
	if r := viewerDo(t, http.MethodDelete, base+c.location, "", nil); r.status != http.StatusOK {
		t.Errorf("DELETE %s: %d %s", c.location, r.status, r.body)
	}
	_ = c.pc.Close()
}

// ---- H.264 bitstream ----

// h264NALs splits Annex-B data into NAL units (without start codes).
func h264NALs(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

// h264RBSP removes emulation prevention bytes (00 00 03 → 00 00).
func h264RBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

type h264Bits struct {
	b   []byte
	pos int
}

func (r *h264Bits) bit() int {
	if r.pos >= 8*len(r.b) {
		return 0
	}
	v := int(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

// ue reads an Exp-Golomb coded unsigned integer.
func (r *h264Bits) ue() int {
	zeros := 0
	for r.bit() == 0 && zeros < 32 {
		zeros++
	}
	v := 1
	for range zeros {
		v = v<<1 | r.bit()
	}
	return v - 1
}

// h264SliceType returns slice_type mod 5 of a slice NAL unit (0 P, 1 B, 2 I, 3 SP, 4 SI).
func h264SliceType(nal []byte) int {
	r := &h264Bits{b: h264RBSP(nal[1:])}
	r.ue() // first_mb_in_slice
	return r.ue() % 5
}

// ---- decoding and the ground truth ----

// decodeH264 decodes an Annex-B stream with GStreamer (h264parse ! avdec_h264) to I420 frames
// of exactly w×h (caps negotiation fails for any other size) and returns them.
func decodeH264(t *testing.T, stream []byte, w, h int) [][]byte {
	t.Helper()
	gstLaunch, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		t.Skipf("decoding skipped: no gst-launch-1.0: %v", err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.h264"), filepath.Join(dir, "out.yuv")
	if err := os.WriteFile(in, stream, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gstLaunch, "-q", "filesrc", "location="+in, "!", "h264parse", "!", "avdec_h264", "!",
		"videoconvert", "!", fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d", w, h), "!",
		"filesink", "location="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("decoding the received stream to %dx%d I420: %v: %s", w, h, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	size := w * h * 3 / 2
	if len(data)%size != 0 {
		t.Fatalf("decoded %d bytes, not a whole number of %dx%d I420 frames", len(data), w, h)
	}
	var frames [][]byte
	for i := 0; i+size <= len(data); i += size {
		frames = append(frames, data[i:i+size])
	}
	return frames
}

// matchScene returns the frame in [lo, hi] of scene whose luma is closest to pic's (a luma
// plane of stride stride, limited range unless fullRange, sampled every 2 pixels) with its mean
// absolute difference, and the median difference over the window: a picture of the scene
// matches one frame far better than most.
func matchScene(sc *simulate.Scene, luma []byte, stride int, fullRange bool, lo, hi int) (best int, diff, median float64) {
	w, h := sc.Width, sc.Height
	ref := make([]byte, w*h*3/2)
	var diffs []float64
	diff = math.Inf(1)
	for n := max(lo, 0); n <= hi; n++ {
		sc.RenderI420(n, ref)
		var sum, cnt int
		for y := 0; y < h; y += 2 {
			for x := 0; x < w; x += 2 {
				r := int(ref[y*w+x])
				if fullRange {
					r = ((r-16)*255*2 + 219) / (219 * 2)
				}
				d := int(luma[y*stride+x]) - r
				if d < 0 {
					d = -d
				}
				sum += d
				cnt++
			}
		}
		v := float64(sum) / float64(cnt)
		diffs = append(diffs, v)
		if v < diff {
			diff, best = v, n
		}
	}
	slices.Sort(diffs)
	return best, diff, diffs[len(diffs)/2]
}

// jpegRGB returns the colour of img at (x, y) as 8-bit RGB.
func jpegRGB(img image.Image, x, y int) [3]float64 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]float64{float64(r >> 8), float64(g >> 8), float64(b >> 8)}
}

func rgbDist(a [3]float64, b [3]uint8) float64 {
	var s float64
	for i := range 3 {
		d := a[i] - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// waitGoroutinesBelow waits until the process has at most n goroutines, dumping them all on
// failure.
func waitGoroutinesBelow(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			k := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines %v after the viewers left, baseline %d:\n%s", runtime.NumGoroutine(), timeout, n, buf[:k])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
