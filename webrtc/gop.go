package webrtc

import "time"

// Bounds of a passthrough broadcaster's GOP cache: a GOP longer than either is not kept, and
// viewers joining during it wait for the camera's next keyframe.
const (
	MaxGOPUnits = 300     // access units (10 s at 30 fps)
	MaxGOPBytes = 8 << 20 // bytes of access units
)

// cachedAU is one access unit kept for joining viewers, already prefixed with SPS and PPS when
// it is the IDR that starts the GOP.
type cachedAU struct {
	seq  uint64
	ts   uint32
	key  bool
	data []byte // the cache's own (a copy, or handed over: WriteOwnedAccessUnit)
}

// gopCache keeps the access units since the last IDR, so that a viewer joining mid-GOP can be
// sent a decodable picture at once instead of waiting for a camera's next keyframe (a camera
// cannot be asked for one). It holds at most maxUnits access units and maxBytes bytes; past
// either it empties until the next IDR.
type gopCache struct {
	units    []cachedAU
	bytes    int
	maxUnits int
	maxBytes int
}

// add records one access unit, keeping data itself when owned (else a copy). Only an IDR
// starts a GOP: the units after a dropped GOP are not kept.
func (g *gopCache) add(seq uint64, ts uint32, key bool, data []byte, owned bool) {
	if key {
		g.reset()
	} else if len(g.units) == 0 {
		return
	}
	if len(g.units) >= g.maxUnits || g.bytes+len(data) > g.maxBytes {
		g.reset()
		return
	}
	if !owned {
		data = append([]byte(nil), data...)
	}
	g.units = append(g.units, cachedAU{seq: seq, ts: ts, key: key, data: data})
	g.bytes += len(data)
}

func (g *gopCache) reset() {
	clear(g.units) // let the copies go
	g.units, g.bytes = g.units[:0], 0
}

// stampRingLen is how many recent (PTS → RTP ticks) pairs a broadcaster keeps: more than the
// frames a result can lag behind its access unit (inference latency, a second at 60 fps).
const stampRingLen = 128

// stamp is the RTP timestamp (before a viewer's offset) an access unit with pts was sent with.
type stamp struct {
	pts time.Duration
	ts  uint32
	set bool
}

// stampRing maps the PTS of recent access units to their RTP timestamps.
type stampRing struct {
	ring [stampRingLen]stamp
	next int
}

func (r *stampRing) add(pts time.Duration, ts uint32) {
	r.ring[r.next] = stamp{pts: pts, ts: ts, set: true}
	r.next = (r.next + 1) % stampRingLen
}

// lookup returns the RTP timestamp of the access unit with pts, if it is among the recent ones.
func (r *stampRing) lookup(pts time.Duration) (uint32, bool) {
	for i := range r.ring {
		if s := r.ring[i]; s.set && s.pts == pts {
			return s.ts, true
		}
	}
	return 0, false
}
