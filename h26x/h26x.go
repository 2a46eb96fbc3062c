// Package h26x reads the few H.264 and H.265 bitstream fields gstvision looks at: the NAL units
// of an Annex-B stream, RBSP (emulation prevention removed) and Exp-Golomb codes. It imports
// nothing from the project and uses no cgo.
package h26x

import "bytes"

var startCode = []byte{0, 0, 1}

// ForEachNAL calls fn with each NAL unit of an Annex-B buffer, without start codes and without
// the zero bytes that precede the next start code. A buffer without start codes is one NAL unit.
func ForEachNAL(b []byte, fn func(nal []byte)) {
	i := bytes.Index(b, startCode)
	if i < 0 {
		if len(b) > 0 {
			fn(b)
		}
		return
	}
	b = b[i+3:]
	for len(b) > 0 {
		j := bytes.Index(b, startCode)
		if j < 0 {
			fn(trimZeros(b))
			return
		}
		if nal := trimZeros(b[:j]); len(nal) > 0 {
			fn(nal)
		}
		b = b[j+3:]
	}
}

// trimZeros drops trailing zero bytes: the leading zero of a 4-byte start code, or
// trailing_zero_8bits. A NAL unit never ends in a zero byte (rbsp_trailing_bits).
func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// RBSP returns b with its emulation prevention bytes removed (00 00 03 → 00 00), in a new
// slice.
func RBSP(b []byte) []byte {
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

// BitReader reads bits most significant first, and Exp-Golomb codes. Its zero value reads
// nothing; NewBitReader reads b.
type BitReader struct {
	b   []byte
	pos int // in bits
}

// NewBitReader reads b (an RBSP, or header bits that no emulation prevention byte can reach).
func NewBitReader(b []byte) *BitReader { return &BitReader{b: b} }

// Bit reads one bit; ok is false past the end.
func (r *BitReader) Bit() (v uint32, ok bool) {
	if r.pos >= len(r.b)*8 {
		return 0, false
	}
	v = uint32(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v, true
}

// UE reads an unsigned Exp-Golomb code (H.264 9.1, H.265 9.2); ok is false past the end or
// above 2^31.
func (r *BitReader) UE() (v uint32, ok bool) {
	zeros := 0
	for {
		b, ok := r.Bit()
		if !ok || zeros > 31 {
			return 0, false
		}
		if b == 1 {
			break
		}
		zeros++
	}
	v = 1
	for range zeros {
		b, ok := r.Bit()
		if !ok {
			return 0, false
		}
		v = v<<1 | b
	}
	return v - 1, true
}

// H264SliceType returns an H.264 slice NAL unit's slice_type modulo 5 (0 P, 1 B, 2 I, 3 SP,
// 4 SI), or -1 when the header is cut short. The header starts first_mb_in_slice ue(v),
// slice_type ue(v) (H.264 7.3.3); both are small, so emulation prevention bytes, which need two
// zero bytes first, cannot occur in them.
func H264SliceType(nal []byte) int {
	if len(nal) < 2 {
		return -1
	}
	r := NewBitReader(nal[1:])
	if _, ok := r.UE(); !ok {
		return -1
	}
	t, ok := r.UE()
	if !ok {
		return -1
	}
	return int(t % 5)
}
