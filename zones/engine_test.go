package zones_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/zones"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// obj places a 20×20 box whose ground point is (x, y) normalised in a 1000×1000 picture.
func obj(id uint64, label string, x, y float64) zones.Object {
	px, py := float32(x*1000), float32(y*1000)
	return zones.Object{TrackID: id, Label: label, Box: [4]float32{px - 10, py - 20, px + 10, py}}
}

func frame(n int) zones.Frame {
	return zones.Frame{Camera: "c", Index: uint64(n), Time: t0.Add(time.Duration(n) * 100 * time.Millisecond), Width: 1000, Height: 1000}
}

func summary(evs []defs.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s#%d%s%s%s %v;", e.Type, e.TrackID, e.Zone, e.Line, e.Direction, e.Occupancy)
	}
	return b.String()
}

func TestEngineZoneAndLine(t *testing.T) {
	e := zones.New(
		[]zones.Zone{{Name: "z", Polygon: pts(0.4, 0.4, 0.6, 0.4, 0.6, 0.6, 0.4, 0.6), Classes: []string{"person"}}},
		[]zones.Line{{Name: "l", A: zones.Point{X: 0.5, Y: 0}, B: zones.Point{X: 0.5, Y: 1}, Directions: [2]string{"in", "out"}}},
	)
	var evs []defs.Event
	// person 1 walks right through the zone and the line, then back left out of the zone
	xs := []float64{0.3, 0.45, 0.55, 0.65, 0.55, 0.45, 0.3}
	for i, x := range xs {
		evs = e.Update(frame(i), []zones.Object{obj(1, "person", x, 0.5), obj(2, "car", x, 0.5)}, nil, evs)
	}
	// A→B points down the screen: its left is +x (east); "in" is the crossing towards it.
	want := "zone_entered#1z map[person:1];" +
		"line_crossed#1lin map[];line_crossed#2lin map[];" +
		"zone_left#1z map[];" +
		"zone_entered#1z map[person:1];" +
		"line_crossed#1lout map[];line_crossed#2lout map[];" +
		"zone_left#1z map[];"
	if got := summary(evs); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
}

// A lost track leaves its zones; min_dwell delays zone_entered and a short visit makes none.
func TestEngineDwellAndLoss(t *testing.T) {
	e := zones.New([]zones.Zone{{Name: "z", Polygon: pts(0, 0, 0.5, 0, 0.5, 1, 0, 1), MinDwell: 250 * time.Millisecond}}, nil)
	var evs []defs.Event
	evs = e.Update(frame(0), []zones.Object{obj(1, "a", 0.2, 0.5), obj(2, "a", 0.2, 0.5)}, nil, evs)
	evs = e.Update(frame(1), []zones.Object{obj(1, "a", 0.2, 0.5), obj(2, "a", 0.7, 0.5)}, nil, evs)
	evs = e.Update(frame(2), []zones.Object{obj(1, "a", 0.2, 0.5)}, nil, evs)
	if len(evs) != 0 {
		t.Fatalf("events before the dwell: %s", summary(evs))
	}
	evs = e.Update(frame(3), []zones.Object{obj(1, "a", 0.2, 0.5)}, nil, evs)
	if occ := e.Occupancy(); occ["z"]["a"] != 1 {
		t.Fatalf("occupancy %v", occ)
	}
	evs = e.Update(frame(9), nil, []zones.Object{obj(1, "a", 0.2, 0.5)}, evs)
	if got, want := summary(evs), "zone_entered#1z map[a:1];zone_left#1z map[];"; got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	if evs[0].Frame != 3 || !evs[0].Time.Equal(t0.Add(300*time.Millisecond)) || evs[0].Camera != "c" {
		t.Fatalf("event %+v", evs[0])
	}
}

// A point jittering on the line makes no crossing; one that goes around the segment's end
// crosses nothing either.
func TestEngineLineEdgeCases(t *testing.T) {
	e := zones.New(nil, []zones.Line{{Name: "l", A: zones.Point{X: 0.5, Y: 0.4}, B: zones.Point{X: 0.5, Y: 0.6}}})
	var evs []defs.Event
	for i, x := range []float64{0.4, 0.5, 0.4, 0.5, 0.4} {
		evs = e.Update(frame(i), []zones.Object{obj(1, "a", x, 0.5)}, nil, evs)
	}
	for i, p := range [][2]float64{{0.4, 0.3}, {0.6, 0.3}, {0.6, 0.5}} { // above the segment's end
		evs = e.Update(frame(10+i), []zones.Object{obj(2, "a", p[0], p[1])}, nil, evs)
	}
	if len(evs) != 0 {
		t.Fatalf("events: %s", summary(evs))
	}
	evs = e.Update(frame(20), []zones.Object{obj(2, "a", 0.4, 0.5)}, nil, evs)
	if got := summary(evs); got != "line_crossed#2lright map[];" {
		t.Fatalf("events: %s", got)
	}
}
