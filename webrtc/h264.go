package webrtc

import (
	"time"

	"github.com/gstvision/gstvision/h26x"
)

// H.264 NAL unit types this package looks at (ITU-T H.264 table 7-1).
const (
	nalSlice = 1
	nalIDR   = 5
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9
)

// auInfo is what WriteAccessUnit learns from one access unit.
type auInfo struct {
	idr           bool   // a decoder's starting point: IDR (H.264), IRAP (H.265)
	vps, sps, pps []byte // aliases of the access unit (vps: H.265 only)
	slices        int
	bSlice        bool // a slice with slice_type B: the stream reorders pictures
}

func inspectAU(au []byte) auInfo {
	var info auInfo
	h26x.ForEachNAL(au, func(nal []byte) {
		switch nal[0] & 0x1f {
		case nalIDR:
			info.idr = true
			info.slices++
		case nalSlice:
			info.slices++
			if h26x.H264SliceType(nal) == sliceTypeB {
				info.bSlice = true
			}
		case nalSPS:
			info.sps = nal
		case nalPPS:
			info.pps = nal
		}
	})
	return info
}

// sliceTypeB is slice_type B modulo 5 (H.264 table 7-6: 1 and 6 are B).
const sliceTypeB = 1

// withParamSets returns au prefixed with the parameter sets in Annex-B form (SPS and PPS for
// H.264; VPS, SPS and PPS for H.265).
func withParamSets(au []byte, sets ...[]byte) []byte {
	n := len(au)
	for _, s := range sets {
		n += 4 + len(s)
	}
	out := make([]byte, 0, n)
	for _, s := range sets {
		out = append(out, 0, 0, 0, 1)
		out = append(out, s...)
	}
	return append(out, au...)
}

// rtpClock maps presentation timestamps to a 90 kHz RTP clock that never goes backwards: after
// a discontinuity (PTS going back, e.g. when the encoding branch is relinked and restarts its
// running time) it continues one nominal frame after the last timestamp.
type rtpClock struct {
	started   bool
	wallStart time.Time
	anchorPTS time.Duration
	anchorTS  int64 // 90 kHz ticks at anchorPTS
	lastPTS   time.Duration
	lastTS    int64
}

// nominalFrame is the step after a discontinuity: one frame at 30 fps.
const nominalFrame = 90000 / 30

// ticks returns the 90 kHz timestamp of pts. A negative pts means unknown: the wall clock since
// the first access unit is used instead.
func (c *rtpClock) ticks(pts time.Duration, now time.Time) int64 {
	if !c.started {
		c.started, c.wallStart = true, now
		if pts < 0 {
			pts = 0
		}
		c.anchorPTS = pts
	} else {
		if pts < 0 {
			pts = now.Sub(c.wallStart)
		}
		if pts <= c.lastPTS || pts-c.lastPTS > 10*time.Second {
			// Backwards, repeated or a jump of more than 10 s: rebase.
			c.anchorPTS, c.anchorTS = pts, c.lastTS+nominalFrame
		}
	}
	ts := c.anchorTS + int64((pts-c.anchorPTS)*9/100000) // ns * 90000 / 1e9
	c.lastPTS, c.lastTS = pts, ts
	return ts
}

// SplitAccessUnits splits an H.264 Annex-B elementary stream (e.g. a .h264 file) into access
// units for [Broadcaster.WriteAccessUnit], each with 4-byte start codes. A new access unit
// begins at an access unit delimiter, SPS, PPS or SEI that follows a slice, and at a slice whose
// first_mb_in_slice is 0 that follows a slice (H.264 7.4.1.2.3, simplified: enough for encoder
// output, including several slices per picture).
func SplitAccessUnits(stream []byte) [][]byte {
	var (
		out      [][]byte
		cur      []byte
		hasSlice bool
	)
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, hasSlice = nil, false
	}
	h26x.ForEachNAL(stream, func(nal []byte) {
		switch t := nal[0] & 0x1f; {
		case t == nalAUD || t == nalSPS || t == nalPPS || t == nalSEI:
			if hasSlice {
				flush()
			}
		case t == nalSlice || t == nalIDR:
			// first_mb_in_slice is the first ue(v) of the slice header: 0 is the single bit 1.
			if hasSlice && len(nal) > 1 && nal[1]&0x80 != 0 {
				flush()
			}
			hasSlice = true
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal...)
	})
	flush()
	return out
}
