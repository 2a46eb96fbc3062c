package results

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
)

func res(camera string, frame uint64) Result {
	return Result{Camera: camera, Frame: frame}
}

func TestSubscribeFilter(t *testing.T) {
	h := NewHub(Options{})
	all := h.Subscribe("", 10)
	one := h.Subscribe("cam1", 10)
	defer all.Close()
	defer one.Close()

	h.Publish(res("cam1", 1))
	h.Publish(res("cam2", 2))
	h.Publish(res("cam1", 3))

	if got := drain(all); !equalFrames(got, 1, 2, 3) {
		t.Errorf("all-cameras subscriber got frames %v, want [1 2 3]", got)
	}
	if got := drain(one); !equalFrames(got, 1, 3) {
		t.Errorf("cam1 subscriber got frames %v, want [1 3]", got)
	}
	if st := h.Stats(); st.Published != 3 || st.Dropped != 0 || st.Subscribers != 2 || st.Cameras != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestDropOldest(t *testing.T) {
	h := NewHub(Options{})
	s := h.Subscribe("", 3)
	defer s.Close()
	other := h.Subscribe("", 100)
	defer other.Close()
	for i := range uint64(10) {
		h.Publish(res("c", i))
	}
	if got := drain(s); !equalFrames(got, 7, 8, 9) {
		t.Errorf("got frames %v, want the newest [7 8 9]", got)
	}
	if s.Dropped() != 7 {
		t.Errorf("subscriber Dropped = %d, want 7", s.Dropped())
	}
	if other.Dropped() != 0 || len(drain(other)) != 10 {
		t.Errorf("the roomy subscriber lost results")
	}
	if st := h.Stats(); st.Dropped != 7 {
		t.Errorf("hub Dropped = %d, want 7", st.Dropped)
	}
	infos := h.Subscriptions()
	if len(infos) != 2 || infos[0].ID != s.ID() || infos[0].Dropped != 7 || infos[0].Capacity != 3 || infos[1].Capacity != 100 {
		t.Errorf("Subscriptions = %+v", infos)
	}
}

func TestDefaultQueueLen(t *testing.T) {
	if got := NewHub(Options{}).Subscribe("", 0).Cap(); got != DefaultQueueLen {
		t.Errorf("default Cap = %d, want %d", got, DefaultQueueLen)
	}
	if got := NewHub(Options{QueueLen: 5}).Subscribe("", -1).Cap(); got != 5 {
		t.Errorf("Options.QueueLen Cap = %d, want 5", got)
	}
}

func TestUnsubscribe(t *testing.T) {
	h := NewHub(Options{})
	a := h.Subscribe("cam1", 4)
	b := h.Subscribe("cam1", 4)
	h.Publish(res("cam1", 1))
	h.Unsubscribe(a)
	h.Unsubscribe(a) // idempotent
	h.Unsubscribe(nil)
	h.Publish(res("cam1", 2))

	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed after Unsubscribe")
	}
	// a keeps what was queued before, then reports defs.ErrClosed.
	ctx := context.Background()
	if r, err := a.Recv(ctx); err != nil || r.Frame != 1 {
		t.Fatalf("Recv after Unsubscribe = %v, %v; want frame 1", r.Frame, err)
	}
	if _, err := a.Recv(ctx); !errors.Is(err, defs.ErrClosed) {
		t.Fatalf("Recv on drained closed subscription: %v, want ErrClosed", err)
	}
	if got := drain(b); !equalFrames(got, 1, 2) {
		t.Errorf("remaining subscriber got %v, want [1 2]", got)
	}
	if n := h.Stats().Subscribers; n != 1 {
		t.Errorf("Subscribers = %d, want 1", n)
	}
	b.Close()
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("Subscribers = %d, want 0", n)
	}
}

func TestRecvContext(t *testing.T) {
	h := NewHub(Options{})
	s := h.Subscribe("", 1)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Recv = %v, want DeadlineExceeded", err)
	}
	go h.Publish(res("x", 42))
	r, err := s.Recv(context.Background())
	if err != nil || r.Frame != 42 {
		t.Errorf("Recv = %v, %v", r.Frame, err)
	}
}

func TestClose(t *testing.T) {
	h := NewHub(Options{})
	s := h.Subscribe("", 1)
	h.Close()
	select {
	case <-s.Done():
	default:
		t.Fatal("Close did not end subscriptions")
	}
	late := h.Subscribe("cam", 1)
	select {
	case <-late.Done():
	default:
		t.Fatal("Subscribe after Close returned an open subscription")
	}
	h.Publish(res("cam", 9)) // must not panic or block
	if r, ok := h.Latest("cam"); !ok || r.Frame != 9 {
		t.Errorf("Latest after Close = %v, %v", r.Frame, ok)
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("Subscribers after Close = %d", n)
	}
}

func TestLatest(t *testing.T) {
	h := NewHub(Options{})
	if _, ok := h.Latest("cam1"); ok {
		t.Fatal("Latest of an unseen camera reported ok")
	}
	dets := []defs.Detection{{Label: "x"}}
	h.Publish(Result{Camera: "cam1", Frame: 1})
	h.Publish(Result{Camera: "cam2", Frame: 5})
	h.Publish(Result{Camera: "cam1", Frame: 2, Detections: dets})
	r, ok := h.Latest("cam1")
	if !ok || r.Frame != 2 || len(r.Detections) != 1 {
		t.Errorf("Latest(cam1) = %+v, %v", r, ok)
	}
	if r, ok := h.Latest("cam2"); !ok || r.Frame != 5 {
		t.Errorf("Latest(cam2) = %+v, %v", r, ok)
	}
	h.Forget("cam1")
	if _, ok := h.Latest("cam1"); ok {
		t.Error("Latest after Forget reported ok")
	}
}

// TestConcurrent runs publishers, subscribers coming and going, and readers at once; it is
// meant for -race.
func TestConcurrent(t *testing.T) {
	h := NewHub(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for p := range 4 {
		cam := []string{"a", "b"}[p%2]
		wg.Go(func() {
			for i := range uint64(5000) {
				h.Publish(res(cam, i))
			}
		})
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for ctx.Err() == nil {
				s := h.Subscribe("a", 8)
				for range 50 {
					if _, err := s.Recv(ctx); err != nil {
						break
					}
				}
				s.Close()
				h.Latest("b")
				h.Stats()
				h.Subscriptions()
			}
		})
	}
	wg.Wait()
	cancel()
	readers.Wait()
	if st := h.Stats(); st.Published != 20000 || st.Subscribers != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestPublishDoesNotAllocate(t *testing.T) {
	h := NewHub(Options{})
	subs := []*Subscription{h.Subscribe("", 4), h.Subscribe("cam1", 4), h.Subscribe("cam2", 4)}
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	r := benchResult(5)
	h.Publish(r) // first sight of the camera allocates its latest slot
	allocs := testing.AllocsPerRun(1000, func() { h.Publish(r) })
	if allocs != 0 {
		t.Errorf("Publish allocates %v times per call", allocs)
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		subs int
	}{{"0subs", 0}, {"1sub", 1}, {"16subs", 16}} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewHub(Options{})
			for i := range bc.subs {
				cam := ""
				if i%2 == 1 {
					cam = "cam1"
				}
				s := h.Subscribe(cam, 64) // never read: every publish drops the oldest
				defer s.Close()
			}
			r := benchResult(5)
			b.ReportAllocs()
			for b.Loop() {
				h.Publish(r)
			}
		})
	}
	b.Run("parallel/4subs", func(b *testing.B) {
		h := NewHub(Options{})
		for range 4 {
			s := h.Subscribe("", 64)
			defer s.Close()
		}
		r := benchResult(5)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Publish(r)
			}
		})
	})
}

func drain(s *Subscription) []uint64 {
	var frames []uint64
	for {
		r, ok := s.TryRecv()
		if !ok {
			return frames
		}
		frames = append(frames, r.Frame)
	}
}

func equalFrames(got []uint64, want ...uint64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
