package webrtc

import (
	"strconv"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// DetectionsLabel is the label of the data channel a WHEP client creates in its offer to get
// each analysed frame's detections beside the video (Options.Detections).
const DetectionsLabel = "detections"

// maxDetectionsBuffered is how much a detections channel may have queued unsent; past it,
// messages are dropped: a slow viewer never holds up the feed.
const maxDetectionsBuffered = 256 << 10

// onDataChannel accepts the client's "detections" channel and feeds it while the session
// lives. Other channels are left alone.
func (s *session) onDataChannel(dc *pion.DataChannel) {
	feed := s.b.m.opts.Detections
	if dc.Label() != DetectionsLabel || feed == nil {
		return
	}
	dc.OnOpen(func() {
		s.log.Debug("detections channel open")
		go feed(s.feedCtx, s.b.camera, func(pts time.Duration, json []byte) {
			s.sendDetections(dc, pts, json)
		})
	})
}

// sendDetections sends one frame's JSON with the RTP timestamp this session's video packets
// carry for that frame, when known.
func (s *session) sendDetections(dc *pion.DataChannel, pts time.Duration, json []byte) {
	if dc.ReadyState() != pion.DataChannelStateOpen || dc.BufferedAmount() > maxDetectionsBuffered {
		return
	}
	msg := json
	if ts, ok := s.b.RTPTimestamp(pts); ok {
		msg = withRTPTimestamp(json, ts+s.tsOffset)
	}
	if err := dc.Send(msg); err != nil {
		s.log.Debug("sending detections", "err", err)
	}
}

// withRTPTimestamp returns a copy of the JSON object obj with "rtp_ts":ts added as its last
// member. obj must be an object (end with '}').
func withRTPTimestamp(obj []byte, ts uint32) []byte {
	if len(obj) == 0 || obj[len(obj)-1] != '}' {
		return obj
	}
	out := make([]byte, 0, len(obj)+24)
	out = append(out, obj[:len(obj)-1]...)
	if len(obj) > 2 { // not {}
		out = append(out, ',')
	}
	out = append(out, `"rtp_ts":`...)
	out = strconv.AppendUint(out, uint64(ts), 10)
	return append(out, '}')
}
