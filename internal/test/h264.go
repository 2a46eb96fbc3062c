package test

// H.264 bitstreams: NAL units, RBSP, Exp-Golomb codes and slice types, and decoding Annex-B
// streams with GStreamer.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gstvision/gstvision/h26x"
)

// NALs splits Annex-B data into NAL units (without start codes).
func NALs(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

// RBSP removes emulation prevention bytes (00 00 03 → 00 00).
func RBSP(b []byte) []byte { return h26x.RBSP(b) }

// BitReader reads an RBSP bit by bit, most significant first; past the end it reads zeros.
type BitReader struct {
	b   []byte
	pos int
}

// NewBitReader reads b, an RBSP (see RBSP).
func NewBitReader(b []byte) *BitReader { return &BitReader{b: b} }

// Bit reads one bit.
func (r *BitReader) Bit() int {
	if r.pos >= 8*len(r.b) {
		return 0
	}
	v := int(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

// UE reads an Exp-Golomb coded unsigned integer.
func (r *BitReader) UE() int {
	zeros := 0
	for r.Bit() == 0 && zeros < 32 {
		zeros++
	}
	v := 1
	for range zeros {
		v = v<<1 | r.Bit()
	}
	return v - 1
}

// SliceType returns slice_type mod 5 of a slice NAL unit (0 P, 1 B, 2 I, 3 SP, 4 SI).
func SliceType(nal []byte) int {
	r := NewBitReader(RBSP(nal[1:]))
	r.UE() // first_mb_in_slice
	return r.UE() % 5
}

// DecodeH264 decodes an Annex-B stream with GStreamer (h264parse ! avdec_h264) to I420 frames of
// exactly w×h (caps negotiation fails for any other size) and returns them. It skips the test
// when gst-launch-1.0 is missing.
func DecodeH264(t testing.TB, stream []byte, w, h int) [][]byte {
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
