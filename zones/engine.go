package zones

import (
	"maps"
	"slices"
	"time"

	"github.com/gstvision/gstvision/defs"
)

// Zone is a polygon objects enter and leave.
type Zone struct {
	Name    string
	Polygon []Point
	// Classes limits the zone to these labels; empty means every label.
	Classes []string
	// MinDwell is how long an object must stay inside before it counts as entered.
	MinDwell time.Duration
}

// Line is a segment objects cross.
type Line struct {
	Name string
	A, B Point
	// Classes limits the line to these labels; empty means every label.
	Classes []string
	// Directions name the crossings: [0] towards the left of A→B (as seen on the screen),
	// [1] towards its right. Empty names default to "left" and "right".
	Directions [2]string
}

// Object is one tracked object in a frame.
type Object struct {
	TrackID uint64
	Label   string
	Box     [4]float32 // x1, y1, x2, y2 in pixels
}

// Frame places an update: the camera, the frame's index and time, and the picture size the
// boxes are in.
type Frame struct {
	Camera        string
	Index         uint64
	Time          time.Time
	Width, Height int
}

// objState is what the engine remembers of one track.
type objState struct {
	label     string
	seen      uint64      // last update's frame
	inside    []bool      // per zone: the ground point is inside
	since     []time.Time // per zone: since when inside
	entered   []bool      // per zone: zone_entered was sent
	side      []int8      // per line: the last non-zero side (-1 left, 1 right, 0 unknown)
	sidePoint []Point     // per line: where the ground point was on that side
}

// Engine follows one camera's tracks through its zones and lines. Not safe for concurrent
// use.
type Engine struct {
	zones []Zone
	lines []Line
	objs  map[uint64]*objState
	free  []*objState
	occ   []map[string]int // per zone: entered objects per label
}

// New returns an engine for the given zones and lines (copied).
func New(zones []Zone, lines []Line) *Engine {
	e := &Engine{zones: slices.Clone(zones), lines: slices.Clone(lines), objs: map[uint64]*objState{}}
	for i := range e.lines {
		if e.lines[i].Directions[0] == "" {
			e.lines[i].Directions[0] = "left"
		}
		if e.lines[i].Directions[1] == "" {
			e.lines[i].Directions[1] = "right"
		}
	}
	e.occ = make([]map[string]int, len(zones))
	for i := range e.occ {
		e.occ[i] = map[string]int{}
	}
	return e
}

// Empty reports whether the engine has neither zones nor lines.
func (e *Engine) Empty() bool { return len(e.zones) == 0 && len(e.lines) == 0 }

// GroundPoint is the reference point of a box in a w×h picture, normalised: its bottom centre.
func GroundPoint(box [4]float32, w, h int) Point {
	return Point{X: float64(box[0]+box[2]) / 2 / float64(max(w, 1)), Y: float64(box[3]) / float64(max(h, 1))}
}

func applies(classes []string, label string) bool {
	return len(classes) == 0 || slices.Contains(classes, label)
}

// Update follows objs (the tracks matched in frame f) through the zones and lines, and gone
// (the tracks lost in f: they leave every zone they were in), and appends the events to evs.
// Events leave Camera, TrackID, Label, Time, Frame and Box set; ID and Snapshot are the
// store's.
func (e *Engine) Update(f Frame, objs, gone []Object, evs []defs.Event) []defs.Event {
	if e.Empty() {
		return evs
	}
	for i := range objs {
		evs = e.move(f, &objs[i], evs)
	}
	for i := range gone {
		evs = e.remove(f, &gone[i], evs)
	}
	return evs
}

func (e *Engine) state(o *Object) *objState {
	if s := e.objs[o.TrackID]; s != nil {
		return s
	}
	var s *objState
	if n := len(e.free); n > 0 {
		s = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		s = &objState{
			inside: make([]bool, len(e.zones)), since: make([]time.Time, len(e.zones)),
			entered: make([]bool, len(e.zones)), side: make([]int8, len(e.lines)), sidePoint: make([]Point, len(e.lines)),
		}
	}
	clear(s.inside)
	clear(s.since)
	clear(s.entered)
	clear(s.side)
	s.label = o.Label
	e.objs[o.TrackID] = s
	return s
}

func (e *Engine) event(t defs.EventType, f Frame, o *Object) defs.Event {
	return defs.Event{Type: t, Camera: f.Camera, TrackID: o.TrackID, Label: o.Label, Time: f.Time, Frame: f.Index, Box: o.Box}
}

func (e *Engine) move(f Frame, o *Object, evs []defs.Event) []defs.Event {
	s := e.state(o)
	s.seen = f.Index
	p := GroundPoint(o.Box, f.Width, f.Height)
	for i := range e.zones {
		z := &e.zones[i]
		if !applies(z.Classes, o.Label) {
			continue
		}
		in := Contains(z.Polygon, p)
		switch {
		case in && !s.inside[i]:
			s.inside[i], s.since[i] = true, f.Time
		case !in && s.inside[i]:
			s.inside[i] = false
			if s.entered[i] {
				evs = e.leave(i, s, f, o, evs)
			}
		}
		if in && !s.entered[i] && f.Time.Sub(s.since[i]) >= z.MinDwell {
			s.entered[i] = true
			e.occ[i][o.Label]++
			ev := e.event(defs.EventZoneEntered, f, o)
			ev.Zone, ev.Occupancy = z.Name, maps.Clone(e.occ[i])
			evs = append(evs, ev)
		}
	}
	for i := range e.lines {
		l := &e.lines[i]
		if !applies(l.Classes, o.Label) {
			continue
		}
		side := sign(cross(l.A, l.B, p))
		if side == 0 {
			continue // on the line: wait until it is clearly past
		}
		if prev := s.side[i]; prev != 0 && prev != side && SegmentsIntersect(s.sidePoint[i], p, l.A, l.B) {
			ev := e.event(defs.EventLineCrossed, f, o)
			ev.Line = l.Name
			if side < 0 {
				ev.Direction = l.Directions[0]
			} else {
				ev.Direction = l.Directions[1]
			}
			evs = append(evs, ev)
		}
		s.side[i], s.sidePoint[i] = side, p
	}
	return evs
}

func (e *Engine) leave(i int, s *objState, f Frame, o *Object, evs []defs.Event) []defs.Event {
	s.entered[i] = false
	if e.occ[i][o.Label]--; e.occ[i][o.Label] <= 0 {
		delete(e.occ[i], o.Label)
	}
	ev := e.event(defs.EventZoneLeft, f, o)
	ev.Zone, ev.Occupancy = e.zones[i].Name, maps.Clone(e.occ[i])
	return append(evs, ev)
}

func (e *Engine) remove(f Frame, o *Object, evs []defs.Event) []defs.Event {
	s := e.objs[o.TrackID]
	if s == nil {
		return evs
	}
	for i := range e.zones {
		if s.entered[i] {
			evs = e.leave(i, s, f, o, evs)
		}
	}
	delete(e.objs, o.TrackID)
	e.free = append(e.free, s)
	return evs
}

// Occupancy returns each zone's count of entered objects per label (a copy; zones with none
// map to an empty map).
func (e *Engine) Occupancy() map[string]map[string]int {
	out := make(map[string]map[string]int, len(e.zones))
	for i, z := range e.zones {
		out[z.Name] = maps.Clone(e.occ[i])
	}
	return out
}
