package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/results"
)

// newEventsEnv is newEnv with an event store (snapshots from grab, if set).
func newEventsEnv(t *testing.T, grab events.GrabFunc) (*env, *events.Store) {
	t.Helper()
	hub := results.NewHub(results.Options{})
	store := events.New(events.Options{Grab: grab})
	cams := newFakeCameras(defs.StateRunning, defs.StateRunning)
	s := New(Options{}, Deps{Cameras: cams, Results: hub, Events: store})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		ts.Close()
		store.Close()
	})
	return &env{srv: s, hub: hub, ts: ts, cams: cams}, store
}

func zoneEvent(cam string, typ defs.EventType, zone string) defs.Event {
	return defs.Event{Type: typ, Camera: cam, TrackID: 7, Label: "person", Zone: zone,
		Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Box: [4]float32{1, 2, 3, 4}, Occupancy: map[string]int{"person": 1}}
}

func TestAPIEvents(t *testing.T) {
	e, store := newEventsEnv(t, nil)
	store.Add([]defs.Event{zoneEvent("cam1", defs.EventZoneEntered, "door")})
	store.Add([]defs.Event{zoneEvent("cam2", defs.EventZoneEntered, "yard")})
	store.Add([]defs.Event{zoneEvent("cam1", defs.EventZoneLeft, "door")})
	get := func(q string) []defs.Event {
		t.Helper()
		r := e.do(t, http.MethodGet, "/api/events"+q, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/events%s: %d %s", q, r.status, r.body)
		}
		var out []defs.Event
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := get(""); len(got) != 3 || got[0].ID != 1 || got[2].Type != defs.EventZoneLeft || got[0].Occupancy["person"] != 1 {
		t.Fatalf("all events: %+v", got)
	}
	if got := get("?camera=cam1&type=zone_left"); len(got) != 1 || got[0].ID != 3 {
		t.Fatalf("filtered: %+v", got)
	}
	if got := get("?since_id=1&limit=1"); len(got) != 1 || got[0].ID != 3 {
		t.Fatalf("since_id and limit: %+v", got)
	}
	if got := get("?zone=yard&since=2026-01-01T00:00:00Z"); len(got) != 1 || got[0].Camera != "cam2" {
		t.Fatalf("zone and since: %+v", got)
	}
	for _, q := range []string{"?type=exploded", "?since_id=x", "?since=yesterday", "?limit=0", "?limit=5000"} {
		if r := e.do(t, http.MethodGet, "/api/events"+q, nil); r.status != http.StatusBadRequest {
			t.Errorf("GET /api/events%s: %d, want 400", q, r.status)
		}
	}
	if r := e.do(t, http.MethodGet, "/api/cameras/cam1/occupancy", nil); r.status != http.StatusOK || strings.TrimSpace(r.body) != `{"door":{"person":1}}` {
		t.Errorf("occupancy: %d %s", r.status, r.body)
	}
	if r := e.do(t, http.MethodGet, "/api/cameras/nope/occupancy", nil); r.status != http.StatusNotFound {
		t.Errorf("occupancy of an unknown camera: %d", r.status)
	}
}

func TestAPIEventSnapshot(t *testing.T) {
	e, store := newEventsEnv(t, func(_ context.Context, cam string) ([]byte, error) {
		if cam == "cam2" {
			return nil, errors.New("no picture")
		}
		return []byte("\xff\xd8jpeg of " + cam), nil
	})
	evs := []defs.Event{zoneEvent("cam1", defs.EventZoneEntered, "door")}
	store.Add(evs)
	if evs[0].Snapshot != "/api/events/1/snapshot.jpg" {
		t.Fatalf("snapshot link %q", evs[0].Snapshot)
	}
	r := e.do(t, http.MethodGet, evs[0].Snapshot, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/jpeg" || r.body != "\xff\xd8jpeg of cam1" {
		t.Fatalf("snapshot: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	store.Add([]defs.Event{zoneEvent("cam2", defs.EventZoneEntered, "door")})
	for _, p := range []string{"/api/events/2/snapshot.jpg", "/api/events/99/snapshot.jpg"} {
		if r := e.do(t, http.MethodGet, p, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	if r := e.do(t, http.MethodGet, "/api/events/x/snapshot.jpg", nil); r.status != http.StatusBadRequest {
		t.Errorf("bad ID: %d", r.status)
	}
}

// /ws?events=1 gets the results and the events; &detections=0 only the events.
func TestWSEvents(t *testing.T) {
	e, store := newEventsEnv(t, nil)
	both := e.dial(t, "?events=1", nil)
	onlyEvents := e.dial(t, "?events=1&detections=0&camera=cam2", nil)
	plain := e.dial(t, "", nil)
	waitFor(t, "event subscribers", func() bool { return store.Subscribers() == 2 })
	e.waitSubscribers(t, 2)

	e.hub.Publish(results.Result{Camera: "cam1", Frame: 1, Detections: []defs.Detection{{Label: "person", TrackID: 7}}})
	if msg := readText(t, both); !strings.Contains(msg, `"detections":[{"class_id":0,"label":"person","score":0,"track_id":7,`) {
		t.Fatalf("result message %s", msg)
	}
	if msg := readText(t, plain); !strings.Contains(msg, `"track_id":7`) {
		t.Fatalf("plain result message %s", msg)
	}
	store.Add([]defs.Event{zoneEvent("cam1", defs.EventZoneEntered, "door")})
	store.Add([]defs.Event{zoneEvent("cam2", defs.EventZoneLeft, "yard")})
	var ev defs.Event
	if err := json.Unmarshal([]byte(readText(t, both)), &ev); err != nil || ev.Type != defs.EventZoneEntered || ev.ID != 1 || ev.TrackID != 7 {
		t.Fatalf("event message %+v (%v)", ev, err)
	}
	if err := json.Unmarshal([]byte(readText(t, onlyEvents)), &ev); err != nil || ev.Type != defs.EventZoneLeft || ev.Camera != "cam2" {
		t.Fatalf("cam2 event message %+v (%v)", ev, err)
	}
	// The plain client gets no events: its next message is the next result.
	e.hub.Publish(results.Result{Camera: "cam2", Frame: 2})
	if msg := readText(t, plain); !strings.Contains(msg, `"frame":2`) {
		t.Fatalf("plain client got %s", msg)
	}
	for _, q := range []string{"?detections=0", "?events=maybe"} {
		if r := e.do(t, http.MethodGet, "/ws"+q, nil); r.status != http.StatusBadRequest {
			t.Errorf("GET /ws%s: %d, want 400", q, r.status)
		}
	}
}

// Without an event store, /ws?events=1 and /api/events answer 503.
func TestEventsUnavailable(t *testing.T) {
	e := newEnv(t, Options{}, newFakeCameras(defs.StateRunning))
	for _, p := range []string{"/api/events", "/ws?events=1"} {
		if r := e.do(t, http.MethodGet, p, nil); r.status != http.StatusServiceUnavailable {
			t.Errorf("GET %s: %d, want 503", p, r.status)
		}
	}
}
