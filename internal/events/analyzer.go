package events

import (
	"errors"
	"sync"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/tracking"
	"github.com/gstvision/gstvision/zones"
)

// restartGap: a frame this much older than the latest is not late (the decoupled stage
// finishes a camera's frames at most a few apart) but from a stream that started over.
const restartGap = 300

// AnalyzerConfig is one camera's tracking, zones and lines.
type AnalyzerConfig struct {
	Tracker tracking.Config
	Zones   []zones.Zone
	Lines   []zones.Line
}

// Analyzer is one camera's step between the inference stage and the results hub: it gives the
// frame's detections their track IDs and turns the tracks into events. Safe for concurrent use
// (the decoupled stage may finish a camera's frames on several threads; a frame older than the
// last gets IDs by overlap and makes no events). When the frame numbers start over (a camera
// re-added through the API), the tracks of the old stream are lost.
type Analyzer struct {
	mu      sync.Mutex
	tracker *tracking.Tracker
	zones   *zones.Engine
	objs    []zones.Object
	gone    []zones.Object
	evs     []defs.Event
}

// NewAnalyzer returns the analyzer of one camera.
func NewAnalyzer(cfg AnalyzerConfig) *Analyzer {
	return &Analyzer{tracker: tracking.New(cfg.Tracker), zones: zones.New(cfg.Zones, cfg.Lines)}
}

// Process writes the track IDs into r.Detections and hands the frame's events, if any, to emit
// (the event store's Add), in this order: objects appeared, zone and line events of the objects
// seen, then for each object lost its zone_left events and object_lost. emit runs under the
// analyzer's lock, so a camera's events are emitted in the order they happened; the slice it
// gets is reused afterwards.
func (a *Analyzer) Process(r *results.Result, emit func([]defs.Event)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.process(r)
	if len(a.evs) > 0 && emit != nil {
		emit(a.evs)
	}
}

func (a *Analyzer) process(r *results.Result) {
	f := zones.Frame{Camera: r.Camera, Index: r.Frame, Time: r.Time, Width: r.Width, Height: r.Height}
	a.evs = a.evs[:0]
	if last, ok := a.tracker.Last(); ok && r.Frame+restartGap < last {
		// The camera's frames start over (it was re-added): its objects are lost here.
		a.lose(f, a.tracker.Flush().Lost)
	}
	out, err := a.tracker.Update(r.Frame, r.Detections)
	if errors.Is(err, tracking.ErrStale) {
		return
	}
	for _, t := range out.Appeared {
		a.evs = append(a.evs, trackEvent(defs.EventObjectAppeared, f, t))
	}
	a.objs = a.objs[:0]
	for _, t := range out.Updated {
		a.objs = append(a.objs, zones.Object{TrackID: t.ID, Label: t.Label, Box: t.Box})
	}
	a.evs = a.zones.Update(f, a.objs, nil, a.evs)
	a.lose(f, out.Lost)
}

// lose appends, for each lost track, its zone_left events and object_lost.
func (a *Analyzer) lose(f zones.Frame, lost []tracking.Track) {
	for _, t := range lost {
		a.gone = append(a.gone[:0], zones.Object{TrackID: t.ID, Label: t.Label, Box: t.Box})
		a.evs = a.zones.Update(f, nil, a.gone, a.evs)
		a.evs = append(a.evs, trackEvent(defs.EventObjectLost, f, t))
	}
}

func trackEvent(typ defs.EventType, f zones.Frame, t tracking.Track) defs.Event {
	return defs.Event{Type: typ, Camera: f.Camera, TrackID: t.ID, Label: t.Label, Time: f.Time, Frame: f.Index, Box: t.Box}
}

// Occupancy is the camera's zones' occupancy as this analyzer counts it.
func (a *Analyzer) Occupancy() map[string]map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.zones.Occupancy()
}

// SetGeometry replaces the zones and lines (their occupancy starts over; tracks go on).
func (a *Analyzer) SetGeometry(zs []zones.Zone, ls []zones.Line) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.zones = zones.New(zs, ls)
}
