package defs

import "time"

// EventType names what happened to a tracked object. The values are an API contract: they are
// the "type" of /api/events, /ws?events=1 and MQTT event messages.
type EventType string

const (
	EventObjectAppeared EventType = "object_appeared" // a new confirmed track
	EventObjectLost     EventType = "object_lost"     // a track not seen for max_age frames
	EventZoneEntered    EventType = "zone_entered"
	EventZoneLeft       EventType = "zone_left"
	EventLineCrossed    EventType = "line_crossed"
)

// Event is one thing that happened to a tracked object in one camera.
type Event struct {
	// ID numbers the events of one process in order of creation (1, 2, ...).
	ID      uint64    `json:"id"`
	Type    EventType `json:"type"`
	Camera  string    `json:"camera"`
	TrackID uint64    `json:"track_id"`
	Label   string    `json:"label"`
	// Zone is set on zone events, Line on line_crossed.
	Zone string `json:"zone,omitempty"`
	Line string `json:"line,omitempty"`
	// Direction is the line side crossed to on line_crossed: the line's configured direction
	// name, or "left"/"right" of the line seen from its first point to its second.
	Direction string    `json:"direction,omitempty"`
	Time      time.Time `json:"ts"`    // when the frame was analysed
	Frame     uint64    `json:"frame"` // index of the frame in the camera's stream
	// Box is the object's box in that frame, in source-frame pixels (x1, y1, x2, y2).
	Box [4]float32 `json:"box"`
	// Snapshot is the path (relative to the server) of the JPEG of that moment.
	Snapshot string `json:"snapshot,omitempty"`
	// Occupancy is, on zone events, the zone's object count per label after the event.
	Occupancy map[string]int `json:"occupancy,omitempty"`
}
