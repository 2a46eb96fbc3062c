package results

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueueLen is the per-subscriber queue length used when neither [Options.QueueLen] nor the
// queueLen argument of [Hub.Subscribe] says otherwise.
const DefaultQueueLen = 64

// offerAttempts bounds how often Publish retries "drop the oldest, enqueue the newest" when other
// publishers or the consumer race it for the same queue; after that the new result is dropped.
const offerAttempts = 4

// Options configures a [Hub]. The zero value is ready to use.
type Options struct {
	// QueueLen is the queue length given to subscribers that ask for queueLen <= 0.
	// Zero means DefaultQueueLen.
	QueueLen int
}

// Hub fans results out from the pipelines to any number of subscribers. Publish never blocks on
// a subscriber: each subscriber has a bounded queue, and when it is full the oldest queued result
// is dropped (and counted) to make room for the newest.
//
// All methods are safe for concurrent use. The zero Hub is not usable; call [NewHub].
type Hub struct {
	queueLen int

	mu     sync.Mutex // serialises changes to subs and latest; Publish never takes it
	closed bool
	subs   atomic.Pointer[subSet]
	latest atomic.Pointer[map[string]*latestSlot]

	nextID    atomic.Uint64
	published atomic.Uint64
	dropped   atomic.Uint64
}

// subSet is an immutable snapshot of the subscribers, replaced as a whole on every change so
// Publish can read it without a lock.
type subSet struct {
	all      []*Subscription            // subscribed to every camera
	byCamera map[string][]*Subscription // subscribed to one camera
	n        int
}

// latestSlot holds the newest result of one camera.
type latestSlot struct {
	mu sync.Mutex
	r  Result
}

// NewHub returns an empty hub.
func NewHub(opts Options) *Hub {
	h := &Hub{queueLen: opts.QueueLen}
	if h.queueLen <= 0 {
		h.queueLen = DefaultQueueLen
	}
	h.subs.Store(&subSet{})
	m := map[string]*latestSlot{}
	h.latest.Store(&m)
	return h
}

// Publish hands r to every subscriber of r.Camera and of all cameras, and remembers it as the
// camera's latest result. It never blocks on subscribers and does not allocate in the steady
// state, so it may be called from pipeline streaming threads.
//
// The hub keeps r.Detections without copying it: the caller must not modify the slice's
// elements after Publish.
func (h *Hub) Publish(r Result) {
	h.published.Add(1)
	h.storeLatest(&r)
	set := h.subs.Load()
	for _, s := range set.all {
		s.offer(&r)
	}
	for _, s := range set.byCamera[r.Camera] {
		s.offer(&r)
	}
}

func (h *Hub) storeLatest(r *Result) {
	slot := (*h.latest.Load())[r.Camera]
	if slot == nil {
		slot = h.addLatestSlot(r.Camera)
	}
	slot.mu.Lock()
	slot.r = *r
	slot.mu.Unlock()
}

// addLatestSlot adds (copy-on-write) the slot of a camera seen for the first time.
func (h *Hub) addLatestSlot(camera string) *latestSlot {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.latest.Load()
	if slot := old[camera]; slot != nil {
		return slot
	}
	m := make(map[string]*latestSlot, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	slot := &latestSlot{}
	m[camera] = slot
	h.latest.Store(&m)
	return slot
}

// Latest returns the newest result published for camera, and false if there is none.
// The returned Detections slice is shared with the hub and must not be modified.
func (h *Hub) Latest(camera string) (Result, bool) {
	slot := (*h.latest.Load())[camera]
	if slot == nil {
		return Result{}, false
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	return slot.r, true
}

// Forget drops the latest result kept for camera, e.g. after the camera was removed.
func (h *Hub) Forget(camera string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.latest.Load()
	if _, ok := old[camera]; !ok {
		return
	}
	m := make(map[string]*latestSlot, len(old))
	for k, v := range old {
		if k != camera {
			m[k] = v
		}
	}
	h.latest.Store(&m)
}

// Subscribe registers a subscriber for camera's results, or for every camera's when camera is
// "". queueLen bounds its queue (<= 0 means the hub's default). The caller must call
// [Hub.Unsubscribe] (or [Subscription.Close]) when done. Subscribing to a closed hub returns a
// subscription that is already closed.
func (h *Hub) Subscribe(camera string, queueLen int) *Subscription {
	if queueLen <= 0 {
		queueLen = h.queueLen
	}
	s := &Subscription{
		hub:    h,
		id:     h.nextID.Add(1),
		camera: camera,
		since:  time.Now(),
		ch:     make(chan Result, queueLen),
		done:   make(chan struct{}),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.cancel()
		return s
	}
	old := h.subs.Load()
	set := old.clone()
	if camera == "" {
		set.all = append(set.all, s)
	} else {
		set.byCamera[camera] = append(set.byCamera[camera], s)
	}
	set.n++
	h.subs.Store(set)
	return s
}

// Unsubscribe removes s from the hub and closes its Done channel. It is idempotent, and a nil s
// is ignored. Results still queued can be drained with [Subscription.TryRecv].
func (h *Hub) Unsubscribe(s *Subscription) {
	if s == nil || s.hub != h {
		return
	}
	h.mu.Lock()
	old := h.subs.Load()
	set := old.without(s)
	if set != old {
		h.subs.Store(set)
	}
	h.mu.Unlock()
	s.cancel()
}

// Close unsubscribes everyone; later subscriptions are closed at once. Publish keeps working
// (it still records the latest results).
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	old := h.subs.Load()
	h.subs.Store(&subSet{})
	h.mu.Unlock()
	old.each(func(s *Subscription) { s.cancel() })
}

// Stats are the hub's counters, for metrics and /api/stats.
type Stats struct {
	Published   uint64 `json:"published"`   // results given to Publish
	Dropped     uint64 `json:"dropped"`     // results dropped from full subscriber queues, all subscribers
	Subscribers int    `json:"subscribers"` // current subscribers
	Cameras     int    `json:"cameras"`     // cameras with a latest result
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Published:   h.published.Load(),
		Dropped:     h.dropped.Load(),
		Subscribers: h.subs.Load().n,
		Cameras:     len(*h.latest.Load()),
	}
}

// SubscriptionInfo describes one subscriber.
type SubscriptionInfo struct {
	ID       uint64    `json:"id"`
	Camera   string    `json:"camera"` // "" = all cameras
	Queued   int       `json:"queued"`
	Capacity int       `json:"capacity"`
	Dropped  uint64    `json:"dropped"`
	Since    time.Time `json:"since"`
}

// Subscriptions describes the current subscribers, ordered by ID.
func (h *Hub) Subscriptions() []SubscriptionInfo {
	set := h.subs.Load()
	out := make([]SubscriptionInfo, 0, set.n)
	set.each(func(s *Subscription) { out = append(out, s.Info()) })
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (set *subSet) clone() *subSet {
	c := &subSet{
		all:      append([]*Subscription(nil), set.all...),
		byCamera: make(map[string][]*Subscription, len(set.byCamera)+1),
		n:        set.n,
	}
	for k, v := range set.byCamera {
		c.byCamera[k] = append([]*Subscription(nil), v...)
	}
	return c
}

// without returns a snapshot lacking s, or set itself if s is not in it.
func (set *subSet) without(s *Subscription) *subSet {
	list := set.all
	if s.camera != "" {
		list = set.byCamera[s.camera]
	}
	i := indexOf(list, s)
	if i < 0 {
		return set
	}
	c := set.clone()
	if s.camera == "" {
		c.all = removeAt(c.all, i)
	} else if rest := removeAt(c.byCamera[s.camera], i); len(rest) > 0 {
		c.byCamera[s.camera] = rest
	} else {
		delete(c.byCamera, s.camera)
	}
	c.n--
	return c
}

func (set *subSet) each(f func(*Subscription)) {
	for _, s := range set.all {
		f(s)
	}
	for _, list := range set.byCamera {
		for _, s := range list {
			f(s)
		}
	}
}

func indexOf(list []*Subscription, s *Subscription) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func removeAt(list []*Subscription, i int) []*Subscription {
	return append(list[:i:i], list[i+1:]...)
}

// Subscription is one subscriber's bounded queue of results. Receive from [Subscription.C], or
// use [Subscription.Recv]; [Subscription.Done] is closed when the subscription ends. C is never
// closed (a publisher may still hold the subscription for a moment after it ends).
type Subscription struct {
	hub     *Hub
	id      uint64
	camera  string
	since   time.Time
	ch      chan Result
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// offer enqueues *r, dropping the oldest queued result while the queue is full.
func (s *Subscription) offer(r *Result) {
	for range offerAttempts {
		select {
		case s.ch <- *r:
			return
		default:
		}
		select {
		case <-s.ch:
			s.drop()
		default:
		}
	}
	s.drop() // lost every race: drop the newest instead of spinning
}

func (s *Subscription) drop() {
	s.dropped.Add(1)
	s.hub.dropped.Add(1)
}

func (s *Subscription) cancel() { s.once.Do(func() { close(s.done) }) }

// C is the channel results arrive on. It is never closed; select on Done as well.
func (s *Subscription) C() <-chan Result { return s.ch }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Recv waits for the next result. It returns an error wrapping [defs.ErrClosed] once the
// subscription has ended and its queue is empty, or ctx's error (wrapped) if ctx ends first.
func (s *Subscription) Recv(ctx context.Context) (Result, error) {
	select {
	case r := <-s.ch:
		return r, nil
	default:
	}
	select {
	case r := <-s.ch:
		return r, nil
	case <-s.done:
		if r, ok := s.TryRecv(); ok {
			return r, nil
		}
		return Result{}, errSubscriptionClosed
	case <-ctx.Done():
		return Result{}, fmt.Errorf("results: waiting for a result: %w", ctx.Err())
	}
}

// TryRecv returns the next queued result without waiting, and false if the queue is empty.
func (s *Subscription) TryRecv() (Result, bool) {
	select {
	case r := <-s.ch:
		return r, true
	default:
		return Result{}, false
	}
}

// Close ends the subscription; it is the same as calling Unsubscribe on its hub.
func (s *Subscription) Close() { s.hub.Unsubscribe(s) }

// ID is the subscription's hub-unique number.
func (s *Subscription) ID() uint64 { return s.id }

// Camera is the camera subscribed to, "" for all cameras.
func (s *Subscription) Camera() string { return s.camera }

// Dropped counts the results dropped from this subscription's full queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Len is the number of results queued now.
func (s *Subscription) Len() int { return len(s.ch) }

// Cap is the queue's capacity.
func (s *Subscription) Cap() int { return cap(s.ch) }

// Info describes the subscription.
func (s *Subscription) Info() SubscriptionInfo {
	return SubscriptionInfo{
		ID:       s.id,
		Camera:   s.camera,
		Queued:   len(s.ch),
		Capacity: cap(s.ch),
		Dropped:  s.dropped.Load(),
		Since:    s.since,
	}
}
