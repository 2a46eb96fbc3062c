package zones_test

import (
	"math"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/zones"
)

// BenchmarkZones20 is the zones' cost per frame with 20 tracked objects, 4 zones (one of 8
// points) and 2 lines, in a 1920×1080 picture; objects cross zones and lines all the time.
func BenchmarkZones20(b *testing.B) {
	zs := []zones.Zone{
		{Name: "a", Polygon: pts(0.1, 0.1, 0.4, 0.1, 0.4, 0.4, 0.1, 0.4)},
		{Name: "b", Polygon: pts(0.6, 0.1, 0.9, 0.1, 0.9, 0.4, 0.6, 0.4), Classes: []string{"car"}},
		{Name: "c", Polygon: pts(0.1, 0.6, 0.4, 0.6, 0.4, 0.9, 0.1, 0.9)},
		{Name: "d", Polygon: pts(0.5, 0.5, 0.7, 0.45, 0.9, 0.5, 0.95, 0.7, 0.9, 0.9, 0.7, 0.95, 0.5, 0.9, 0.45, 0.7)},
	}
	ls := []zones.Line{
		{Name: "v", A: zones.Point{X: 0.5, Y: 0}, B: zones.Point{X: 0.5, Y: 1}},
		{Name: "h", A: zones.Point{X: 0, Y: 0.5}, B: zones.Point{X: 1, Y: 0.5}},
	}
	e := zones.New(zs, ls)
	objs := make([]zones.Object, 20)
	labels := []string{"person", "car", "dog"}
	evs := make([]defs.Event, 0, 64)
	b.ReportAllocs()
	f := 0
	for b.Loop() {
		for i := range objs {
			a := float64(f)*0.02 + float64(i)*0.7
			cx := 960 + float32(700*math.Cos(a+float64(i)))
			cy := 540 + float32(400*math.Sin(a))
			objs[i] = zones.Object{TrackID: uint64(i + 1), Label: labels[i%3], Box: [4]float32{cx - 30, cy - 60, cx + 30, cy + 60}}
		}
		evs = e.Update(zones.Frame{Camera: "c", Index: uint64(f), Width: 1920, Height: 1080}, objs, nil, evs[:0])
		f++
	}
}
