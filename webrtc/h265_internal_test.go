package webrtc

import "testing"

func TestSPS265PTL(t *testing.T) {
	// An x265 SPS (Main, tier 0, level 2.1 = 63): the constraint bytes carry emulation
	// prevention bytes (00 00 03) that must not shift general_level_idc.
	sps := []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0xa0}
	ptl, ok := sps265PTL(sps)
	if !ok || ptl != (h265PTL{profile: 1, tier: 0, level: 63}) {
		t.Errorf("sps265PTL = %+v, %v; want Main, tier 0, level 63", ptl, ok)
	}
	if _, ok := sps265PTL([]byte{0x40, 0x01, 0x0c}); ok {
		t.Error("a VPS read as an SPS")
	}
}

func TestChoosePassthroughH265(t *testing.T) {
	main := h265PTL{profile: h265Main, level: 93}
	entry := func(pt uint8, profile, tier int) offerCodec {
		return offerCodec{pt: pt, h265: true, ptl: h265PTL{profile: profile, tier: tier, level: 180}}
	}
	cases := []struct {
		name  string
		offer []offerCodec
		cam   h265PTL
		known bool
		pt    uint8
		ok    bool
	}{
		{"own profile", []offerCodec{entry(49, 2, 0), entry(51, 1, 0)}, main, true, 51, true},
		{"main 10 decodes main", []offerCodec{entry(49, 2, 0)}, main, true, 49, true},
		{"main does not decode main 10", []offerCodec{entry(49, 1, 0)}, h265PTL{profile: h265Main10}, true, 0, false},
		{"tier too low", []offerCodec{entry(49, 1, 0)}, h265PTL{profile: h265Main, tier: 1}, true, 0, false},
		{"no SPS yet: the first", []offerCodec{entry(49, 2, 0), entry(51, 1, 0)}, h265PTL{}, false, 49, true},
		{"no H.265 entry", nil, main, true, 0, false},
	}
	for _, tc := range cases {
		c, ok := choosePassthroughH265(tc.offer, tc.cam, tc.known)
		if ok != tc.ok || ok && c.pt != tc.pt {
			t.Errorf("%s: got pt %d, %v; want %d, %v", tc.name, c.pt, ok, tc.pt, tc.ok)
		}
	}
}

func TestPPS265ExtraBits(t *testing.T) {
	// pps_pic_parameter_set_id 0 (1), sps id 0 (1), two flags (00), extra bits 010 = 2.
	pps := []byte{0x44, 0x01, 0b11000100, 0x80}
	if n := pps265ExtraBits(pps); n != 2 {
		t.Errorf("pps265ExtraBits = %d, want 2", n)
	}
	// With two extra bits, slice_type comes after them: first_slice 1, pps id 0 (1), extra 00,
	// slice_type ue 0 (1) = B.
	slice := []byte{0x02, 0x01, 0b11001000}
	if st := slice265Type(slice, 1, 2); st != slice265B {
		t.Errorf("slice265Type = %d, want B (0)", st)
	}
	if st := slice265Type(slice, 1, 0); st == slice265B {
		t.Error("slice265Type ignored the PPS's extra header bits")
	}
}
