package groundtruth

import (
	"fmt"
	"strings"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/zones"
)

// EventsZones and EventsLines are the zone and the line simulate.EventsScript's blocks cross,
// as a camera's config gives them.
func EventsZones() []config.Zone {
	return []config.Zone{{Name: "yard", Polygon: [][]float64{{0.65, 0.15}, {0.95, 0.15}, {0.95, 0.55}, {0.65, 0.55}}}}
}

// EventsLines: see EventsZones. Crossing to the right of the screen is "in".
func EventsLines() []config.Line {
	return []config.Line{{Name: "door", Points: [][]float64{{0.5, 0.02}, {0.5, 0.98}}, Directions: []string{"in", "out"}}}
}

// ExpectedEvents returns the events of the first loop of a scripted scene as an ideal tracker
// makes them: each block detected exactly in every frame, confirmed (object_appeared) at its
// minHits-th frame, lost maxAge frames after its last one; zone and line events from the
// zones engine fed the true boxes. TrackID is the block's ID (simulate.Object.ID).
func ExpectedEvents(scene *simulate.Scene, zs []config.Zone, ls []config.Line, minHits, maxAge int) []defs.Event {
	var ezs []zones.Zone
	for _, z := range zs {
		ezs = append(ezs, z.Engine())
	}
	var els []zones.Line
	for _, l := range ls {
		els = append(els, l.Engine())
	}
	eng := zones.New(ezs, els)
	type ideal struct {
		first, last int
		label       string
		box         [4]float32
		confirmed   bool
	}
	tracks := map[int]*ideal{}
	var evs []defs.Event
	frames := scene.Script.Frames
	for n := 0; n < frames+maxAge+2; n++ {
		f := zones.Frame{Camera: "", Index: uint64(n), Width: scene.Width, Height: scene.Height}
		var objs, gone []zones.Object
		if n < frames {
			for _, o := range scene.Objects(n) {
				t := tracks[o.ID]
				if t == nil {
					t = &ideal{first: n, label: simulate.Classes[o.ClassID]}
					tracks[o.ID] = t
				}
				t.last = n
				t.box = [4]float32{float32(o.Box[0]), float32(o.Box[1]), float32(o.Box[2]), float32(o.Box[3])}
				if !t.confirmed && n-t.first+1 >= minHits {
					t.confirmed = true
					evs = append(evs, defs.Event{Type: defs.EventObjectAppeared, TrackID: uint64(o.ID), Label: t.label, Frame: uint64(n), Box: t.box})
				}
				if t.confirmed {
					objs = append(objs, zones.Object{TrackID: uint64(o.ID), Label: t.label, Box: t.box})
				}
			}
		}
		evs = eng.Update(f, objs, nil, evs)
		for id := 1; id <= len(scene.Script.Blocks); id++ {
			t := tracks[id]
			if t != nil && t.confirmed && n-t.last == maxAge+1 {
				gone = append(gone[:0], zones.Object{TrackID: uint64(id), Label: t.label, Box: t.box})
				evs = eng.Update(f, nil, gone, evs)
				evs = append(evs, defs.Event{Type: defs.EventObjectLost, TrackID: uint64(id), Label: t.label, Frame: uint64(n), Box: t.box})
				delete(tracks, id)
			}
		}
	}
	return evs
}

// EventKey is what CompareEvents compares of an event besides its track.
func EventKey(e defs.Event) string {
	s := string(e.Type) + " " + e.Label
	if e.Zone != "" {
		s += " zone=" + e.Zone
	}
	if e.Line != "" {
		s += " line=" + e.Line + " " + e.Direction
	}
	return s
}

// CompareEvents checks that got are want in count, type, label, zone, line, direction and
// order, and that their track IDs map one to one onto want's (one ID per block).
func CompareEvents(got, want []defs.Event) error {
	var problems []string
	toGot, toWant := map[uint64]uint64{}, map[uint64]uint64{}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			problems = append(problems, fmt.Sprintf("event %d missing: want %s (block %d, frame %d)", i, EventKey(want[i]), want[i].TrackID, want[i].Frame))
			continue
		case i >= len(want):
			problems = append(problems, fmt.Sprintf("event %d extra: got %s (track %d, frame %d)", i, EventKey(got[i]), got[i].TrackID, got[i].Frame))
			continue
		}
		g, w := got[i], want[i]
		if EventKey(g) != EventKey(w) {
			problems = append(problems, fmt.Sprintf("event %d: got %s (track %d, frame %d), want %s (block %d, frame %d)",
				i, EventKey(g), g.TrackID, g.Frame, EventKey(w), w.TrackID, w.Frame))
			continue
		}
		if id, ok := toGot[w.TrackID]; ok && id != g.TrackID {
			problems = append(problems, fmt.Sprintf("event %d (%s): block %d has track %d, earlier %d", i, EventKey(g), w.TrackID, g.TrackID, id))
		}
		if id, ok := toWant[g.TrackID]; ok && id != w.TrackID {
			problems = append(problems, fmt.Sprintf("event %d (%s): track %d is block %d, earlier block %d", i, EventKey(g), g.TrackID, w.TrackID, id))
		}
		toGot[w.TrackID], toWant[g.TrackID] = g.TrackID, w.TrackID
	}
	if len(problems) > 0 {
		return fmt.Errorf("events differ from the ground truth:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

// IDErrors counts, over frames of tracked results, the confirmed objects matched to a block
// (same class, IoU >= 0.5) whose track ID is not the one that block has most often (ID
// switches and fragments), and the matched confirmed objects in all. truth gives each
// result's ground truth.
func IDErrors(dets [][]defs.Detection, truth [][]simulate.Object) (errs, total int) {
	counts := map[int]map[uint64]int{}
	type match struct {
		block int
		id    uint64
	}
	var matches []match
	for i := range dets {
		used := make([]bool, len(dets[i]))
		for _, o := range truth[i] {
			gt := [4]float32{float32(o.Box[0]), float32(o.Box[1]), float32(o.Box[2]), float32(o.Box[3])}
			for j, d := range dets[i] {
				if used[j] || d.ClassID != o.ClassID || defs.IoU(d.Box, gt) < 0.5 {
					continue
				}
				used[j] = true
				if d.TrackID == 0 {
					break // not confirmed yet: no ID to judge
				}
				if counts[o.ID] == nil {
					counts[o.ID] = map[uint64]int{}
				}
				counts[o.ID][d.TrackID]++
				matches = append(matches, match{o.ID, d.TrackID})
				break
			}
		}
	}
	major := map[int]uint64{}
	for b, m := range counts {
		best := -1
		for id, n := range m {
			if id != 0 && n > best {
				best, major[b] = n, id
			}
		}
	}
	for _, m := range matches {
		total++
		if m.id != major[m.block] {
			errs++
		}
	}
	return errs, total
}
