package test

import (
	"bytes"
	"testing"
)

func TestNALs(t *testing.T) {
	stream := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0}
	got := NALs(stream)
	want := [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4}}
	if len(got) != len(want) {
		t.Fatalf("NALs = %x, want %x", got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("NAL %d = %x, want %x", i, got[i], want[i])
		}
	}
}

func TestRBSP(t *testing.T) {
	if got, want := RBSP([]byte{1, 0, 0, 3, 0, 0, 0, 3, 3}), []byte{1, 0, 0, 0, 0, 0, 3}; !bytes.Equal(got, want) {
		t.Errorf("RBSP = %x, want %x", got, want)
	}
}

func TestSliceType(t *testing.T) {
	// first_mb_in_slice 0 (1), slice_type 7 (0001000): I, as 7 mod 5 = 2.
	if st := SliceType([]byte{0x65, 0b1000_1000}); st != 2 {
		t.Errorf("SliceType = %d, want 2", st)
	}
	// first_mb_in_slice 2 (011), slice_type 0 (1): P.
	if st := SliceType([]byte{0x41, 0b0111_0000}); st != 0 {
		t.Errorf("SliceType = %d, want 0", st)
	}
}
