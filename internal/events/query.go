package events

import (
	"time"

	"github.com/gstvision/gstvision/defs"
)

// Query selects kept events; zero fields select everything.
type Query struct {
	Camera  string
	Type    defs.EventType
	Label   string
	Zone    string
	Line    string
	SinceID uint64    // only events with a greater ID
	Since   time.Time // only events at or after this time
	// Limit keeps the newest Limit matches (0: DefaultLimit; at most the store's size).
	Limit int
}

// DefaultLimit is a query's default number of events.
const DefaultLimit = 100

func (q *Query) match(ev *defs.Event) bool {
	return (q.Camera == "" || ev.Camera == q.Camera) && (q.Type == "" || ev.Type == q.Type) &&
		(q.Label == "" || ev.Label == q.Label) && (q.Zone == "" || ev.Zone == q.Zone) &&
		(q.Line == "" || ev.Line == q.Line) && ev.ID > q.SinceID &&
		(q.Since.IsZero() || !ev.Time.Before(q.Since))
}

// Valid reports whether t is one of the event types.
func Valid(t defs.EventType) bool {
	switch t {
	case defs.EventObjectAppeared, defs.EventObjectLost, defs.EventZoneEntered, defs.EventZoneLeft, defs.EventLineCrossed:
		return true
	}
	return false
}
