package app

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"runtime"
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
//
// It runs on workers of its own, each camera always on the same one (so its frames stay in
// order): the decoupled stage delivers every batch's results from one goroutine, in batch
// order, and a tracker there (half a millisecond a frame at 300 detections) would cap the
// whole stage's throughput.
type analysis struct {
	on      bool
	tracker tracking.Config
	store   *events.Store
	hub     *results.Hub
	lookup  func(id string) (config.Camera, bool) // the camera's current config

	mu   sync.RWMutex
	cams map[string]*events.Analyzer

	workMu  sync.RWMutex // publish holds it to send, close to close the queues
	closed  bool
	work    []chan results.Result
	workers sync.WaitGroup
	pending sync.WaitGroup // results queued and not yet in the hub (flush)
}

// analysisQueue bounds each worker's queue; a full one holds the stage up (back-pressure: its
// cameras then drop frames before inference, counted) rather than losing analysed results.
const analysisQueue = 256

func newAnalysis(cfg *config.Config, store *events.Store, hub *results.Hub, lookup func(string) (config.Camera, bool)) *analysis {
	t := cfg.Tracking.Effective()
	an := &analysis{on: *t.Enabled, store: store, hub: hub, lookup: lookup, cams: map[string]*events.Analyzer{},
		tracker: tracking.Config{HighScore: float32(t.HighScore), LowScore: float32(t.LowScore),
			MatchIoU: float32(t.MatchIoU), MinHits: t.MinHits, MaxAge: t.MaxAge}}
	for _, c := range cfg.Cameras {
		store.SetZones(c.ID, zoneNames(c))
	}
	if an.on {
		an.work = make([]chan results.Result, runtime.GOMAXPROCS(0))
		for i := range an.work {
			ch := make(chan results.Result, analysisQueue)
			an.work[i] = ch
			an.workers.Add(1)
			go func() {
				defer an.workers.Done()
				for r := range ch {
					an.process(r)
				}
			}()
		}
	}
	return an
}

// publish is the stage's Publish: the result goes to its camera's worker, which puts the track
// IDs into the detections, the events into the store, then the result into the hub.
func (an *analysis) publish(r results.Result) {
	an.workMu.RLock()
	defer an.workMu.RUnlock()
	if !an.on || an.closed {
		an.hub.Publish(r)
		return
	}
	h := fnv.New32a()
	h.Write([]byte(r.Camera))
	an.pending.Add(1)
	an.work[h.Sum32()%uint32(len(an.work))] <- r
}

func (an *analysis) process(r results.Result) {
	defer an.pending.Done()
	if a := an.analyzer(r.Camera); a != nil {
		a.Process(&r, an.store.Add)
	}
	an.hub.Publish(r)
}

// flush waits until every result published so far is in the hub. Only for a quiet stage
// (tests): a publish racing it may or may not be waited for.
func (an *analysis) flush() { an.pending.Wait() }

// close analyses what is queued and stops the workers; later results go to the hub as they
// are. Call it after the stage has delivered its last results.
func (an *analysis) close() {
	an.workMu.Lock()
	if an.closed {
		an.workMu.Unlock()
		return
	}
	an.closed = true
	for _, ch := range an.work {
		close(ch)
	}
	an.workMu.Unlock()
	an.workers.Wait()
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
