package simulate

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/gstvision/gstvision/defs"
)

// checkAlignment verifies that decoded frame k of a client is frame k of the scene: the
// luma is closest to RenderI420(k) among nearby frames, close in absolute terms, and the
// ground-truth boxes hold the class colours. It returns the observed offsets.
func checkAlignment(t *testing.T, sc *Scene, frames []*decFrame, step int) {
	t.Helper()
	for k := 0; k < len(frames); k += step {
		f := frames[k]
		d, diffs := matchOffset(sc, f.data, k, 2)
		if d != 0 {
			t.Errorf("decoded frame %d (pts %v) best matches scene frame %d (diffs %v)", k, f.pts, k+d, diffs)
			continue
		}
		if diffs[0] > 3 {
			t.Errorf("decoded frame %d (pts %v): mean |ΔY| %.2f against its scene frame, want ≤ 3", k, f.pts, diffs[0])
		}
		if err := boxColours(sc, f.data, k, 14); err != nil {
			t.Error(err)
		}
	}
}

// pullFrames pulls n decoded pictures. One generous deadline covers them all: a loaded
// machine may encode and decode far slower than real time for a while.
func pullFrames(t *testing.T, c *decClient, n int) []*decFrame {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var out []*decFrame
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%d of %d frames within 30 s", len(out), n)
		}
		f, err := c.frame(left)
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, f)
	}
	return out
}

func TestStreamH264TwoCameras(t *testing.T) {
	s := startServer(t, Options{Cameras: 2})
	c1 := openDecoder(t, s.URL(1), CodecH264)
	c2 := openDecoder(t, s.URL(2), CodecH264)
	f1 := pullFrames(t, c1, 64)
	f2 := pullFrames(t, c2, 20)
	for _, f := range []*decFrame{f1[0], f2[0]} {
		if f.w != 640 || f.h != 360 {
			t.Fatalf("decoded size %dx%d, want 640x360", f.w, f.h)
		}
	}
	checkAlignment(t, s.Scene(1), f1, 1)
	checkAlignment(t, s.Scene(2), f2, 1)
	// camera 2 is not camera 1
	if d, _ := matchOffset(s.Scene(1), f2[10].data, 10, 0); d == 0 {
		ref := make([]byte, len(f2[10].data))
		s.Scene(1).RenderI420(10, ref)
		if v := lumaDiff(f2[10].data, ref, 640, 360); v < 3 {
			t.Errorf("camera 2 frame 10 looks like camera 1's (|ΔY| %.2f)", v)
		}
	}
	caps := c1.parseCaps()
	if !strings.Contains(caps, "profile=(string)high") {
		t.Errorf("h264parse caps %q: want profile high", caps)
	}
	t.Logf("caps: %s; first decoded frame matches scene frame 0 (offset 0)", caps)
}

func TestWireH264(t *testing.T) {
	s := startServer(t, Options{Cameras: 1})
	c, sdp := playing(t, s, s.URL(1))
	if p := sdpProfileIDC(sdp); p != 100 {
		t.Errorf("SDP SPS profile_idc %d, want 100 (High)\n%s", p, sdp)
	}
	// two IDR pictures (key-int-max 60: about 2 s of stream) however long encoding takes,
	// and at least the first 3 s after PLAY (the pacing check below looks at them)
	t0 := time.Now()
	var st h264Stats
	pkts, err := c.readRTPUntil(30*time.Second, func(p rtpPacket) bool {
		st.rtp(p.payload)
		return st.idr >= 2 && p.at.Sub(t0) >= 3*time.Second
	})
	if err != nil {
		t.Fatalf("waiting for 2 IDR pictures (have %d) and 3 s: %v", st.idr, err)
	}
	frameAt := map[uint32]time.Time{}
	var seqGaps int
	for i, p := range pkts {
		if _, ok := frameAt[p.ts]; !ok {
			frameAt[p.ts] = p.at
		}
		if i > 0 && p.seq != pkts[i-1].seq+1 {
			seqGaps++
		}
	}
	t.Logf("%d packets, %d pictures: IDR %d, P %d, B %d, I %d; profile_idc %d",
		len(pkts), len(frameAt), st.idr, st.p, st.b, st.i, st.profileIDC)
	if st.profileIDC != 100 {
		t.Errorf("in-band SPS profile_idc %d, want 100 (High)", st.profileIDC)
	}
	if st.b == 0 {
		t.Error("no B-slices in the stream")
	}
	if st.idrWithoutSPS != 0 {
		t.Errorf("%d IDR pictures without SPS/PPS in front", st.idrWithoutSPS)
	}
	if seqGaps != 0 {
		t.Errorf("%d RTP sequence gaps", seqGaps)
	}
	// pictures arrive in decode order; in display order they are 1/30 s (3000 ticks) apart
	// (the last few B-pictures before the cut may be missing)
	var tss []int
	for ts := range frameAt {
		tss = append(tss, int(ts-pkts[0].ts))
	}
	sort.Ints(tss)
	for i := 1; i < len(tss)-3; i++ {
		if d := tss[i] - tss[i-1]; d < 2999 || d > 3001 {
			t.Errorf("RTP timestamps of pictures %d and %d differ by %d, want 3000", i-1, i, d)
			break
		}
	}
	// real time: never faster than 30 fps over the pictures first seen between 1 s and 3 s
	// after PLAY (slower is a loaded machine, not a fault: no lower bound)
	n := 0
	for _, at := range frameAt {
		if d := at.Sub(t0); d >= time.Second && d < 3*time.Second {
			n++
		}
	}
	t.Logf("%d pictures in the 2 s window (60 at 30 fps, real time)", n)
	if n > 66 {
		t.Errorf("%d pictures in a 2 s window: faster than real time (30 fps)", n)
	}
}

func TestOptionsValidation(t *testing.T) {
	bad := []Options{
		{Width: 853, Height: 480},
		{Width: 854, Height: 481},
		{Cameras: 64},
		{Codec: "vp8"},
		{FPS: -1},
		{Listen: "nope"},
		{SkipFrames: -1},
	}
	for _, o := range bad {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := (Options{Width: 853, Height: 480}).withDefaults(); err == nil || !strings.Contains(err.Error(), "even") {
		t.Errorf("odd width error %v: want it to say the size must be even", err)
	}
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Cameras != 1 || o.Width != 640 || o.Height != 360 || o.FPS != 30 || o.Codec != CodecH264 ||
		o.BitrateKbps != 1500 || o.BFrames != 2 || o.KeyIntMax != 60 || o.Listen != "127.0.0.1:8554" {
		t.Errorf("defaults: %+v", o)
	}
	if o, _ := (Options{BFrames: -1}).withDefaults(); o.BFrames != 0 || !strings.Contains(o.launch(), "zerolatency") {
		t.Errorf("BFrames -1: %d, launch %s", o.BFrames, o.launch())
	}
	// B-frames as a camera's encoder makes them: no B-pyramid (decoders would hold one more
	// frame), no more lookahead than the B-frames need
	if l := o.launch(); !strings.Contains(l, "b-pyramid=false") || strings.Contains(l, "zerolatency") {
		t.Errorf("default launch %s: want B-frames without a B-pyramid", l)
	}
	if o, _ := (Options{Codec: CodecH265}).withDefaults(); !strings.Contains(o.launch(), "b-pyramid=0:rc-lookahead=3") {
		t.Errorf("H.265 launch %s: want no B-pyramid and a 3-frame lookahead", o.launch())
	}
	// joining mid-GOP: a parser named join, feeding the payloader the parameter sets in caps
	if o, _ := (Options{SkipFrames: 1}).withDefaults(); !strings.Contains(o.launch(), "h264parse name=join ! video/x-h264,stream-format=avc") {
		t.Errorf("SkipFrames launch %s: want an h264parse named join, avc out", o.launch())
	}
	if strings.Contains(o.launch(), "join") {
		t.Errorf("default launch %s: no parser without SkipFrames", o.launch())
	}
	if _, err := Start(context.Background(), Options{Width: 853, Height: 480}); err == nil {
		t.Error("Start accepted 853x480")
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(context.Background(), Options{Listen: l.Addr().String()})
	if err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %v: want errors.Is EADDRINUSE", err)
	}
	t.Logf("busy port: %v", err)
}

func TestCloseReleasesEverything(t *testing.T) {
	// warm up GStreamer's one-time state (plugin loading, system clock, thread pools)
	warm := startServer(t, Options{})
	if c, err := dialRTSP(warm.Addr()); err == nil {
		if _, err := c.play(warm.URL(1)); err != nil {
			t.Fatal(err)
		}
		_, _ = c.readRTP(300*time.Millisecond, 0)
		c.Close()
	}
	if err := warm.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)

	fds0, gor0 := countFDs(t), runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{Cameras: 2, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	var conns []*rtspConn
	for i := 1; i <= 2; i++ {
		c, err := dialRTSP(addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.play(s.URL(i)); err != nil {
			t.Fatal(err)
		}
		if p, err := c.readRTP(30*time.Second, 20); err != nil || len(p) < 20 {
			t.Fatalf("camera %d: %d packets, %v", i, len(p), err)
		}
		conns = append(conns, c)
	}
	if n := s.runningFeeders(); n != 2 {
		t.Errorf("%d running client pipelines, want 2", n)
	}
	cancel() // closing through the context
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context cancel did not close the server")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
	for _, c := range conns {
		_ = c.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			if _, _, err := c.packet(); err != nil {
				break
			}
		}
		c.Close()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	l.Close()
	if err := s.StopCamera(1); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("StopCamera after Close: %v, want ErrClosed", err)
	}

	var fds, gor int
	for range 100 {
		fds, gor = countFDs(t), runtime.NumGoroutine()
		if fds <= fds0 && gor <= gor0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("fds %d → %d, goroutines %d → %d (before Start → after Close)", fds0, fds, gor0, gor)
	if fds > fds0 {
		t.Errorf("fds: %d before, %d after Close", fds0, fds)
	}
	if gor > gor0 {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after Close\n%s", gor0, gor, buf[:runtime.Stack(buf, true)])
	}
}

func TestStopStartCamera(t *testing.T) {
	s := startServer(t, Options{Cameras: 2})
	c := openDecoder(t, s.URL(1), CodecH264)
	pullFrames(t, c, 10)

	other, err := dialRTSP(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.play(s.URL(2)); err != nil {
		t.Fatal(err)
	}
	// a client that only described camera 1 so far
	described, err := dialRTSP(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer described.Close()
	if r, err := described.do("DESCRIBE", s.URL(1), "Accept: application/sdp"); err != nil || r.status != 200 {
		t.Fatalf("DESCRIBE: %v %v", r, err)
	}

	t0 := time.Now()
	if err := s.StopCamera(1); err != nil {
		t.Fatal(err)
	}
	msg := c.waitEnd(20 * time.Second) // it returns as soon as the stream ends
	if msg == "" {
		t.Fatal("client of the stopped camera saw neither EOS nor error within 20 s")
	}
	t.Logf("client saw %q %v after StopCamera", msg, time.Since(t0).Round(time.Millisecond))
	_ = described.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := described.r.ReadByte(); err == nil {
		t.Error("connection of a client that described camera 1 still open")
	}
	if n := s.runningFeeders(); n != 1 {
		t.Errorf("%d running client pipelines after StopCamera(1) returned, want 1 (camera 2's)", n)
	}

	probe, err := dialRTSP(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if r, err := probe.do("DESCRIBE", s.URL(1), "Accept: application/sdp"); err != nil || r.status != 404 {
		t.Fatalf("DESCRIBE of a stopped camera: %+v %v, want 404", r, err)
	}
	if p, err := other.readRTP(30*time.Second, 10); err != nil || len(p) < 10 {
		t.Errorf("camera 2 stalled while camera 1 was stopped: %d packets, %v", len(p), err)
	}
	if err := s.StopCamera(1); err != nil {
		t.Errorf("second StopCamera: %v", err)
	}
	if err := s.StopCamera(3); err == nil {
		t.Error("StopCamera(3) of a 2-camera server succeeded")
	}

	if err := s.StartCamera(1); err != nil {
		t.Fatal(err)
	}
	c2 := openDecoder(t, s.URL(1), CodecH264)
	fr := pullFrames(t, c2, 8)
	checkAlignment(t, s.Scene(1), fr, 1) // a new client starts at frame 0 again
}

func TestStreamH265(t *testing.T) {
	s := startServer(t, Options{Codec: CodecH265})
	c := openDecoder(t, s.URL(1), CodecH265)
	fr := pullFrames(t, c, 30)
	if fr[0].w != 640 || fr[0].h != 360 {
		t.Fatalf("decoded size %dx%d", fr[0].w, fr[0].h)
	}
	checkAlignment(t, s.Scene(1), fr, 1)
	caps := c.parseCaps()
	if !strings.Contains(caps, "profile=(string)main") {
		t.Errorf("h265parse caps %q: want profile main", caps)
	}
	t.Logf("caps: %s", caps)
}

func TestOddSizes(t *testing.T) {
	for _, sz := range [][2]int{{854, 480}, {1366, 768}} {
		t.Run(strconv.Itoa(sz[0])+"x"+strconv.Itoa(sz[1]), func(t *testing.T) {
			s := startServer(t, Options{Width: sz[0], Height: sz[1], FPS: 15})
			c := openDecoder(t, s.URL(1), CodecH264)
			fr := pullFrames(t, c, 12)
			if fr[0].w != sz[0] || fr[0].h != sz[1] {
				t.Fatalf("decoded size %dx%d", fr[0].w, fr[0].h)
			}
			checkAlignment(t, s.Scene(1), fr, 3)
		})
	}
}

func TestTimestampJumps(t *testing.T) {
	s := startServer(t, Options{JumpEverySec: 1, BFrames: -1})
	c, _ := playing(t, s, s.URL(1))
	// 61 pictures, however long encoding takes: any 60 steps between pictures hold exactly
	// two multiples of 30, so exactly two jumps
	const want = 61
	t0 := time.Now()
	seen, prevTS := 0, uint32(0)
	pkts, err := c.readRTPUntil(30*time.Second, func(p rtpPacket) bool {
		if seen == 0 || p.ts != prevTS {
			seen++
		}
		prevTS = p.ts
		return seen >= want
	})
	if err != nil {
		t.Fatalf("waiting for %d pictures: %v", want, err)
	}
	var frames []uint32
	for i, p := range pkts {
		if i == 0 || p.ts != pkts[i-1].ts {
			frames = append(frames, p.ts)
		}
		if i > 0 && p.seq != pkts[i-1].seq+1 {
			t.Errorf("RTP sequence gap %d→%d", pkts[i-1].seq, p.seq)
		}
	}
	jumps := 0
	for i := 1; i < len(frames); i++ {
		d := int64(frames[i] - frames[i-1])
		switch {
		case d > 850000 && d < 950000: // 10 s + one frame at 90 kHz
			jumps++
			t.Logf("jump after picture %d: +%.3f s", i-1, float64(d)/90000)
		case d < 2999 || d > 3001: // 1/30 s at 90 kHz, rounded
			t.Errorf("picture %d: RTP timestamp step %d, want 3000 (or a 10 s jump)", i, d)
		}
	}
	if jumps != 2 {
		t.Errorf("%d jumps in %d pictures, want 2 (every 30 frames)", jumps, len(frames))
	}
	if el := time.Since(t0); len(frames) > int(el.Seconds()*30)+15 {
		t.Errorf("%d pictures in %v: faster than real time", len(frames), el)
	}

	// a decoding client (B-frames on) gets every picture across the jumps
	s2 := startServer(t, Options{JumpEverySec: 1})
	dc := openDecoder(t, s2.URL(1), CodecH264)
	fr := pullFrames(t, dc, 45)
	checkAlignment(t, s2.Scene(1), fr, 2)
	t.Logf("decoded PTS around the jump: %v %v %v (rtpjitterbuffer re-syncs them)",
		fr[29].pts, fr[30].pts, fr[31].pts)
}

func TestFrameSourceAllocs(t *testing.T) {
	initOnce.Do(func() { gst.Init(nil) })
	const w, h = 854, 480 // a width whose rows need a GstVideoMeta
	pipe, err := gst.NewPipelineFromString("appsrc name=src format=time block=true max-buffers=3 " +
		"caps=video/x-raw,format=I420,width=854,height=480,framerate=30/1 ! fakesink sync=false")
	if err != nil {
		t.Fatal(err)
	}
	el, err := pipe.GetElementByName("src")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := newFrameSource(el.Unsafe(), w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.close()
	if !fs.usesMeta() {
		t.Error("854 px rows: want a GstVideoMeta (default I420 stride is 856)")
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pipe.SetState(gst.StateNull) }()
	sc := NewScene(w, h, 30, 0)
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		if err := fs.push(sc, n, frameTime(n, 30), frameTime(1, 30)); err != nil {
			t.Fatal(err)
		}
		n++
	})
	t.Logf("%.2f Go allocations per frame (Scene.Objects returns a new slice)", allocs)
	// Scene.Objects allocates its result slice; nothing else may.
	if allocs > 1 {
		t.Errorf("%.1f allocations per frame, want ≤ 1", allocs)
	}
}

func TestWireH265(t *testing.T) {
	s := startServer(t, Options{Codec: CodecH265})
	c, _ := playing(t, s, s.URL(1))
	// two IRAP pictures (key-int-max 60: about 2 s of stream), however long encoding takes
	var st h265Stats
	pkts, err := c.readRTPUntil(30*time.Second, func(p rtpPacket) bool {
		st.rtp(p.payload)
		return st.irap >= 2
	})
	t.Logf("%d packets: IRAP %d, P %d, B %d, I %d; general_profile_idc %d", len(pkts), st.irap, st.p, st.b, st.i, st.profileIDC)
	if err != nil {
		t.Fatalf("waiting for 2 IRAP pictures: %v", err)
	}
	if st.profileIDC != 1 {
		t.Errorf("SPS general_profile_idc %d, want 1 (Main: 8-bit 4:2:0)", st.profileIDC)
	}
	if st.b == 0 {
		t.Error("no B-slices in the H.265 stream")
	}
	if st.irapWithoutPS != 0 {
		t.Errorf("%d IRAP pictures without VPS/SPS/PPS in front", st.irapWithoutPS)
	}
}

// TestSkipFramesJoinsMidGOP: with SkipFrames a client gets the stream as the client of a
// running camera does: parameter sets in the SDP, a P-picture first, B-pictures timed before
// it next, and a keyframe only later.
func TestSkipFramesJoinsMidGOP(t *testing.T) {
	for _, c := range []struct {
		codec, sprop string
		stats        pictureCounter
	}{
		{CodecH264, "sprop-parameter-sets=", &h264Stats{}},
		{CodecH265, "sprop-sps=", &h265Stats{}},
	} {
		t.Run(c.codec, func(t *testing.T) {
			s := startServer(t, Options{Codec: c.codec, SkipFrames: 1, KeyIntMax: 15})
			conn, sdp := playing(t, s, s.URL(1))
			if !strings.Contains(sdp, c.sprop) {
				t.Errorf("SDP without %s: a client could not decode the stream\n%s", c.sprop, sdp)
			}
			var j joinWatch
			if _, err := conn.readRTPUntil(30*time.Second, func(p rtpPacket) bool { return j.packet(c.stats, p) }); err != nil {
				t.Fatalf("waiting for a keyframe: %v", err)
			}
			t.Logf("first picture keyframe %v, %d pictures up to the first keyframe, %d packets timed before the first picture",
				j.firstKey, j.pictures, j.before)
			if j.firstKey {
				t.Error("the first picture is a keyframe: the client did not join mid-GOP")
			}
			if j.before == 0 {
				t.Error("no packet timed before the first picture's: B-pictures should follow it")
			}
		})
	}
}
