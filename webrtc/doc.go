// Package webrtc sends each camera's annotated video to browsers over WebRTC, negotiated with
// WHEP (draft-ietf-wish-whep).
//
// One [Broadcaster] per camera takes the H.264 access units of the camera's single encoder
// ([Broadcaster.WriteAccessUnit]) and fans them out to any number of viewers, each a pion
// PeerConnection with its own track, so that every viewer starts at an IDR and a slow one only
// hurts itself. The broadcaster tells the camera's pipeline when to encode
// ([Broadcaster.OnViewersChanged]: 0 means nobody watches, unlink the branch) and when to make
// a keyframe ([Broadcaster.OnKeyframeRequest]: a viewer joined, sent PLI or FIR, or lost
// frames; coalesced).
//
// Each camera has two views, each its own broadcaster: the annotated one above
// ([Manager.Broadcaster]) and the passthrough one ([Manager.Passthrough]), which takes the
// camera's own access units as received (no decode, no encode). A camera cannot be asked for a
// keyframe, so the passthrough broadcaster keeps the access units since the last IDR (bounded:
// MaxGOPUnits, MaxGOPBytes) and sends them first, paced, to a joining viewer. It falls back to
// the annotated view when the stream has B-frames, which WebRTC cannot carry
// ([Broadcaster.Fallback]); passthrough viewers never count as viewers of the annotated
// broadcaster, so they never start the encoder. A WHEP session may also carry a "detections"
// data channel: each analysed frame's JSON plus rtp_ts, the RTP timestamp of that frame in this
// session's video ([Broadcaster.RTPTimestamp] plus the session's own offset).
//
// [Manager.Handler] is the WHEP endpoint: POST an SDP offer to /whep/{camera}, get the answer
// (with all of the server's ICE candidates) with the session's URL in Location, PATCH that URL
// with trickled candidates if the offer went out before gathering ended, DELETE it to leave.
// Sessions whose connection fails, or that never connect, are closed and removed.
//
// Wiring, in short:
//
//	m, err := webrtc.NewManager(webrtc.Options{ICEServers: ..., Logger: log})
//	h := m.Handler(func(id string) bool { _, ok := cams.Get(id); return ok })
//	srv.Handle("POST /whep/{camera}", h, false)
//	srv.Handle("DELETE /whep/{camera}/{session}", h, false)
//	srv.Handle("PATCH /whep/{camera}/{session}", h, false)
//	srv.Handle("OPTIONS /whep/{camera}", h, false)
//
//	b := m.Broadcaster("cam1")
//	b.OnViewersChanged(func(n int) { if n > 0 { link() } else { unlink() } })
//	b.OnKeyframeRequest(func() { forceKeyUnit() })
//	// from the encoder's appsink: b.WriteAccessUnit(au, pts)
package webrtc
