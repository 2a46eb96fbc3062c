// Package results fans detections out to their consumers (WebSocket clients, snapshots,
// metrics) without ever blocking a pipeline.
package results

import (
	"time"

	"github.com/gstvision/gstvision/defs"
)

// Result is what one processed frame produced; it is sent to WebSocket clients as JSON.
type Result struct {
	Camera     string           `json:"camera"`
	Frame      uint64           `json:"frame"` // index of the decoded frame in this camera's stream
	PTS        time.Duration    `json:"pts"`   // presentation timestamp, ns
	Time       time.Time        `json:"ts"`    // when the detections were ready (RFC 3339, ns)
	Width      int              `json:"width"`
	Height     int              `json:"height"`
	Detections []defs.Detection `json:"detections"`
}
