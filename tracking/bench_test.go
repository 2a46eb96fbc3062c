package tracking_test

import (
	"math"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/tracking"
)

// movingObjects fills dets with n objects of 3 classes moving on circles in a 1920×1080 picture.
func movingObjects(dets []defs.Detection, f int) {
	for i := range dets {
		a := float64(f)*0.02 + float64(i)*0.7
		cx := 960 + float32(700*math.Cos(a+float64(i)))
		cy := 540 + float32(400*math.Sin(a))
		dets[i] = defs.Detection{ClassID: i % 3, Label: "x", Score: 0.6 + float32(i%4)*0.1,
			Box: [4]float32{cx - 30, cy - 60, cx + 30, cy + 60}}
	}
}

// BenchmarkTracker20 is the tracker's cost per frame with 20 objects.
func BenchmarkTracker20(b *testing.B) { benchTracker(b, 20) }

// BenchmarkTracker300 is the tracker's cost per frame with 300 objects: the most a detector
// returns (an untrained model's random boxes reach it).
func BenchmarkTracker300(b *testing.B) { benchTracker(b, 300) }

func benchTracker(b *testing.B, objects int) {
	tr := tracking.New(tracking.Config{})
	dets := make([]defs.Detection, objects)
	b.ReportAllocs()
	f := 0
	for b.Loop() {
		movingObjects(dets, f)
		if _, err := tr.Update(uint64(f), dets); err != nil {
			b.Fatal(err)
		}
		f++
	}
}
