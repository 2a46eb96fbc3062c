package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/events"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func ev(cam string, typ defs.EventType, label, zone string, n int) defs.Event {
	e := defs.Event{Type: typ, Camera: cam, TrackID: uint64(n), Label: label, Time: t0.Add(time.Duration(n) * time.Second)}
	if typ == defs.EventLineCrossed {
		e.Line = zone
	} else {
		e.Zone = zone
	}
	return e
}

func TestStoreListAndFilters(t *testing.T) {
	s := events.New(events.Options{Keep: 5})
	defer s.Close()
	for i := 1; i <= 7; i++ {
		cam := []string{"a", "b"}[i%2]
		s.Add([]defs.Event{ev(cam, defs.EventZoneEntered, "person", "z", i)})
	}
	s.Add([]defs.Event{ev("a", defs.EventLineCrossed, "car", "l", 8)})
	all := s.List(events.Query{})
	if len(all) != 5 || all[0].ID != 4 || all[4].ID != 8 {
		t.Fatalf("kept %d events, IDs %d..%d; want 5, 4..8", len(all), all[0].ID, all[len(all)-1].ID)
	}
	check := func(name string, q events.Query, ids ...uint64) {
		t.Helper()
		got := s.List(q)
		var gotIDs []uint64
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(ids) {
			t.Errorf("%s: IDs %v, want %v", name, gotIDs, ids)
		}
	}
	check("camera", events.Query{Camera: "a"}, 4, 6, 8)
	check("type", events.Query{Type: defs.EventLineCrossed}, 8)
	check("label", events.Query{Label: "person", Camera: "b"}, 5, 7)
	check("zone", events.Query{Zone: "z"}, 4, 5, 6, 7)
	check("line", events.Query{Line: "l"}, 8)
	check("since id", events.Query{SinceID: 6}, 7, 8)
	check("since time", events.Query{Since: t0.Add(7 * time.Second)}, 7, 8)
	check("limit keeps the newest", events.Query{Limit: 2}, 7, 8)
}

func TestStoreSubscribeNeverBlocks(t *testing.T) {
	s := events.New(events.Options{})
	defer s.Close()
	all := s.Subscribe("", 2)
	onlyB := s.Subscribe("b", 0)
	for i := 1; i <= 5; i++ {
		s.Add([]defs.Event{ev("a", defs.EventObjectAppeared, "x", "", i)}) // nobody reads: must not block
	}
	s.Add([]defs.Event{ev("b", defs.EventObjectLost, "x", "", 6)})
	if all.Dropped() != 4 || all.Len() != 2 {
		t.Fatalf("all: dropped %d, queued %d; want 4, 2", all.Dropped(), all.Len())
	}
	if e := <-all.C(); e.ID != 5 {
		t.Fatalf("oldest kept is %d, want 5", e.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := onlyB.Recv(ctx)
	if err != nil || e.ID != 6 || e.Camera != "b" {
		t.Fatalf("camera b got %+v, %v", e, err)
	}
	onlyB.Close()
	if _, err := onlyB.Recv(ctx); !errors.Is(err, defs.ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
	if s.Subscribers() != 1 {
		t.Fatalf("%d subscribers", s.Subscribers())
	}
}

func TestStoreOccupancy(t *testing.T) {
	s := events.New(events.Options{})
	defer s.Close()
	s.SetZones("a", []string{"z", "y"})
	e := ev("a", defs.EventZoneEntered, "person", "z", 1)
	e.Occupancy = map[string]int{"person": 2}
	s.Add([]defs.Event{e})
	occ := s.Occupancy("a")
	if len(occ) != 2 || occ["z"]["person"] != 2 || len(occ["y"]) != 0 {
		t.Fatalf("occupancy %v", occ)
	}
	occ["z"]["person"] = 99 // a copy
	if s.Occupancy("a")["z"]["person"] != 2 {
		t.Fatal("Occupancy returns the store's map")
	}
	s.SetZones("a", nil)
	if len(s.Occupancy("a")) != 0 {
		t.Fatal("forgotten camera keeps its occupancy")
	}
}

// Each frame's events share the picture taken right after them; pictures are bounded in
// count, and when the camera gives none the events' snapshots answer ErrNoSnapshot.
func TestStoreSnapshots(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	grab := func(ctx context.Context, cam string) ([]byte, error) {
		n := calls.Add(1)
		if cam == "broken" {
			return nil, errors.New("no picture")
		}
		<-release
		return []byte(fmt.Sprintf("jpeg %s %d", cam, n)), nil
	}
	s := events.New(events.Options{Grab: grab, Snapshots: events.SnapshotLimits{Max: 2, Workers: 1}})
	defer s.Close()
	frame1 := []defs.Event{ev("a", defs.EventZoneEntered, "p", "z", 1), ev("a", defs.EventLineCrossed, "p", "l", 1)}
	s.Add(frame1)
	if frame1[1].Snapshot != "/api/events/2/snapshot.jpg" {
		t.Fatalf("snapshot path %q", frame1[1].Snapshot)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	close(release)
	j1, err := s.Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	j2, err := s.Snapshot(ctx, 2)
	if err != nil || string(j1) != string(j2) {
		t.Fatalf("events of one frame: %q and %q (%v)", j1, j2, err)
	}
	s.Add([]defs.Event{ev("broken", defs.EventObjectLost, "p", "", 2)})
	if _, err := s.Snapshot(ctx, 3); !errors.Is(err, events.ErrNoSnapshot) {
		t.Fatalf("broken camera's snapshot: %v", err)
	}
	s.Add([]defs.Event{ev("a", defs.EventObjectLost, "p", "", 3)})
	if _, err := s.Snapshot(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// Max 2: the first picture is gone.
	if _, err := s.Snapshot(ctx, 1); !errors.Is(err, events.ErrNoSnapshot) {
		t.Fatalf("evicted snapshot: %v", err)
	}
}

// TestSnapshotsMinInterval: events of one camera that come within MinInterval of its last
// picture wait for the next one together: a detector that makes events every frame costs one
// picture per interval, not one per frame.
func TestSnapshotsMinInterval(t *testing.T) {
	var calls atomic.Int32
	grab := func(ctx context.Context, cam string) ([]byte, error) {
		return []byte(fmt.Sprintf("jpeg %s %d", cam, calls.Add(1))), nil
	}
	s := events.New(events.Options{Grab: grab, Snapshots: events.SnapshotLimits{MinInterval: 300 * time.Millisecond}})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Add([]defs.Event{ev("a", defs.EventObjectAppeared, "p", "", 1)})
	first, err := s.Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for f := 2; f <= 5; f++ { // four more frames' events, long before the interval ends
		s.Add([]defs.Event{ev("a", defs.EventObjectLost, "p", "", f)})
	}
	s.Add([]defs.Event{ev("b", defs.EventObjectAppeared, "p", "", 5)}) // another camera: its own
	var later []string
	for id := uint64(2); id <= 5; id++ {
		j, err := s.Snapshot(ctx, id)
		if err != nil {
			t.Fatalf("event %d: %v", id, err)
		}
		later = append(later, string(j))
	}
	if _, err := s.Snapshot(ctx, 6); err != nil {
		t.Fatalf("camera b: %v", err)
	}
	for _, j := range later {
		if j != later[0] || j == string(first) {
			t.Fatalf("camera a's pictures: first %q, then %q: want the later events to share one new picture", first, later)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d pictures taken, want 3 (a twice, b once)", n)
	}
}
