package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/server"
	"github.com/gstvision/gstvision/tracking"
	"github.com/gstvision/gstvision/zones"
)

// analysis is the step between the inference stage and the results hub: each camera's tracker
// and zones (events.Analyzer), whose events go to the event store.
type analysis struct {
	on      bool
	tracker tracking.Config
	store   *events.Store
	hub     *results.Hub
	lookup  func(id string) (config.Camera, bool) // the camera's current config

	mu   sync.RWMutex
	cams map[string]*events.Analyzer
}

func newAnalysis(cfg *config.Config, store *events.Store, hub *results.Hub, lookup func(string) (config.Camera, bool)) *analysis {
	t := cfg.Tracking.Effective()
	an := &analysis{on: *t.Enabled, store: store, hub: hub, lookup: lookup, cams: map[string]*events.Analyzer{},
		tracker: tracking.Config{HighScore: float32(t.HighScore), LowScore: float32(t.LowScore),
			MatchIoU: float32(t.MatchIoU), MinHits: t.MinHits, MaxAge: t.MaxAge}}
	for _, c := range cfg.Cameras {
		store.SetZones(c.ID, zoneNames(c))
	}
	return an
}

// publish is the stage's Publish: track IDs into the detections, events to the store, then the
// result to the hub.
func (an *analysis) publish(r results.Result) {
	if an.on {
		if a := an.analyzer(r.Camera); a != nil {
			a.Process(&r, an.store.Add)
		}
	}
	an.hub.Publish(r)
}

func (an *analysis) analyzer(id string) *events.Analyzer {
	an.mu.RLock()
	a := an.cams[id]
	an.mu.RUnlock()
	if a != nil {
		return a
	}
	cam, _ := an.lookup(id) // a camera the config does not name is tracked, without zones
	an.mu.Lock()
	defer an.mu.Unlock()
	if a = an.cams[id]; a == nil {
		zs, ls := engineGeometry(cam)
		a = events.NewAnalyzer(events.AnalyzerConfig{Tracker: an.tracker, Zones: zs, Lines: ls})
		an.cams[id] = a
	}
	return a
}

// configure applies a camera's changed zones and lines (its tracks and IDs go on).
func (an *analysis) configure(cam config.Camera) {
	an.store.SetZones(cam.ID, zoneNames(cam))
	an.mu.RLock()
	a := an.cams[cam.ID]
	an.mu.RUnlock()
	if a != nil {
		zs, ls := engineGeometry(cam)
		a.SetGeometry(zs, ls)
	}
}

// forget drops a removed or disabled camera's tracks and occupancy.
func (an *analysis) forget(id string) {
	an.mu.Lock()
	delete(an.cams, id)
	an.mu.Unlock()
	an.store.SetZones(id, nil)
}

func engineGeometry(cam config.Camera) ([]zones.Zone, []zones.Line) {
	zs := make([]zones.Zone, 0, len(cam.Zones))
	for _, z := range cam.Zones {
		zs = append(zs, z.Engine())
	}
	ls := make([]zones.Line, 0, len(cam.Lines))
	for _, l := range cam.Lines {
		ls = append(ls, l.Engine())
	}
	return zs, ls
}

func zoneNames(cam config.Camera) []string {
	names := make([]string, 0, len(cam.Zones))
	for _, z := range cam.Zones {
		names = append(names, z.Name)
	}
	return names
}

// grabSnapshot is the event store's snapshot source: the camera's annotated picture.
func (a *App) grabSnapshot(ctx context.Context, camera string) ([]byte, error) {
	if a.viewers == nil {
		return nil, errors.New("no viewer")
	}
	jpg, err := a.viewers.Snapshot(ctx, camera)
	if err != nil {
		return nil, fmt.Errorf("snapshot of camera %q: %w", camera, err)
	}
	return jpg, nil
}

// Events is the event store (/api/events, /ws?events=1; the MQTT publisher subscribes to it).
func (a *App) Events() *events.Store { return a.events }

// geometryBody is the body of GET /api/cameras/{id}/zones: what the viewer page draws.
type geometryBody struct {
	Zones []config.Zone `json:"zones"`
	Lines []config.Line `json:"lines"`
}

// handleZones answers a camera's zones and lines (normalised coordinates).
func (a *App) handleZones(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	cam, ok := a.ops.api.Camera(id)
	if !ok {
		if _, running := a.cameras.Get(id); !running {
			server.WriteErr(w, fmt.Errorf("camera %q %w", id, server.ErrNotFound))
			return
		}
	}
	body := geometryBody{Zones: cam.Zones, Lines: cam.Lines}
	if body.Zones == nil {
		body.Zones = []config.Zone{}
	}
	if body.Lines == nil {
		body.Lines = []config.Line{}
	}
	server.WriteJSON(w, http.StatusOK, body)
}

// hasGeometry reports whether any camera has zones or lines.
func hasGeometry(cams []config.Camera) bool {
	for _, c := range cams {
		if len(c.Zones) > 0 || len(c.Lines) > 0 {
			return true
		}
	}
	return false
}
