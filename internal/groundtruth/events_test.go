package groundtruth_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/tracking"
	"github.com/gstvision/gstvision/zones"
)

func eventsScene() *simulate.Scene {
	sc := simulate.NewScene(640, 360, 30, 0)
	sc.Script = simulate.EventsScript()
	return sc
}

func analyzer() *events.Analyzer {
	var zs []zones.Zone
	for _, z := range groundtruth.EventsZones() {
		zs = append(zs, z.Engine())
	}
	var ls []zones.Line
	for _, l := range groundtruth.EventsLines() {
		ls = append(ls, l.Engine())
	}
	return events.NewAnalyzer(events.AnalyzerConfig{Zones: zs, Lines: ls})
}

// The expected events of the scripted scene are what the script says, in this order.
func TestExpectedEvents(t *testing.T) {
	want := []string{
		"object_appeared red block", "object_appeared green block", "object_appeared green block",
		"line_crossed red block line=door in", "zone_entered red block zone=yard",
		"line_crossed green block line=door out", "line_crossed green block line=door in",
		"object_lost green block", "zone_left red block zone=yard", "line_crossed red block line=door out",
		"object_lost green block", "object_lost red block",
		"object_appeared blue block", "zone_entered blue block zone=yard", "zone_left blue block zone=yard", "object_lost blue block",
	}
	evs := groundtruth.ExpectedEvents(eventsScene(), groundtruth.EventsZones(), groundtruth.EventsLines(), tracking.DefaultMinHits, tracking.DefaultMaxAge)
	var got []string
	for _, e := range evs {
		got = append(got, groundtruth.EventKey(e))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("expected events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Events of different blocks are far enough apart for their order to be certain.
	for i := 1; i < len(evs); i++ {
		if evs[i].TrackID != evs[i-1].TrackID && evs[i].Frame-evs[i-1].Frame < 9 {
			t.Errorf("events %d and %d of different blocks %d frames apart", i-1, i, evs[i].Frame-evs[i-1].Frame)
		}
	}
}

// noisy returns the detector-like view of the truth: boxes off by a pixel or two, 5 % of the
// blocks missed (never more than 3 frames running), a spurious box now and then, and the
// score of a block sometimes low (the low-score stage keeps it).
type noisy struct {
	rng    *rand.Rand
	missed map[int]int
}

func (nz *noisy) detections(truth []simulate.Object) []defs.Detection {
	var dets []defs.Detection
	for _, o := range truth {
		if nz.rng.Float64() < 0.05 && nz.missed[o.ID] < 3 {
			nz.missed[o.ID]++
			continue
		}
		nz.missed[o.ID] = 0
		score := float32(0.7 + 0.3*nz.rng.Float64())
		if nz.rng.Float64() < 0.05 {
			score = 0.3
		}
		var b [4]float32
		for k := range b {
			b[k] = float32(o.Box[k] + nz.rng.NormFloat64()*1.5)
		}
		dets = append(dets, defs.Detection{ClassID: o.ClassID, Label: simulate.Classes[o.ClassID], Score: score, Box: b})
	}
	if nz.rng.Float64() < 0.02 {
		x, y := float32(nz.rng.Float64()*560), float32(nz.rng.Float64()*300)
		c := nz.rng.IntN(3)
		dets = append(dets, defs.Detection{ClassID: c, Label: simulate.Classes[c], Score: 0.8, Box: [4]float32{x, y, x + 50, y + 40}})
	}
	return dets
}

// Tracking and zones fed the scripted ground truth, with noise, misses and spurious boxes,
// analysing every frame or every other one: one ID per block (ID switches and fragments on at
// most 1 % of the frames) and exactly the ground truth's events, in order.
func TestTrackingZonesOnScript(t *testing.T) {
	sc := eventsScene()
	want := groundtruth.ExpectedEvents(sc, groundtruth.EventsZones(), groundtruth.EventsLines(), tracking.DefaultMinHits, tracking.DefaultMaxAge)
	for _, everyN := range []int{1, 2} {
		for seed := range uint64(5) {
			a := analyzer()
			nz := &noisy{rng: rand.New(rand.NewPCG(seed, 7)), missed: map[int]int{}}
			var got []defs.Event
			var dets [][]defs.Detection
			var truth [][]simulate.Object
			t0 := time.Unix(1e9, 0)
			for n := 0; n < sc.Script.Frames+60; n += everyN {
				var objs []simulate.Object
				if n < sc.Script.Frames {
					objs = sc.Objects(n)
				}
				r := results.Result{Camera: "c", Frame: uint64(n), Time: t0.Add(time.Duration(n) * time.Second / 30),
					Width: 640, Height: 360, Detections: nz.detections(objs)}
				a.Process(&r, func(evs []defs.Event) { got = append(got, evs...) })
				dets, truth = append(dets, r.Detections), append(truth, objs)
			}
			errs, total := groundtruth.IDErrors(dets, truth)
			if errs*100 > total {
				t.Errorf("every %d, seed %d: ID errors on %d of %d tracked objects", everyN, seed, errs, total)
			}
			if err := groundtruth.CompareEvents(got, want); err != nil {
				t.Errorf("every %d, seed %d: %v", everyN, seed, err)
			}
		}
	}
}

// The comparison fails on a wrong direction, a missing event, and two blocks under one ID.
func TestCompareEventsFails(t *testing.T) {
	want := groundtruth.ExpectedEvents(eventsScene(), groundtruth.EventsZones(), groundtruth.EventsLines(), 3, 30)
	got := append([]defs.Event(nil), want...)
	got[3].Direction = "out"
	if groundtruth.CompareEvents(got, want) == nil {
		t.Error("wrong direction passes")
	}
	if groundtruth.CompareEvents(want[1:], want) == nil {
		t.Error("missing event passes")
	}
	got = append([]defs.Event(nil), want...)
	for i := range got {
		if got[i].TrackID == 3 {
			got[i].TrackID = 2
		}
	}
	if groundtruth.CompareEvents(got, want) == nil {
		t.Error("one ID for two blocks passes")
	}
}
