// Package events keeps the events the tracker and the zones produce (object_appeared,
// object_lost, zone_entered, zone_left, line_crossed): a bounded in-memory history for
// /api/events, a non-blocking fan-out to subscribers (/ws?events=1, MQTT), each camera's zone
// occupancy, and a bounded store of the JPEG snapshot of each event's moment. [Analyzer] is the
// per-camera step that runs the tracker and the zones over a frame's detections.
package events

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gstvision/gstvision/defs"
)

// Defaults of Options.
const (
	DefaultKeep     = 1000
	DefaultQueueLen = 256
)

// Source is what a consumer of events needs (the MQTT publisher): a non-blocking subscription
// and the current occupancy. *Store implements it.
type Source interface {
	// Subscribe returns a bounded subscription to camera's events ("" for all); see
	// [Store.Subscribe].
	Subscribe(camera string, queueLen int) *Subscription
	// Occupancy returns each of camera's zones' object count per label.
	Occupancy(camera string) map[string]map[string]int
}

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Keep is how many recent events are kept for queries (DefaultKeep).
	Keep int
	// QueueLen is a subscriber's default queue length (DefaultQueueLen).
	QueueLen int
	// Grab, when set, takes the JPEG snapshot of a camera's current picture; each new event
	// then links to the snapshot of its moment (see Snapshots).
	Grab GrabFunc
	// Snapshots bounds the snapshots kept (zero fields: defaults).
	Snapshots SnapshotLimits
}

// Store is the event history and fan-out. Safe for concurrent use.
type Store struct {
	opts Options
	snap *Snapshots // nil without Grab

	mu     sync.Mutex
	ring   []defs.Event // the last Keep events, oldest at head
	head   int
	n      int
	nextID uint64
	occ    map[string]map[string]map[string]int // camera → zone → label → count
	closed bool

	subs    atomic.Pointer[[]*Subscription]
	nextSub atomic.Uint64
}

// New returns an empty store.
func New(opts Options) *Store {
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	s := &Store{opts: opts, ring: make([]defs.Event, opts.Keep), nextID: 1, occ: map[string]map[string]map[string]int{}}
	if opts.Grab != nil {
		s.snap = NewSnapshots(opts.Grab, opts.Snapshots)
	}
	s.subs.Store(&[]*Subscription{})
	return s
}

// Add numbers evs (all of one camera and one frame), links them to a snapshot of that moment
// when snapshots are on, keeps them and hands them to the subscribers. It never blocks on a
// subscriber. evs is updated in place (ID, Snapshot).
func (s *Store) Add(evs []defs.Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	for i := range evs {
		evs[i].ID = s.nextID
		s.nextID++
	}
	if s.snap != nil {
		if path := s.snap.request(evs[0].Camera, evs[0].ID, evs[len(evs)-1].ID); path {
			for i := range evs {
				evs[i].Snapshot = SnapshotPath(evs[i].ID)
			}
		}
	}
	for i := range evs {
		ev := &evs[i]
		if ev.Zone != "" && (ev.Type == defs.EventZoneEntered || ev.Type == defs.EventZoneLeft) {
			zones := s.occ[ev.Camera]
			if zones == nil {
				zones = map[string]map[string]int{}
				s.occ[ev.Camera] = zones
			}
			zones[ev.Zone] = maps.Clone(ev.Occupancy)
			if zones[ev.Zone] == nil {
				zones[ev.Zone] = map[string]int{}
			}
		}
		s.ring[(s.head+s.n)%len(s.ring)] = *ev
		if s.n < len(s.ring) {
			s.n++
		} else {
			s.head = (s.head + 1) % len(s.ring)
		}
	}
	// Offered under the lock (never blocking) so that every subscriber sees increasing IDs.
	for _, sub := range *s.subs.Load() {
		for i := range evs {
			if sub.camera == "" || sub.camera == evs[i].Camera {
				sub.offer(&evs[i])
			}
		}
	}
	s.mu.Unlock()
}

// SetZones declares camera's zones, all empty (at start and after its zones change), so that
// Occupancy lists them before any event; nil forgets the camera.
func (s *Store) SetZones(camera string, zones []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if zones == nil {
		delete(s.occ, camera)
		return
	}
	m := make(map[string]map[string]int, len(zones))
	for _, z := range zones {
		m[z] = map[string]int{}
	}
	s.occ[camera] = m
}

// Occupancy returns each of camera's zones' count of objects inside per label (a copy).
func (s *Store) Occupancy(camera string) map[string]map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]int, len(s.occ[camera]))
	for z, m := range s.occ[camera] {
		out[z] = maps.Clone(m)
	}
	return out
}

// List returns the kept events q selects, oldest first: the newest Limit of them.
func (s *Store) List(q Query) []defs.Event {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []defs.Event{}
	for i := s.n - 1; i >= 0 && len(out) < limit; i-- {
		ev := &s.ring[(s.head+i)%len(s.ring)]
		if ev.ID <= q.SinceID {
			break // older ones all have smaller IDs
		}
		if q.match(ev) {
			out = append(out, *ev)
		}
	}
	slices.Reverse(out)
	return out
}

// Subscribe returns a subscription to camera's events ("" for every camera) with a queue of
// queueLen (<= 0: the default). Close it when done. Subscribing to a closed store returns an
// ended subscription.
func (s *Store) Subscribe(camera string, queueLen int) *Subscription {
	if queueLen <= 0 {
		queueLen = s.opts.QueueLen
	}
	sub := &Subscription{store: s, id: s.nextSub.Add(1), camera: camera,
		ch: make(chan defs.Event, queueLen), done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		sub.cancel()
		return sub
	}
	next := append(slices.Clone(*s.subs.Load()), sub)
	s.subs.Store(&next)
	return sub
}

// Unsubscribe ends sub; idempotent.
func (s *Store) Unsubscribe(sub *Subscription) {
	if sub == nil || sub.store != s {
		return
	}
	s.mu.Lock()
	cur := *s.subs.Load()
	if i := slices.Index(cur, sub); i >= 0 {
		next := slices.Delete(slices.Clone(cur), i, i+1)
		s.subs.Store(&next)
	}
	s.mu.Unlock()
	sub.cancel()
}

// Subscribers is the number of current subscriptions.
func (s *Store) Subscribers() int { return len(*s.subs.Load()) }

// Snapshot returns the JPEG of event id's moment, waiting (within ctx) while it is being taken.
func (s *Store) Snapshot(ctx context.Context, id uint64) ([]byte, error) {
	if s.snap == nil {
		return nil, ErrNoSnapshot
	}
	return s.snap.get(ctx, id)
}

// Close ends every subscription and the snapshot workers; Add keeps recording.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	cur := *s.subs.Load()
	s.subs.Store(&[]*Subscription{})
	s.mu.Unlock()
	for _, sub := range cur {
		sub.cancel()
	}
	if s.snap != nil {
		s.snap.close()
	}
}

var _ Source = (*Store)(nil)
