package defs

import "time"

// State is where a camera is in its life.
type State string

const (
	StateStarting     State = "starting"
	StateRunning      State = "running"
	StateReconnecting State = "reconnecting"
	StateFailed       State = "failed"
	StateDisabled     State = "disabled"
	// StateUnauthorized: the camera refused the credentials several times in a row; it is
	// retried only every camera.Backoff.AuthWait (cameras lock accounts out) until it is edited.
	StateUnauthorized State = "unauthorized"
)

// Status is a point-in-time view of one camera, safe to show to users: URL credentials are
// redacted.
type Status struct {
	ID         string  `json:"id"`
	URL        string  `json:"url"` // redacted
	State      State   `json:"state"`
	FPS        float64 `json:"fps"`
	Frames     uint64  `json:"frames"`     // frames decoded since start
	Inferred   uint64  `json:"inferred"`   // frames that reached the detector
	Dropped    uint64  `json:"dropped"`    // frames dropped before the detector
	Reconnects uint64  `json:"reconnects"` // pipeline rebuilds after a fault
	// DropRate is the fraction of decoded frames dropped before the detector over the last
	// complete drop window (camera.DropWindow); omitted while 0 (inference keeps up).
	DropRate float64 `json:"drop_rate,omitempty"`
	// LastError is the latest fault, kept once the camera runs again; LastErrorAt says when.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Since       time.Time `json:"since"` // when State was entered
	Width       int       `json:"width,omitempty"`
	Height      int       `json:"height,omitempty"`
	Codec       string    `json:"codec,omitempty"`
	// GPU is the CUDA device that decodes and analyses the camera (device cuda only).
	GPU *int `json:"gpu,omitempty"`
	// View is the video a passthrough WHEP request for this camera gets now: "passthrough"
	// or "annotated"; ViewReason says why annotated (B-frames, or the configured default), or,
	// for an H.265 camera, that the view depends on the browser. Both are omitted where the
	// server has no WebRTC.
	View       string `json:"view,omitempty"`
	ViewReason string `json:"view_reason,omitempty"`
}
