package simulate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// makeClip encodes frames frames of 320x180 at 30 fps, a keyframe every 30 and no B-frames,
// 8-bit 4:2:0 as cameras send, into a file: codec h264 or h265, container "mp4" or ""
// (Annex B byte stream). It skips the test when the encoder is missing.
func makeClip(t *testing.T, codec, container string, frames int) string {
	t.Helper()
	initOnce.Do(func() { gst.Init(nil) })
	enc := "x264enc speed-preset=superfast key-int-max=30 bframes=0 ! video/x-h264,profile=high ! h264parse"
	if codec == CodecH265 {
		if gst.Find("x265enc") == nil {
			t.Skip("x265enc is not installed")
		}
		enc = `x265enc speed-preset=ultrafast key-int-max=30 option-string="bframes=0" ! h265parse`
	}
	ext := "." + codec
	mux := fmt.Sprintf("video/x-%s,stream-format=byte-stream", codec)
	if container == "mp4" {
		ext, mux = ".mp4", "mp4mux"
	}
	path := filepath.Join(t.TempDir(), "clip"+ext)
	launch := fmt.Sprintf("videotestsrc num-buffers=%d pattern=ball ! video/x-raw,format=I420,width=320,height=180,framerate=30/1 ! "+
		"%s ! %s ! filesink location=%s", frames, enc, mux, path)
	pipe, err := gst.NewPipelineFromString(launch)
	if err != nil {
		t.Fatalf("clip pipeline: %v", err)
	}
	defer pipe.SetState(gst.StateNull)
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatalf("clip pipeline: %v", err)
	}
	msg := pipe.GetPipelineBus().TimedPopFiltered(gst.ClockTime(120*time.Second), gst.MessageEOS|gst.MessageError)
	if msg == nil {
		t.Fatal("clip pipeline: no end within 120 s")
	}
	if msg.Type() == gst.MessageError {
		t.Fatalf("clip pipeline: %v", msg.ParseError())
	}
	return path
}

// nalUnits splits length-prefixed (avc/hvc1) access unit data into NAL units.
func nalUnits(t *testing.T, au []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(au) >= 4 {
		n := int(binary.BigEndian.Uint32(au))
		if n > len(au)-4 {
			t.Fatalf("NAL length %d past the access unit's end", n)
		}
		out = append(out, au[4:4+n])
		au = au[4+n:]
	}
	return out
}

// nalType is a NAL unit's type.
func nalType(codec string, nal []byte) int {
	if codec == CodecH265 {
		return int(nal[0]>>1) & 0x3f
	}
	return int(nal[0] & 0x1f)
}

// pictureNALs drops the NAL units a payloader may add or a stream repeat (parameter sets,
// access unit delimiters): what is left is the coded picture, which must arrive unchanged.
func pictureNALs(codec string, nals [][]byte) [][]byte {
	var out [][]byte
	for _, n := range nals {
		switch t := nalType(codec, n); {
		case codec == CodecH264 && (t == 7 || t == 8 || t == 9):
		case codec == CodecH265 && (t >= 32 && t <= 35):
		default:
			out = append(out, n)
		}
	}
	return out
}

// rtpAU is one access unit received over RTP: its NAL units, RTP timestamp and arrival.
type rtpAU struct {
	ts   uint32
	nals [][]byte
	at   time.Time
}

// depacketizer rebuilds NAL units from RTP payloads (RFC 6184 / RFC 7798: single NAL units,
// STAP-A / AP, FU-A / FU), and access units at marker bits.
type depacketizer struct {
	codec string
	fu    []byte
	cur   [][]byte
	aus   []rtpAU
}

func (d *depacketizer) packet(p rtpPacket) error {
	b := p.payload
	if d.codec == CodecH265 {
		if len(b) < 3 {
			return fmt.Errorf("short H.265 payload")
		}
		switch typ := (b[0] >> 1) & 0x3f; typ {
		case 48: // AP
			for r := b[2:]; len(r) >= 2; {
				n := int(binary.BigEndian.Uint16(r))
				d.cur = append(d.cur, bytes.Clone(r[2:2+n]))
				r = r[2+n:]
			}
		case 49: // FU
			fh := b[2]
			if fh&0x80 != 0 {
				d.fu = []byte{(b[0] & 0x81) | (fh&0x3f)<<1, b[1]}
			}
			d.fu = append(d.fu, b[3:]...)
			if fh&0x40 != 0 {
				d.cur, d.fu = append(d.cur, d.fu), nil
			}
		default:
			d.cur = append(d.cur, bytes.Clone(b))
		}
	} else {
		switch typ := b[0] & 0x1f; typ {
		case 24: // STAP-A
			for r := b[1:]; len(r) >= 2; {
				n := int(binary.BigEndian.Uint16(r))
				d.cur = append(d.cur, bytes.Clone(r[2:2+n]))
				r = r[2+n:]
			}
		case 28: // FU-A
			fh := b[1]
			if fh&0x80 != 0 {
				d.fu = []byte{(b[0] & 0xe0) | fh&0x1f}
			}
			d.fu = append(d.fu, b[2:]...)
			if fh&0x40 != 0 {
				d.cur, d.fu = append(d.cur, d.fu), nil
			}
		default:
			d.cur = append(d.cur, bytes.Clone(b))
		}
	}
	if p.marker {
		d.aus = append(d.aus, rtpAU{ts: p.ts, nals: d.cur, at: p.at})
		d.cur = nil
	}
	return nil
}

// receiveAUs plays url over RTSP/TCP and returns its first n access units.
func receiveAUs(t *testing.T, addr, url, codec string, n int) ([]rtpAU, error) {
	c, err := dialRTSP(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.play(url); err != nil {
		return nil, err
	}
	d := &depacketizer{codec: codec}
	var derr error
	_, err = c.readRTPUntil(60*time.Second, func(p rtpPacket) bool {
		if err := d.packet(p); err != nil && derr == nil {
			derr = err
		}
		return len(d.aus) >= n || derr != nil
	})
	if derr != nil {
		return nil, derr
	}
	return d.aus, err
}

// findAU is the index of the clip's access unit whose picture is au's, or -1.
func findAU(t *testing.T, clip *Clip, au [][]byte) int {
	for k := 0; k < clip.Frames; k++ {
		if equalNALs(pictureNALs(clip.Codec, nalUnits(t, clip.AccessUnit(k))), au) {
			return k
		}
	}
	return -1
}

func equalNALs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// checkStream checks what a mount sent: it begins at clip frame first (-1: anywhere), every
// access unit is the clip's next one bit for bit (no re-encoding), wrapping round at the end,
// and the RTP timestamps advance by one frame each, also across the loop.
func checkStream(t *testing.T, name string, clip *Clip, aus []rtpAU, first int) {
	t.Helper()
	k := findAU(t, clip, pictureNALs(clip.Codec, aus[0].nals))
	if k < 0 {
		t.Fatalf("%s: the first access unit received is none of the clip's", name)
	}
	if first >= 0 && k != first {
		t.Errorf("%s: begins at clip frame %d, want %d", name, k, first)
	}
	step := uint32((90000*clip.FrameTime + time.Second/2) / time.Second)
	wrapped := false
	for i, au := range aus {
		want := pictureNALs(clip.Codec, nalUnits(t, clip.AccessUnit(k)))
		if !equalNALs(pictureNALs(clip.Codec, au.nals), want) {
			t.Fatalf("%s: access unit %d is not clip frame %d bit for bit", name, i, k)
		}
		if clip.Keyframe(k) {
			// the payloader repeats the parameter sets before each keyframe
			types := map[int]bool{}
			for _, n := range au.nals {
				types[nalType(clip.Codec, n)] = true
			}
			if clip.Codec == CodecH264 && !(types[7] && types[8]) || clip.Codec == CodecH265 && !(types[32] && types[33] && types[34]) {
				t.Errorf("%s: keyframe %d (clip frame %d) without its parameter sets: NAL types %v", name, i, k, types)
			}
		}
		if i > 0 {
			if d := au.ts - aus[i-1].ts; d+1 < step || d > step+1 {
				t.Errorf("%s: RTP timestamp step %d before access unit %d (clip frame %d), want %d", name, d, i, k, step)
			}
		}
		k++
		if k == clip.Frames {
			k, wrapped = 0, true
		}
	}
	if !wrapped {
		t.Errorf("%s: %d access units did not reach the clip's end (%d frames)", name, len(aus), clip.Frames)
	}
}

// TestClipMountsSendTheClip: three mounts of an H.264 byte-stream clip each send the clip's
// access units unchanged, looped with timestamps that go on across the loop, each beginning
// at its own offset: keyframes at frames 0, 10 and 20 of the GOP of 30, not at once.
func TestClipMountsSendTheClip(t *testing.T) {
	clipClock = false
	defer func() { clipClock = true }()
	path := makeClip(t, CodecH264, "", 75)
	clip, err := LoadClip(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer clip.Close()
	if clip.Codec != CodecH264 || clip.MP4 || clip.Frames != 75 || clip.Keyframes != 3 || clip.GOP != 30 || clip.FrameTime != time.Second/30 {
		t.Fatalf("clip: %+v; want H.264, 75 frames, 3 keyframes, GOP 30, 30 fps", clip)
	}
	s := startServer(t, Options{Clip: path, Cameras: 3})
	if s.Clip() == nil || s.Scene(1) != nil || s.Options().FPS != 30 || s.Options().Codec != CodecH264 {
		t.Fatalf("server: clip %v, scene %v, options %+v", s.Clip(), s.Scene(1), s.Options())
	}
	var wg sync.WaitGroup
	got := make([][]rtpAU, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = receiveAUs(t, s.Addr(), s.URL(i+1), CodecH264, 90)
		}()
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("cam%d: %v", i+1, errs[i])
		}
		checkStream(t, fmt.Sprintf("cam%d", i+1), s.Clip(), got[i], []int{0, 10, 20}[i])
		// paced, not sent as fast as the client reads: 90 frames are 3 s of stream (a lower
		// bound only, with room for the server's queue; a slow machine only takes longer)
		if d := got[i][len(got[i])-1].at.Sub(got[i][0].at); d < 1500*time.Millisecond {
			t.Errorf("cam%d: 90 access units arrived within %v: not paced at 30 frames/s", i+1, d)
		}
	}
}

// TestClipFormats: an MP4 clip and H.265 clips (byte stream and MP4) are parsed and sent
// unchanged too.
func TestClipFormats(t *testing.T) {
	for _, c := range []struct{ codec, container string }{
		{CodecH264, "mp4"}, {CodecH265, ""}, {CodecH265, "mp4"},
	} {
		t.Run(c.codec+"-"+map[string]string{"": "annexb", "mp4": "mp4"}[c.container], func(t *testing.T) {
			path := makeClip(t, c.codec, c.container, 45)
			clip, err := LoadClip(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer clip.Close()
			if clip.Codec != c.codec || clip.MP4 != (c.container == "mp4") || clip.Frames != 45 || clip.Keyframes != 2 || clip.GOP != 30 {
				t.Fatalf("clip: %+v; want %s, 45 frames, 2 keyframes, GOP 30", clip, c.codec)
			}
			if d := clip.FrameTime - time.Second/30; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("frame time %v, want 1/30 s", clip.FrameTime)
			}
			s := startServer(t, Options{Clip: path, Cameras: 1})
			aus, err := receiveAUs(t, s.Addr(), s.URL(1), c.codec, 50)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, "cam1", s.Clip(), aus, -1)
		})
	}
}

// TestClipCredentials: with User set, the clip's mounts demand the credentials.
func TestClipCredentials(t *testing.T) {
	path := makeClip(t, CodecH264, "", 30)
	s := startServer(t, Options{Clip: path, Cameras: 2, User: "admin", Password: "secret"})
	c, err := dialRTSP(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.do("DESCRIBE", s.URL(2), "Accept: application/sdp")
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 401 {
		t.Errorf("DESCRIBE without credentials: status %d, want 401", r.status)
	}
	r, err = c.do("DESCRIBE", s.URL(2), "Accept: application/sdp", "Authorization: Basic YWRtaW46c2VjcmV0")
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 200 {
		t.Errorf("DESCRIBE with credentials: status %d, want 200", r.status)
	}
}

// TestClipRefusesBFramesInByteStream: an H.264 byte stream has no presentation timestamps,
// so one with B-frames is refused (the same as an MP4 is served).
func TestClipRefusesBFramesInByteStream(t *testing.T) {
	initOnce.Do(func() { gst.Init(nil) })
	path := filepath.Join(t.TempDir(), "b.h264")
	pipe, err := gst.NewPipelineFromString("videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=I420,width=160,height=96,framerate=30/1 ! " +
		"x264enc speed-preset=veryfast bframes=2 b-adapt=false ! h264parse ! video/x-h264,stream-format=byte-stream ! filesink location=" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.SetState(gst.StateNull)
	pipe.SetState(gst.StatePlaying)
	if msg := pipe.GetPipelineBus().TimedPopFiltered(gst.ClockTime(60*time.Second), gst.MessageEOS|gst.MessageError); msg == nil || msg.Type() != gst.MessageEOS {
		t.Fatal("encoding the clip failed")
	}
	if _, err := LoadClip(path, 0); !errors.Is(err, ErrClipBFrames) {
		t.Errorf("LoadClip: %v, want ErrClipBFrames", err)
	}
}

// TestClipManyMounts: the clip mode serves more mounts than the scene mode's 63, and
// rejects what is not a clip.
func TestClipManyMounts(t *testing.T) {
	path := makeClip(t, CodecH264, "", 30)
	s := startServer(t, Options{Clip: path, Cameras: 130})
	aus, err := receiveAUs(t, s.Addr(), s.URL(130), CodecH264, 5)
	if err != nil || len(aus) < 5 {
		t.Fatalf("cam130: %d access units, %v", len(aus), err)
	}
	if _, err := Start(t.Context(), Options{Clip: path, Cameras: MaxClipCameras + 1, Listen: "127.0.0.1:0"}); err == nil {
		t.Errorf("%d cameras accepted", MaxClipCameras+1)
	}
	noise := filepath.Join(t.TempDir(), "noise.h264")
	if err := os.WriteFile(noise, bytes.Repeat([]byte("not a video "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadClip(noise, 0); err == nil {
		t.Error("a file of text loaded as a clip")
	}
}

// TestClipStopStartCamera: a clip camera goes away and comes back as a scene camera does.
func TestClipStopStartCamera(t *testing.T) {
	path := makeClip(t, CodecH264, "", 30)
	s := startServer(t, Options{Clip: path, Cameras: 2})
	if _, err := receiveAUs(t, s.Addr(), s.URL(2), CodecH264, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.StopCamera(2); err != nil {
		t.Fatal(err)
	}
	c, err := dialRTSP(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.do("DESCRIBE", s.URL(2), "Accept: application/sdp")
	c.Close()
	if err != nil || r.status != 404 {
		t.Fatalf("DESCRIBE of a stopped camera: %v, %v; want 404", r, err)
	}
	if err := s.StartCamera(2); err != nil {
		t.Fatal(err)
	}
	if aus, err := receiveAUs(t, s.Addr(), s.URL(2), CodecH264, 3); err != nil || len(aus) < 3 {
		t.Fatalf("after StartCamera: %d access units, %v", len(aus), err)
	}
}
