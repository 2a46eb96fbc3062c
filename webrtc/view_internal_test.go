package webrtc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gstvision/gstvision/h26x"
)

// sliceNAL is a non-IDR slice NAL unit whose header says first_mb_in_slice 0 and slice_type st
// (0 P, 1 B, 2 I; below 8).
func sliceNAL(st int) []byte {
	// ue(0) = "1"; ue(st) for st < 8: st+1 in binary with leading zeros.
	bits := "1"
	v := st + 1
	n := 0
	for x := v; x > 0; x >>= 1 {
		n++
	}
	for i := 1; i < n; i++ {
		bits += "0"
	}
	for i := n - 1; i >= 0; i-- {
		bits += string(rune('0' + (v>>i)&1))
	}
	bits += "1" // something after
	for len(bits)%8 != 0 {
		bits += "0"
	}
	out := []byte{0x41}
	for i := 0; i < len(bits); i += 8 {
		var b byte
		for j := 0; j < 8; j++ {
			b = b<<1 | (bits[i+j] - '0')
		}
		out = append(out, b)
	}
	return out
}

func TestH264SliceType(t *testing.T) {
	for st := 0; st < 8; st++ {
		if got := h26x.H264SliceType(sliceNAL(st)); got != st%5 {
			t.Errorf("slice_type %d: H264SliceType = %d, want %d", st, got, st%5)
		}
	}
	if got := h26x.H264SliceType([]byte{0x41}); got != -1 {
		t.Errorf("cut header: H264SliceType = %d, want -1", got)
	}
	au := append([]byte{0, 0, 0, 1}, sliceNAL(6)...) // B (6 = 1 + 5)
	if !inspectAU(au).bSlice {
		t.Error("inspectAU missed a B slice")
	}
	au = append([]byte{0, 0, 0, 1}, sliceNAL(0)...)
	if inspectAU(au).bSlice {
		t.Error("inspectAU took a P slice for a B slice")
	}
}

func TestWithRTPTimestamp(t *testing.T) {
	got := withRTPTimestamp([]byte(`{"camera":"c","pts":5,"detections":[]}`), 4294967295)
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if m["rtp_ts"] != float64(4294967295) || m["camera"] != "c" {
		t.Errorf("got %s", got)
	}
	if got := string(withRTPTimestamp([]byte(`{}`), 7)); got != `{"rtp_ts":7}` {
		t.Errorf("empty object: %s", got)
	}
}

func TestGOPCacheBounds(t *testing.T) {
	g := &gopCache{maxUnits: 3, maxBytes: 100}
	g.add(1, 0, false, []byte{1}, false) // no IDR yet: not kept
	if len(g.units) != 0 {
		t.Fatalf("kept %d units before an IDR", len(g.units))
	}
	g.add(2, 0, true, []byte{1}, false)
	g.add(3, 0, false, []byte{2}, false)
	g.add(4, 0, false, []byte{3}, false)
	if len(g.units) != 3 || g.units[0].seq != 2 || !g.units[0].key {
		t.Fatalf("units %+v, want seq 2 (IDR), 3, 4", g.units)
	}
	g.add(5, 0, false, []byte{4}, false) // a 4th: the GOP is too long, dropped until the next IDR
	g.add(6, 0, false, []byte{5}, false)
	if len(g.units) != 0 {
		t.Fatalf("kept %d units of an overlong GOP", len(g.units))
	}
	g.add(7, 0, true, make([]byte, 60), false)
	g.add(8, 0, false, make([]byte, 60), false) // 120 bytes > 100
	if len(g.units) != 0 || g.bytes != 0 {
		t.Fatalf("kept %d units (%d bytes) past the byte bound", len(g.units), g.bytes)
	}
	data := []byte{9}
	g.add(9, 0, true, data, false)
	data[0] = 0
	if g.units[0].data[0] != 9 {
		t.Error("the cache aliases the caller's access unit")
	}
	owned := []byte{10}
	g.add(10, 0, true, owned, true)
	if &g.units[0].data[0] != &owned[0] {
		t.Error("the cache copied an access unit handed over to it")
	}
}

func TestRTPTimestampRing(t *testing.T) {
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := m.Passthrough("cam")
	idr := []byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x80}
	p := append([]byte{0, 0, 0, 1}, sliceNAL(0)...)
	if _, ok := b.RTPTimestamp(0); ok {
		t.Error("RTPTimestamp known before any access unit")
	}
	const frame = time.Second / 30
	base := 10 * time.Second
	b.WriteAccessUnit(idr, base)
	for i := 1; i < 200; i++ {
		b.WriteAccessUnit(p, base+time.Duration(i)*frame)
	}
	ts0, ok0 := b.RTPTimestamp(base + 199*frame)
	ts1, ok1 := b.RTPTimestamp(base + 198*frame)
	if !ok0 || !ok1 || ts0-ts1 != 3000 {
		t.Errorf("last two access units: %d (%v), %d (%v), want 3000 ticks apart", ts0, ok0, ts1, ok1)
	}
	if _, ok := b.RTPTimestamp(base + 10*frame); ok {
		t.Error("RTPTimestamp known for an access unit older than the ring")
	}
	// A frame not written yet: the clock's prediction, which the write then confirms.
	next, ok := b.RTPTimestamp(base + 200*frame)
	b.WriteAccessUnit(p, base+200*frame)
	got, ok2 := b.RTPTimestamp(base + 200*frame)
	if !ok || !ok2 || next != got || got-ts0 != 3000 {
		t.Errorf("predicted %d (%v), written %d (%v), previous %d", next, ok, got, ok2, ts0)
	}
}
