package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/results"
)

func analysisFor(t *testing.T, doc string) (*analysis, *events.Store, *results.Hub, *config.Config) {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	store := events.New(events.Options{})
	t.Cleanup(store.Close)
	hub := results.NewHub(results.Options{})
	lookup := func(id string) (config.Camera, bool) {
		if c, _ := cfg.Camera(id); c != nil {
			return c.Clone(), true
		}
		return config.Camera{}, false
	}
	an := newAnalysis(cfg, store, hub, lookup)
	t.Cleanup(an.close)
	return an, store, hub, cfg
}

// feed publishes n frames of one block moving right across a 100×100 picture.
func feed(an *analysis, cam string, from, to int) {
	for n := from; n < to; n++ {
		x := float32(n)
		an.publish(results.Result{Camera: cam, Frame: uint64(n), Time: time.Unix(int64(n), 0), Width: 100, Height: 100,
			Detections: []defs.Detection{{Label: "person", Score: 0.9, Box: [4]float32{x, 40, x + 10, 60}}}})
	}
	an.flush() // the analysis runs on its own workers
}

// The stage's results reach the hub with track IDs, and the camera's zones make events; with
// tracking off, neither.
func TestAnalysisPublish(t *testing.T) {
	const doc = `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://h/c",
	  "zones": [{"name": "right", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}]}]%s}`
	an, store, hub, cfg := analysisFor(t, fmtDoc(doc, ""))
	if occ := store.Occupancy("c"); len(occ) != 1 || occ["right"] == nil {
		t.Fatalf("occupancy before any event: %v", occ)
	}
	feed(an, "c", 0, 60)
	r, _ := hub.Latest("c")
	if r.Detections[0].TrackID != 1 {
		t.Fatalf("latest result's track ID %d", r.Detections[0].TrackID)
	}
	evs := store.List(events.Query{})
	if len(evs) != 2 || evs[0].Type != defs.EventObjectAppeared || evs[1].Type != defs.EventZoneEntered || store.Occupancy("c")["right"]["person"] != 1 {
		t.Fatalf("events %+v, occupancy %v", evs, store.Occupancy("c"))
	}
	// New geometry: occupancy starts over, tracks go on.
	cam := cfg.Cameras[0].Clone()
	cam.Zones[0].Name = "all"
	cam.Zones[0].Polygon = [][]float64{{0, 0}, {1, 0}, {1, 1}}
	an.configure(cam)
	if occ := store.Occupancy("c"); len(occ) != 1 || occ["all"] == nil {
		t.Fatalf("occupancy after reconfiguring: %v", occ)
	}
	feed(an, "c", 60, 62)
	if r, _ := hub.Latest("c"); r.Detections[0].TrackID != 1 {
		t.Fatalf("track ID after reconfiguring: %d", r.Detections[0].TrackID)
	}
	an.forget("c")
	if len(store.Occupancy("c")) != 0 {
		t.Fatal("forgotten camera keeps its occupancy")
	}

	off, store2, hub2, _ := analysisFor(t, fmtDoc(doc, `, "tracking": {"enabled": false}`))
	feed(off, "c", 0, 60)
	if r, _ := hub2.Latest("c"); r.Detections[0].TrackID != 0 || len(store2.List(events.Query{})) != 0 {
		t.Fatalf("tracking off: track ID %d, events %v", r.Detections[0].TrackID, store2.List(events.Query{}))
	}
}

func fmtDoc(doc, extra string) string {
	return fmt.Sprintf(doc, extra)
}

// The decoupled stage publishes from several threads: a camera's frames may arrive together
// and out of order. Subscribers still see increasing event IDs (run with -race).
func TestAnalysisConcurrentPublish(t *testing.T) {
	an, store, _, _ := analysisFor(t, `{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/a",
	  "lines": [{"name": "l", "points": [[0.5, 0], [0.5, 1]]}]}, {"id": "b", "url": "rtsp://h/b"}]}`)
	sub := store.Subscribe("", 10000)
	defer sub.Close()
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := w; n < 400; n += 4 {
				cam := []string{"a", "b"}[n%2]
				x := float32(n / 5)
				an.publish(results.Result{Camera: cam, Frame: uint64(n), Width: 100, Height: 100,
					Detections: []defs.Detection{{Label: "p", Score: 0.9, Box: [4]float32{x, 40, x + 10, 60}}}})
			}
		}()
	}
	for range 4 {
		<-done
	}
	an.flush()
	var last uint64
	for sub.Len() > 0 {
		ev := <-sub.C()
		if ev.ID <= last {
			t.Fatalf("event %d after %d", ev.ID, last)
		}
		last = ev.ID
	}
	if last == 0 {
		t.Fatal("no events")
	}
}
