package webrtc

import (
	"fmt"
	"time"
)

// View is which video of a camera a WHEP session gets.
type View string

const (
	// ViewPassthrough is the camera's own H.264 access units as received: no decode, no encode,
	// one shared source per camera for all its passthrough viewers.
	ViewPassthrough View = "passthrough"
	// ViewAnnotated is the decoded video with the detections drawn, encoded again.
	ViewAnnotated View = "annotated"
)

// Reasons a passthrough request gets the annotated view instead (Broadcaster.Fallback).
const (
	ReasonBFrames = "the camera sends B-frames, which WebRTC cannot carry"
	// ReasonH265 is a request's reason, not a camera's: an H.265 camera is passed through to
	// viewers whose offer lists H.265 (browsers list it only when they play it).
	ReasonH265 = "the camera sends H.265 and the offer lists no H.265 (the browser does not play it)"
	// NoteH265 is what /api/cameras says of an H.265 camera served as passthrough.
	NoteH265 = "H.265: passthrough to browsers that play H.265, annotated to the others"
)

// Response headers of a WHEP POST: the view the session gets, and why it is not the one asked
// for (only when it is not).
const (
	HeaderView       = "X-Gstvision-View"
	HeaderViewReason = "X-Gstvision-View-Reason"
)

// ParseView returns the view named s; "" is def. Anything else wraps [ErrBadView].
func ParseView(s string, def View) (View, error) {
	switch View(s) {
	case "":
		return def, nil
	case ViewPassthrough, ViewAnnotated:
		return View(s), nil
	}
	return "", fmt.Errorf("%w: %q, want %q or %q", ErrBadView, s, ViewPassthrough, ViewAnnotated)
}

// Fallback is why this passthrough broadcaster's camera cannot be sent as it is ("" when it
// can): passthrough requests then get the annotated view. It is always "" for an annotated
// broadcaster.
func (b *Broadcaster) Fallback() string {
	if r := b.fallback.Load(); r != nil {
		return *r
	}
	return ""
}

// SetFallback marks the camera's stream as one WebRTC cannot carry as it is (reason says why;
// "" clears it, e.g. for a camera whose stream changed). Passthrough viewers already watching
// are disconnected, so that they ask again and get the annotated view.
func (b *Broadcaster) SetFallback(reason string) {
	if reason == "" {
		b.fallback.Store(nil)
		return
	}
	if old := b.fallback.Swap(&reason); old != nil && *old == reason {
		return
	}
	b.m.opts.Logger.Info("passthrough view unavailable: viewers get the annotated view",
		"camera", b.camera, "reason", reason)
	for _, s := range *b.viewers.Load() {
		s.close("passthrough unavailable: " + reason)
	}
}

// CameraView is the view a passthrough request for camera gets now, and, when that is the
// annotated view, why. For an H.265 camera the view depends on the viewer's browser: it is
// passthrough, and the note NoteH265 says so.
func (m *Manager) CameraView(camera string) (View, string) {
	v, reason := m.resolveView(camera, ViewPassthrough)
	if b := m.lookupView(camera, ViewPassthrough); v == ViewPassthrough && b != nil && b.Codec() == CodecH265 {
		return v, NoteH265
	}
	return v, reason
}

// resolveView is the view a request for want gets: passthrough falls back to annotated when
// the camera's stream cannot be carried as it is.
func (m *Manager) resolveView(camera string, want View) (View, string) {
	if want != ViewPassthrough {
		return want, ""
	}
	if b := m.lookupView(camera, ViewPassthrough); b != nil {
		if r := b.Fallback(); r != "" {
			return ViewAnnotated, r
		}
	}
	return ViewPassthrough, ""
}

// RTPTimestamp returns the RTP timestamp, before a session's own offset, of the access unit
// with presentation timestamp pts: exact for one of the last stampRingLen access units, and
// for a later pts the one the broadcaster's clock will give it (unless the clock rebases on a
// discontinuity meanwhile). ok is false for an older pts or before the first access unit.
func (b *Broadcaster) RTPTimestamp(pts time.Duration) (uint32, bool) {
	b.stampMu.Lock()
	defer b.stampMu.Unlock()
	if ts, ok := b.stamps.lookup(pts); ok {
		return ts, true
	}
	c := &b.stampClock
	if !c.started || pts <= c.lastPTS || pts-c.lastPTS > 10*time.Second {
		return 0, false
	}
	return uint32(c.anchorTS + int64((pts-c.anchorPTS)*9/100000)), true
}

// ptl265 is the profile, tier and level of an H.265 camera's latest SPS; ok is false before
// the first one.
func (b *Broadcaster) ptl265() (h265PTL, bool) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return sps265PTL(b.sps)
}

// profileLevelID is the profile-level-id of the camera's latest SPS; ok is false before the
// first one.
func (b *Broadcaster) profileLevelID() (profileLevelID, bool) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return spsProfileLevelID(b.sps)
}

// Codec is a video codec a broadcaster sends: its camera's (passthrough), or the encoder's
// H.264 (annotated).
type Codec string

const (
	CodecH264 Codec = "H264"
	CodecH265 Codec = "H265"
)

// Codec is the codec of the access units WriteAccessUnit takes: H.264 until SetCodec.
func (b *Broadcaster) Codec() Codec {
	if c := b.codec.Load(); c != nil {
		return *c
	}
	return CodecH264
}

// SetCodec tells a passthrough broadcaster its camera's codec (the pipeline learns it when its
// passthrough branch negotiates). A change forgets the parameter sets and the cached GOP, and
// disconnects the viewers, whose sessions negotiated the old codec: they ask again.
func (b *Broadcaster) SetCodec(c Codec) {
	if c != CodecH265 {
		c = CodecH264
	}
	b.wmu.Lock()
	old := b.Codec()
	b.codec.Store(&c)
	if old != c {
		b.vps, b.sps, b.pps, b.ppsExtraBits = nil, nil, nil, 0
		if b.gop != nil {
			b.gop.reset()
		}
	}
	b.wmu.Unlock()
	if old == c {
		return
	}
	b.m.opts.Logger.Info("passthrough codec", "camera", b.camera, "codec", string(c))
	for _, s := range *b.viewers.Load() {
		s.close("the camera's codec changed to " + string(c))
	}
}
