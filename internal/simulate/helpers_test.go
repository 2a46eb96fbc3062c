package simulate

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/gstvision/gstvision/internal/scenematch"
	"github.com/gstvision/gstvision/internal/test"
)

// startServer starts a server on a free loopback port and closes it when the test ends. A
// server whose encoder this machine lacks (H.265) skips the test.
func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := Start(context.Background(), o)
	if errors.Is(err, ErrElementMissing) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ---- a decoding client built from a launch string, as gstvision's ingest would be ----

type decClient struct {
	pipe  *gst.Pipeline
	sink  *app.Sink
	parse *gst.Element
}

type decFrame struct {
	w, h int
	pts  time.Duration
	data []byte // packed I420
}

func openDecoder(t *testing.T, url, codec string) *decClient {
	t.Helper()
	depay, parse, dec := "rtph264depay", "h264parse", "avdec_h264"
	if codec == CodecH265 {
		depay, parse, dec = "rtph265depay", "h265parse", "avdec_h265"
	}
	launch := fmt.Sprintf("rtspsrc location=%s protocols=tcp latency=300 ! %s ! %s name=parse ! %s ! "+
		"videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false", url, depay, parse, dec)
	pipe, err := gst.NewPipelineFromString(launch)
	if err != nil {
		t.Fatalf("client pipeline: %v", err)
	}
	se, err := pipe.GetElementByName("sink")
	if err != nil {
		t.Fatal(err)
	}
	pe, err := pipe.GetElementByName("parse")
	if err != nil {
		t.Fatal(err)
	}
	c := &decClient{pipe: pipe, sink: app.SinkFromElement(se), parse: pe}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatalf("client play: %v", err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *decClient) close() {
	if c.pipe != nil {
		_ = c.pipe.SetState(gst.StateNull)
		c.pipe = nil
	}
}

// frame pulls the next decoded picture.
func (c *decClient) frame(timeout time.Duration) (*decFrame, error) {
	smp := c.sink.TryPullSample(gst.ClockTime(timeout))
	if smp == nil {
		if msg := c.busError(0); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("no frame within %v (eos=%v)", timeout, c.sink.IsEOS())
	}
	st := smp.GetCaps().GetStructureAt(0)
	wv, _ := st.GetValue("width")
	hv, _ := st.GetValue("height")
	w, _ := wv.(int)
	h, _ := hv.(int)
	buf := smp.GetBuffer()
	mi := buf.Map(gst.MapRead)
	raw := mi.Bytes()
	buf.Unmap()
	// videoconvert writes GStreamer's default I420 layout: rows padded to 4 bytes
	sy, sc := (w+3)&^3, (w/2+3)&^3
	ou := sy * h
	ov := ou + sc*h/2
	if len(raw) < ov+sc*h/2 {
		return nil, fmt.Errorf("short I420 buffer: %d bytes for %dx%d", len(raw), w, h)
	}
	out := make([]byte, w*h*3/2)
	for y := 0; y < h; y++ {
		copy(out[y*w:(y+1)*w], raw[y*sy:])
	}
	cw := w / 2
	for y := 0; y < h/2; y++ {
		copy(out[w*h+y*cw:w*h+(y+1)*cw], raw[ou+y*sc:])
		copy(out[w*h+cw*h/2+y*cw:w*h+cw*h/2+(y+1)*cw], raw[ov+y*sc:])
	}
	return &decFrame{w: w, h: h, pts: time.Duration(buf.PresentationTimestamp()), data: out}, nil
}

// busError returns the text of an error or EOS on the bus within timeout, or "".
func (c *decClient) busError(timeout time.Duration) string {
	return c.busMessage(timeout, gst.MessageEOS|gst.MessageError)
}

func (c *decClient) busMessage(timeout time.Duration, types gst.MessageType) string {
	msg := c.pipe.GetPipelineBus().TimedPopFiltered(gst.ClockTime(timeout), types)
	if msg == nil {
		return ""
	}
	switch msg.Type() {
	case gst.MessageEOS:
		return "EOS"
	case gst.MessageWarning:
		w := msg.ParseWarning()
		return "warning from " + msg.Source() + ": " + w.Error() + " (" + w.DebugString() + ")"
	}
	gerr := msg.ParseError()
	return "error from " + msg.Source() + ": " + gerr.Error() + " (" + gerr.DebugString() + ")"
}

// waitEnd consumes decoded frames (as a real client would) until the stream ends: EOS, or
// an error or warning on the bus. It returns what ended it, or "" after timeout.
func (c *decClient) waitEnd(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := c.busMessage(0, gst.MessageEOS|gst.MessageError|gst.MessageWarning); m != "" {
			return m
		}
		if smp := c.sink.TryPullSample(gst.ClockTime(50 * time.Millisecond)); smp == nil && c.sink.IsEOS() {
			return "EOS at the appsink"
		}
	}
	return ""
}

// parseCaps is the caps h264parse/h265parse negotiated (profile, level, …).
func (c *decClient) parseCaps() string {
	caps := c.parse.GetStaticPad("src").GetCurrentCaps()
	if caps == nil {
		return ""
	}
	return caps.String()
}

// ---- picture comparison ----

// lumaDiff is the mean absolute luma difference of two packed I420 pictures (sampled).
func lumaDiff(a, b []byte, w, h int) float64 {
	return scenematch.Diff(scenematch.Luma{Pix: a, Stride: w}, b, w, h)
}

// matchOffset returns the d in [-r, r] for which frame k+d of scene is closest to pic, with
// the differences for every d.
func matchOffset(sc *Scene, pic []byte, k, r int) (int, map[int]float64) {
	n, _, byFrame := scenematch.Best(scenematch.Luma{Pix: pic, Stride: sc.Width}, sc.Width, sc.Height, sc.RenderI420, k-r, k+r)
	diffs := make(map[int]float64, len(byFrame))
	for f, v := range byFrame {
		diffs[f-k] = v
	}
	return n - k, diffs
}

// boxColours checks that the mean colour inside each ground-truth box of frame n is the
// class colour (in YUV, tolerance tol).
func boxColours(sc *Scene, pic []byte, n int, tol float64) error {
	w, h := sc.Width, sc.Height
	cw := w / 2
	u0, v0 := w*h, w*h+cw*(h/2)
	for _, o := range sc.Objects(n) {
		x1, y1, x2, y2 := int(o.Box[0])+4, int(o.Box[1])+4, int(o.Box[2])-4, int(o.Box[3])-4
		var sy, su, sv, cnt float64
		for y := y1; y < y2; y++ {
			for x := x1; x < x2; x++ {
				sy += float64(pic[y*w+x])
				su += float64(pic[u0+(y/2)*cw+x/2])
				sv += float64(pic[v0+(y/2)*cw+x/2])
				cnt++
			}
		}
		c := ClassRGB[o.ClassID]
		Y, U, V := rgbToYUV(c[0], c[1], c[2])
		my, mu, mv := sy/cnt, su/cnt, sv/cnt
		if math.Abs(my-float64(Y)) > tol || math.Abs(mu-float64(U)) > tol || math.Abs(mv-float64(V)) > tol {
			return fmt.Errorf("frame %d %s: mean YUV (%.1f,%.1f,%.1f), want (%d,%d,%d)±%.0f",
				n, Classes[o.ClassID], my, mu, mv, Y, U, V, tol)
		}
	}
	return nil
}

// ---- a minimal RTSP/TCP client that sees the wire: status codes, SDP, RTP ----

type rtspConn struct {
	c       net.Conn
	r       *bufio.Reader
	cseq    int
	session string
}

type rtspResp struct {
	status int
	hdr    map[string]string
	body   string
}

// dial connects to s's RTSP port, failing the test otherwise; the connection closes when the
// test ends.
func dial(t *testing.T, s *Server) *rtspConn {
	t.Helper()
	c, err := dialRTSP(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// playing dials s and plays url (SETUP over TCP, PLAY), returning the connection and the SDP.
func playing(t *testing.T, s *Server, url string) (*rtspConn, string) {
	t.Helper()
	c := dial(t, s)
	sdp, err := c.play(url)
	if err != nil {
		t.Fatal(err)
	}
	return c, sdp
}

func dialRTSP(addr string) (*rtspConn, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	return &rtspConn{c: c, r: bufio.NewReaderSize(c, 1<<16)}, nil
}

func (c *rtspConn) Close() error { return c.c.Close() }

func (c *rtspConn) do(method, url string, extra ...string) (*rtspResp, error) {
	c.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: simulate-test\r\n", method, url, c.cseq)
	if c.session != "" {
		fmt.Fprintf(&b, "Session: %s\r\n", c.session)
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	_ = c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.c, b.String()); err != nil {
		return nil, err
	}
	for {
		// interleaved data may precede the response
		if p, err := c.r.Peek(1); err != nil {
			return nil, err
		} else if p[0] == '$' {
			if _, _, err := c.packet(); err != nil {
				return nil, err
			}
			continue
		}
		break
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	resp := &rtspResp{hdr: map[string]string{}}
	if resp.status, err = strconv.Atoi(f[1]); err != nil {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			resp.hdr[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	if n, _ := strconv.Atoi(resp.hdr["content-length"]); n > 0 {
		body := make([]byte, n)
		if _, err := io.ReadFull(c.r, body); err != nil {
			return nil, err
		}
		resp.body = string(body)
	}
	if s := resp.hdr["session"]; s != "" {
		c.session, _, _ = strings.Cut(s, ";")
	}
	return resp, nil
}

// packet reads one interleaved frame.
func (c *rtspConn) packet() (int, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0] != '$' {
		return 0, nil, fmt.Errorf("expected interleaved frame, got %q", h[:])
	}
	p := make([]byte, binary.BigEndian.Uint16(h[2:]))
	_, err := io.ReadFull(c.r, p)
	return int(h[1]), p, err
}

// play performs DESCRIBE, SETUP (TCP interleaved) and PLAY; it returns the SDP.
func (c *rtspConn) play(url string) (string, error) {
	r, err := c.do("DESCRIBE", url, "Accept: application/sdp")
	if err != nil {
		return "", err
	}
	if r.status != 200 {
		return "", fmt.Errorf("DESCRIBE: status %d", r.status)
	}
	control := "stream=0"
	for _, l := range strings.Split(r.body, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "a=control:"); ok && v != "*" {
			control = v
		}
	}
	track := control
	if !strings.HasPrefix(control, "rtsp://") {
		track = url + "/" + control
	}
	s, err := c.do("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
	if err != nil {
		return "", err
	}
	if s.status != 200 {
		return "", fmt.Errorf("SETUP: status %d", s.status)
	}
	p, err := c.do("PLAY", url, "Range: npt=0.000-")
	if err != nil {
		return "", err
	}
	if p.status != 200 {
		return "", fmt.Errorf("PLAY: status %d", p.status)
	}
	return r.body, nil
}

// rtpPacket is the part of an RTP packet the tests look at.
type rtpPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
	at      time.Time
}

func parseRTP(p []byte) (rtpPacket, error) {
	if len(p) < 12 || p[0]>>6 != 2 {
		return rtpPacket{}, errors.New("not RTP")
	}
	cc := int(p[0] & 0x0f)
	off := 12 + 4*cc
	if p[0]&0x10 != 0 {
		if len(p) < off+4 {
			return rtpPacket{}, errors.New("short RTP extension")
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(p[off+2:]))
	}
	if len(p) < off {
		return rtpPacket{}, errors.New("short RTP")
	}
	return rtpPacket{
		seq: binary.BigEndian.Uint16(p[2:]), ts: binary.BigEndian.Uint32(p[4:]),
		marker: p[1]&0x80 != 0, payload: p[off:],
	}, nil
}

// readRTP collects the RTP packets of channel 0 for d (or until n packets, when n > 0).
func (c *rtspConn) readRTP(d time.Duration, n int) ([]rtpPacket, error) {
	out, err := c.readRTPUntil(d, func(rtpPacket) bool { n--; return n == 0 })
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		return out, nil // d is up
	}
	return out, err
}

// readRTPUntil collects the RTP packets of channel 0, handing each to done, until done
// returns true. Tests wait for what they need this way instead of reading for a fixed time,
// which would assume how fast the machine encodes. After timeout (make it generous) it
// returns what it has with an error.
func (c *rtspConn) readRTPUntil(timeout time.Duration, done func(rtpPacket) bool) ([]rtpPacket, error) {
	var out []rtpPacket
	_ = c.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		ch, p, err := c.packet()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, fmt.Errorf("not done after %v (%d packets): %w", timeout, len(out), err)
			}
			return out, err
		}
		if ch != 0 {
			continue
		}
		pk, err := parseRTP(p)
		if err != nil {
			return out, err
		}
		pk.at = time.Now()
		out = append(out, pk)
		if done(pk) {
			return out, nil
		}
	}
}

// pictureCounter is h264Stats or h265Stats.
type pictureCounter interface {
	rtp(payload []byte)
	counts() (keyframes, pictures int)
}

// joinWatch follows a stream from its first packet to its first keyframe.
type joinWatch struct {
	started  bool
	firstTS  uint32
	firstKey bool // the first picture is a keyframe
	pictures int  // pictures so far
	before   int  // packets timed before the first picture
}

// packet takes the next packet; it reports whether a keyframe has arrived.
func (j *joinWatch) packet(st pictureCounter, p rtpPacket) bool {
	key0, _ := st.counts()
	st.rtp(p.payload)
	key, pics := st.counts()
	if !j.started && pics > 0 {
		j.started, j.firstTS, j.firstKey = true, p.ts, key > key0
	}
	if j.started && int32(p.ts-j.firstTS) < 0 {
		j.before++
	}
	j.pictures = pics
	return key > 0
}

// ---- H.264 bitstream facts from RTP payloads (RFC 6184) ----

type h264Stats struct {
	profileIDC     int // from the first SPS
	idr, p, b, i   int // slices by type (first slice of each picture)
	idrWithoutSPS  int // IDRs not preceded by SPS and PPS since the previous picture
	spsSeen, ppsOK bool
}

// nal handles one NAL unit (or the first bytes of a fragmented one).
func (st *h264Stats) nal(n []byte) {
	if len(n) < 2 {
		return
	}
	switch n[0] & 0x1f {
	case 7:
		st.spsSeen = true
		if st.profileIDC == 0 {
			st.profileIDC = int(n[1])
		}
	case 8:
		st.ppsOK = st.spsSeen
	case 1, 5:
		br := test.NewBitReader(test.RBSP(n[1:min(len(n), 32)]))
		firstMB := br.UE()
		sliceType := br.UE()
		if firstMB != 0 {
			return
		}
		if n[0]&0x1f == 5 {
			st.idr++
			if !st.ppsOK {
				st.idrWithoutSPS++
			}
		} else {
			switch sliceType % 5 {
			case 0:
				st.p++
			case 1:
				st.b++
			case 2:
				st.i++
			}
		}
		st.spsSeen, st.ppsOK = false, false
	}
}

func (st *h264Stats) counts() (keyframes, pictures int) {
	return st.idr, st.idr + st.p + st.b + st.i
}

func (st *h264Stats) rtp(payload []byte) {
	if len(payload) < 1 {
		return
	}
	switch t := payload[0] & 0x1f; {
	case t >= 1 && t <= 23:
		st.nal(payload)
	case t == 24: // STAP-A
		for p := payload[1:]; len(p) > 2; {
			sz := int(binary.BigEndian.Uint16(p))
			if sz > len(p)-2 {
				return
			}
			st.nal(p[2 : 2+sz])
			p = p[2+sz:]
		}
	case t == 28: // FU-A
		if len(payload) > 2 && payload[1]&0x80 != 0 {
			n := append([]byte{payload[0]&0xe0 | payload[1]&0x1f}, payload[2:]...)
			st.nal(n)
		}
	}
}

// sdpProfileIDC reads profile_idc from the SDP's sprop-parameter-sets (the SPS).
func sdpProfileIDC(sdp string) int {
	_, rest, ok := strings.Cut(sdp, "sprop-parameter-sets=")
	if !ok {
		return 0
	}
	sps, _, _ := strings.Cut(rest, ",")
	sps = strings.TrimRight(strings.Fields(sps + " ")[0], ";")
	raw, err := base64.StdEncoding.DecodeString(sps)
	if err != nil || len(raw) < 2 {
		return 0
	}
	return int(raw[1])
}

// ---- leak accounting ----

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// ---- H.265 bitstream facts from RTP payloads (RFC 7798) ----

type h265Stats struct {
	irap, p, b, i int // pictures by first-slice type
	irapWithoutPS int // IRAP pictures not preceded by VPS, SPS and PPS
	vps, sps, pps bool
	profileIDC    int // general_profile_idc of the first SPS
}

func (st *h265Stats) nal(n []byte) {
	if len(n) < 3 {
		return
	}
	switch t := int(n[0]>>1) & 0x3f; {
	case t == 32:
		st.vps = true
	case t == 33:
		st.sps = true
		if st.profileIDC == 0 && len(n) > 4 {
			// byte 2: vps id, max sub-layers, nesting; byte 3: profile space, tier, profile idc
			st.profileIDC = int(n[3] & 0x1f)
		}
	case t == 34:
		st.pps = true
	case t <= 21:
		br := test.NewBitReader(test.RBSP(n[2:min(len(n), 32)]))
		if br.Bit() != 1 { // first_slice_segment_in_pic_flag
			return
		}
		if t >= 16 {
			br.Bit() // no_output_of_prior_pics_flag
		}
		br.UE() // slice_pic_parameter_set_id
		// x265 writes num_extra_slice_header_bits = 0
		switch br.UE() {
		case 0:
			st.b++
		case 1:
			st.p++
		case 2:
			st.i++
		}
		if t >= 16 {
			st.irap++
			if !(st.vps && st.sps && st.pps) {
				st.irapWithoutPS++
			}
		}
		st.vps, st.sps, st.pps = false, false, false
	}
}

// counts: IRAP pictures are also counted by their slice type.
func (st *h265Stats) counts() (keyframes, pictures int) {
	return st.irap, st.p + st.b + st.i
}

func (st *h265Stats) rtp(payload []byte) {
	if len(payload) < 3 {
		return
	}
	switch t := int(payload[0]>>1) & 0x3f; t {
	case 48: // aggregation packet
		for p := payload[2:]; len(p) > 2; {
			sz := int(binary.BigEndian.Uint16(p))
			if sz > len(p)-2 {
				return
			}
			st.nal(p[2 : 2+sz])
			p = p[2+sz:]
		}
	case 49: // fragmentation unit
		fu := payload[2]
		if fu&0x80 != 0 {
			h0 := payload[0]&0x81 | (fu&0x3f)<<1
			n := append([]byte{h0, payload[1]}, payload[3:]...)
			st.nal(n)
		}
	default:
		st.nal(payload)
	}
}
