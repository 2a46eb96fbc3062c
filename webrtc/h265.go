package webrtc

import "github.com/gstvision/gstvision/h26x"

// H.265 NAL unit types this package looks at (ITU-T H.265 table 7-1).
const (
	nal265IRAPFirst = 16 // BLA_W_LP: IRAP pictures are types 16 to 23 (22, 23 reserved)
	nal265IRAPLast  = 21 // CRA_NUT
	nal265SliceLast = 21 // types 0 to 21 are slice segments (22..31 reserved)
	nal265VPS       = 32
	nal265SPS       = 33
	nal265PPS       = 34
)

// nal265Type is an H.265 NAL unit's type (the header's bits 1 to 6).
func nal265Type(nal []byte) int { return int(nal[0]>>1) & 0x3f }

// inspectAU265 is inspectAU for H.265: idr is an IRAP picture (IDR, CRA or BLA), a decoder's
// starting point; bSlice is set by a slice segment of type B (H.265 table 7-7). ppsExtraBits
// is num_extra_slice_header_bits of the stream's PPS, which precede slice_type: a PPS in au
// updates it.
func inspectAU265(au []byte, ppsExtraBits *int) auInfo {
	var info auInfo
	h26x.ForEachNAL(au, func(nal []byte) {
		if len(nal) < 2 {
			return
		}
		switch t := nal265Type(nal); {
		case t <= nal265SliceLast:
			info.slices++
			if t >= nal265IRAPFirst && t <= nal265IRAPLast {
				info.idr = true
			}
			if slice265Type(nal, t, *ppsExtraBits) == slice265B {
				info.bSlice = true
			}
		case t == nal265VPS:
			info.vps = nal
		case t == nal265SPS:
			info.sps = nal
		case t == nal265PPS:
			info.pps = nal
			*ppsExtraBits = pps265ExtraBits(nal)
		}
	})
	return info
}

// slice265B is slice_type B (H.265 table 7-7: 0 B, 1 P, 2 I).
const slice265B = 0

// slice265Type returns the slice_type of the first slice segment of a picture, and -1 for the
// others (whose header does not repeat it) or a header cut short. The header (H.265 7.3.6.1)
// starts first_slice_segment_in_pic_flag, no_output_of_prior_pics_flag for IRAP pictures,
// slice_pic_parameter_set_id ue(v), then for a first segment the PPS's extra header bits and
// slice_type ue(v). All are a few bits into the header, before any emulation prevention byte
// could occur.
func slice265Type(nal []byte, typ, extraBits int) int {
	r := h26x.NewBitReader(nal[2:])
	first, ok := r.Bit()
	if !ok || first == 0 {
		return -1
	}
	if typ >= nal265IRAPFirst && typ <= 23 {
		if _, ok := r.Bit(); !ok {
			return -1
		}
	}
	if _, ok := r.UE(); !ok {
		return -1
	}
	for range extraBits {
		if _, ok := r.Bit(); !ok {
			return -1
		}
	}
	t, ok := r.UE()
	if !ok {
		return -1
	}
	return int(t)
}

// pps265ExtraBits reads num_extra_slice_header_bits from a PPS NAL unit (H.265 7.3.2.3.1:
// pps_pic_parameter_set_id ue(v), pps_seq_parameter_set_id ue(v), two flags, then the three
// bits); 0 when it cannot.
func pps265ExtraBits(pps []byte) int {
	if len(pps) < 3 {
		return 0
	}
	r := h26x.NewBitReader(h26x.RBSP(pps[2:]))
	for range 2 {
		if _, ok := r.UE(); !ok {
			return 0
		}
	}
	v := 0
	for i := range 5 {
		b, ok := r.Bit()
		if !ok {
			return 0
		}
		if i >= 2 {
			v = v<<1 | int(b)
		}
	}
	return v
}

// h265PTL is the general profile, tier and level of an H.265 SPS: what an SDP's profile-id,
// tier-flag and level-id state (RFC 7798 7.1).
type h265PTL struct {
	profile, tier, level int
}

// sps265PTL reads the general profile_tier_level of an SPS NAL unit (H.265 7.3.2.2.1, 7.3.3):
// after the 2-byte NAL header, sps_video_parameter_set_id u(4), sps_max_sub_layers_minus1
// u(3), sps_temporal_id_nesting_flag u(1); then general_profile_space u(2), general_tier_flag
// u(1), general_profile_idc u(5), 32 compatibility flags, 48 constraint bits and
// general_level_idc u(8). Emulation prevention bytes are common in the constraint bits.
func sps265PTL(sps []byte) (h265PTL, bool) {
	if len(sps) < 3 || nal265Type(sps) != nal265SPS {
		return h265PTL{}, false
	}
	b := h26x.RBSP(sps[2:])
	if len(b) < 13 {
		return h265PTL{}, false
	}
	return h265PTL{profile: int(b[1] & 0x1f), tier: int(b[1]>>5) & 1, level: int(b[12])}, true
}
