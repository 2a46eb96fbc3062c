package tracking_test

import (
	"errors"
	"testing"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/tracking"
)

func det(class int, score float32, x, y, w, h float32) defs.Detection {
	return defs.Detection{ClassID: class, Label: []string{"a", "b"}[class], Score: score, Box: [4]float32{x, y, x + w, y + h}}
}

// Two objects of one class pass each other in adjacent lanes, a third of another class crosses
// them: each keeps one ID, confirmed at the MinHits-th hit.
func TestTrackerStableIDs(t *testing.T) {
	tr := tracking.New(tracking.Config{})
	ids := map[int]uint64{}
	for f := range 120 {
		x := float32(f) * 4
		dets := []defs.Detection{
			det(0, 0.9, 20+x, 100, 40, 40),
			det(0, 0.8, 520-x, 150, 40, 40),
			det(1, 0.9, 270, 20+float32(f)*2, 40, 40),
		}
		out, err := tr.Update(uint64(f), dets)
		if err != nil {
			t.Fatal(err)
		}
		if f < tracking.DefaultMinHits-1 {
			for _, d := range dets {
				if d.TrackID != 0 {
					t.Fatalf("frame %d: ID %d before MinHits", f, d.TrackID)
				}
			}
			continue
		}
		if f == tracking.DefaultMinHits-1 && len(out.Appeared) != 3 {
			t.Fatalf("frame %d: %d appeared, want 3", f, len(out.Appeared))
		}
		for i, d := range dets {
			if d.TrackID == 0 {
				t.Fatalf("frame %d: detection %d untracked", f, i)
			}
			if ids[i] == 0 {
				ids[i] = d.TrackID
			} else if ids[i] != d.TrackID {
				t.Fatalf("frame %d: detection %d switched from ID %d to %d", f, i, ids[i], d.TrackID)
			}
		}
	}
	if ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Fatalf("IDs not distinct: %v", ids)
	}
}

// Missed detections and skipped frames (every_n_frames) are bridged by the motion model; after
// MaxAge frames without a detection the track is lost, once.
func TestTrackerGapsAndLoss(t *testing.T) {
	tr := tracking.New(tracking.Config{MaxAge: 20})
	var id uint64
	for f := 0; f < 90; f += 3 { // every third frame analysed
		x := float32(f) * 3
		var dets []defs.Detection
		if f < 30 || f > 42 { // frames 33..42 missed: 12 frames, under MaxAge
			dets = append(dets, det(0, 0.9, 10+x, 50, 40, 40))
		}
		if _, err := tr.Update(uint64(f), dets); err != nil {
			t.Fatal(err)
		}
		if len(dets) == 1 && f >= 6 {
			if id == 0 {
				id = dets[0].TrackID
			}
			if dets[0].TrackID != id {
				t.Fatalf("frame %d: ID %d, want %d", f, dets[0].TrackID, id)
			}
		}
	}
	lost := 0
	for f := 90; f < 140; f++ {
		out, _ := tr.Update(uint64(f), nil)
		for _, l := range out.Lost {
			if l.ID != id {
				t.Fatalf("lost ID %d, want %d", l.ID, id)
			}
			lost++
			if f-87 <= 20 {
				t.Fatalf("lost at frame %d, only %d frames after the last detection", f, f-87)
			}
		}
	}
	if lost != 1 || tr.Len() != 0 {
		t.Fatalf("lost %d times, %d tracks left", lost, tr.Len())
	}
}

// A weak detection extends a track (second stage) but never starts one; a detection of
// another class at the same place is another object.
func TestTrackerLowScoreAndClasses(t *testing.T) {
	tr := tracking.New(tracking.Config{})
	for f := range 5 {
		dets := []defs.Detection{det(0, 0.9, 100, 100, 50, 50)}
		tr.Update(uint64(f), dets)
	}
	dets := []defs.Detection{det(0, 0.3, 102, 100, 50, 50), det(1, 0.9, 100, 100, 50, 50), det(0, 0.3, 400, 100, 50, 50)}
	tr.Update(5, dets)
	if dets[0].TrackID != 1 {
		t.Errorf("weak detection got ID %d, want 1", dets[0].TrackID)
	}
	if dets[1].TrackID != 0 {
		t.Errorf("other class took ID %d", dets[1].TrackID)
	}
	if tr.Len() != 2 { // track 1 and the other class's tentative track; the weak far one starts none
		t.Errorf("%d tracks, want 2", tr.Len())
	}
}

func TestTrackerStaleFrame(t *testing.T) {
	tr := tracking.New(tracking.Config{})
	for f := range 10 {
		tr.Update(uint64(f), []defs.Detection{det(0, 0.9, float32(f), 0, 50, 50)})
	}
	dets := []defs.Detection{det(0, 0.9, 5, 0, 50, 50)}
	if _, err := tr.Update(5, dets); !errors.Is(err, tracking.ErrStale) {
		t.Fatalf("err = %v, want ErrStale", err)
	}
	if dets[0].TrackID != 1 {
		t.Fatalf("stale frame's detection got ID %d, want 1", dets[0].TrackID)
	}
}

// The steady state allocates nothing.
func TestTrackerNoAllocs(t *testing.T) {
	tr := tracking.New(tracking.Config{})
	dets := make([]defs.Detection, 20)
	f := 0
	step := func() {
		for i := range dets {
			dets[i] = det(i%2, 0.9, float32(i*30+f%10), float32(i*10), 20, 20)
		}
		tr.Update(uint64(f), dets)
		f++
	}
	for range 10 {
		step()
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}
