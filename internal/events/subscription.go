package events

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gstvision/gstvision/defs"
)

// Subscription is one subscriber's bounded queue of events: when it is full the oldest event is
// dropped (and counted), so a slow subscriber never holds up a camera. Receive from C, select on
// Done as well; C is never closed.
type Subscription struct {
	store   *Store
	id      uint64
	camera  string // "" = every camera
	ch      chan defs.Event
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// offer enqueues ev, dropping the oldest queued event while the queue is full.
func (s *Subscription) offer(ev *defs.Event) {
	for range 4 {
		select {
		case s.ch <- *ev:
			return
		default:
		}
		select {
		case <-s.ch:
			s.dropped.Add(1)
		default:
		}
	}
	s.dropped.Add(1)
}

func (s *Subscription) cancel() { s.once.Do(func() { close(s.done) }) }

// ID numbers the store's subscriptions.
func (s *Subscription) ID() uint64 { return s.id }

// Camera is the camera subscribed to, "" for all.
func (s *Subscription) Camera() string { return s.camera }

// C is the channel events arrive on, in order. It is never closed.
func (s *Subscription) C() <-chan defs.Event { return s.ch }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Dropped counts the events this subscriber lost to a full queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Len is the number of events queued.
func (s *Subscription) Len() int { return len(s.ch) }

// Close ends the subscription; idempotent.
func (s *Subscription) Close() { s.store.Unsubscribe(s) }

// Recv waits for the next event. It returns an error wrapping defs.ErrClosed once the
// subscription has ended and its queue is empty, or ctx's error.
func (s *Subscription) Recv(ctx context.Context) (defs.Event, error) {
	select {
	case ev := <-s.ch:
		return ev, nil
	default:
	}
	select {
	case ev := <-s.ch:
		return ev, nil
	case <-s.done:
		select {
		case ev := <-s.ch:
			return ev, nil
		default:
			return defs.Event{}, errSubscriptionClosed
		}
	case <-ctx.Done():
		return defs.Event{}, fmt.Errorf("events: recv: %w", ctx.Err())
	}
}
