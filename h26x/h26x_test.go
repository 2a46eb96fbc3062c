package h26x_test

import (
	"bytes"
	"testing"

	"github.com/gstvision/gstvision/h26x"
)

func TestForEachNAL(t *testing.T) {
	stream := cat([]byte{0, 0, 1, 0x09, 0xf0}, nal(0x67, 1, 2, 3), []byte{0, 0, 1, 0x68, 4}, nal(0x65, 0x88, 0, 5, 0))
	var got [][]byte
	h26x.ForEachNAL(stream, func(n []byte) { got = append(got, append([]byte(nil), n...)) })
	want := [][]byte{{0x09, 0xf0}, {0x67, 1, 2, 3}, {0x68, 4}, {0x65, 0x88, 0, 5}}
	if len(got) != len(want) {
		t.Fatalf("got %d NAL units %x, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("NAL %d = %x, want %x", i, got[i], want[i])
		}
	}
	// No start code: the buffer is one NAL unit. Empty: none.
	n := 0
	h26x.ForEachNAL([]byte{0x41, 9}, func([]byte) { n++ })
	h26x.ForEachNAL(nil, func([]byte) { n += 10 })
	h26x.ForEachNAL([]byte{0, 0, 1}, func([]byte) { n += 100 })
	if n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestRBSP(t *testing.T) {
	in := []byte{0x90, 0, 0, 3, 0, 0, 3, 1, 0, 3}
	if got, want := h26x.RBSP(in), []byte{0x90, 0, 0, 0, 0, 1, 0, 3}; !bytes.Equal(got, want) {
		t.Errorf("RBSP(%x) = %x, want %x", in, got, want)
	}
}

func TestUE(t *testing.T) {
	// 1 | 010 | 011 | 00100 | 00101: 0, 1, 2, 3, 4
	r := h26x.NewBitReader([]byte{0b10100110, 0b01000010, 0b10000000})
	for want := uint32(0); want < 5; want++ {
		if v, ok := r.UE(); !ok || v != want {
			t.Fatalf("UE = %d, %v; want %d", v, ok, want)
		}
	}
	if _, ok := h26x.NewBitReader([]byte{0, 0}).UE(); ok {
		t.Error("UE read a code cut short")
	}
}

func TestH264SliceType(t *testing.T) {
	// first_mb_in_slice 0 (1), slice_type 1 (010) = B; slice_type 5 (00110) = P mod 5
	if st := h26x.H264SliceType([]byte{0x01, 0b10100000}); st != 1 {
		t.Errorf("B slice: %d", st)
	}
	if st := h26x.H264SliceType([]byte{0x41, 0b10011000}); st != 0 {
		t.Errorf("slice_type 5: %d, want 0 (P)", st)
	}
	if st := h26x.H264SliceType([]byte{0x41}); st != -1 {
		t.Errorf("cut short: %d", st)
	}
}

// nal builds an Annex-B NAL unit with a 4-byte start code.
func nal(header byte, body ...byte) []byte {
	return append([]byte{0, 0, 0, 1, header}, body...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
