// Package camera owns one camera's life: its state machine, reconnect backoff and counters.
package camera

import "time"

// State is where a camera is in its life.
type State string

const (
	StateStarting     State = "starting"
	StateRunning      State = "running"
	StateReconnecting State = "reconnecting"
	StateFailed       State = "failed"
	StateDisabled     State = "disabled"
)

// Status is a point-in-time view of one camera, safe to show to users: URL credentials are
// redacted.
type Status struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"` // redacted
	State      State     `json:"state"`
	FPS        float64   `json:"fps"`
	Frames     uint64    `json:"frames"`     // frames decoded since start
	Inferred   uint64    `json:"inferred"`   // frames that reached the detector
	Dropped    uint64    `json:"dropped"`    // frames dropped before the detector
	Reconnects uint64    `json:"reconnects"` // pipeline rebuilds after a fault
	LastError  string    `json:"last_error,omitempty"`
	Since      time.Time `json:"since"` // when State was entered
	Width      int       `json:"width,omitempty"`
	Height     int       `json:"height,omitempty"`
	Codec      string    `json:"codec,omitempty"`
}
