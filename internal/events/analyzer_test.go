package events_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/zones"
)

func square(name string, x1, y1, x2, y2 float64) zones.Zone {
	return zones.Zone{Name: name, Polygon: []zones.Point{{X: x1, Y: y1}, {X: x2, Y: y1}, {X: x2, Y: y2}, {X: x1, Y: y2}}}
}

// A frame finished out of order gets IDs but makes no events, and moves nothing back.
func TestAnalyzerOutOfOrder(t *testing.T) {
	a := events.NewAnalyzer(events.AnalyzerConfig{Lines: []zones.Line{{Name: "l", A: zones.Point{X: 0.5, Y: 0}, B: zones.Point{X: 0.5, Y: 1}}}})
	res := func(n int, x float32) results.Result {
		return results.Result{Camera: "c", Frame: uint64(n), Time: t0, Width: 100, Height: 100,
			Detections: []defs.Detection{{Label: "p", Score: 0.9, Box: [4]float32{x, 40, x + 10, 50}}}}
	}
	var got []defs.Event
	for n := range 10 {
		r := res(n, float32(20+n))
		a.Process(&r, func(evs []defs.Event) { got = append(got, evs...) })
	}
	if len(got) != 1 || got[0].Type != defs.EventObjectAppeared {
		t.Fatalf("events %+v", got)
	}
	r := res(5, 25)
	var stale []defs.Event
	a.Process(&r, func(evs []defs.Event) { stale = append(stale, evs...) })
	if len(stale) != 0 || r.Detections[0].TrackID != 1 {
		t.Fatalf("stale frame: events %+v, ID %d", stale, r.Detections[0].TrackID)
	}
	for n := 10; n < 60; n++ {
		r := res(n, float32(20+n))
		a.Process(&r, func(evs []defs.Event) { got = append(got, evs...) })
	}
	if len(got) != 2 || got[1].Type != defs.EventLineCrossed || got[1].Direction != "left" || got[1].TrackID != 1 {
		t.Fatalf("events %+v", got)
	}
}

// BenchmarkAnalyzer20 is the cost per frame of tracking and zones together (what a camera's
// results pay between the stage and the hub) with 20 objects, 4 zones and 2 lines.
func BenchmarkAnalyzer20(b *testing.B) {
	a := events.NewAnalyzer(events.AnalyzerConfig{
		Zones: []zones.Zone{square("a", 0.1, 0.1, 0.4, 0.4), square("b", 0.6, 0.1, 0.9, 0.4), square("c", 0.1, 0.6, 0.4, 0.9), square("d", 0.6, 0.6, 0.9, 0.9)},
		Lines: []zones.Line{{Name: "v", A: zones.Point{X: 0.5, Y: 0}, B: zones.Point{X: 0.5, Y: 1}}, {Name: "h", A: zones.Point{X: 0, Y: 0.5}, B: zones.Point{X: 1, Y: 0.5}}},
	})
	dets := make([]defs.Detection, 20)
	labels := []string{"person", "car", "dog"}
	b.ReportAllocs()
	f := 0
	for b.Loop() {
		for i := range dets {
			ang := float64(f)*0.02 + float64(i)*0.7
			cx := 960 + float32(700*math.Cos(ang+float64(i)))
			cy := 540 + float32(400*math.Sin(ang))
			dets[i] = defs.Detection{ClassID: i % 3, Label: labels[i%3], Score: 0.9, Box: [4]float32{cx - 30, cy - 60, cx + 30, cy + 60}}
		}
		r := results.Result{Camera: "c", Frame: uint64(f), Time: t0.Add(time.Duration(f) * time.Second / 30), Width: 1920, Height: 1080, Detections: dets}
		a.Process(&r, func([]defs.Event) {})
		f++
	}
}

// A camera re-added through the API numbers its frames from 0 again: its old tracks are lost
// (zone_left first), and the new stream is tracked from scratch.
func TestAnalyzerStreamRestart(t *testing.T) {
	a := events.NewAnalyzer(events.AnalyzerConfig{Zones: []zones.Zone{square("all", 0, 0, 1, 1)}})
	res := func(n int) results.Result {
		return results.Result{Camera: "c", Frame: uint64(n), Time: t0, Width: 100, Height: 100,
			Detections: []defs.Detection{{Label: "p", Score: 0.9, Box: [4]float32{20, 40, 30, 50}}}}
	}
	var got []defs.EventType
	for _, n := range []int{1000, 1001, 1002, 1003, 0, 1, 2, 3} {
		r := res(n)
		a.Process(&r, func(evs []defs.Event) {
			for _, e := range evs {
				got = append(got, e.Type)
			}
		})
	}
	want := []defs.EventType{defs.EventObjectAppeared, defs.EventZoneEntered, defs.EventZoneLeft, defs.EventObjectLost,
		defs.EventObjectAppeared, defs.EventZoneEntered}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
