package bench

import (
	"sort"
	"sync"
	"time"
)

// timeline records when the simulator started producing each frame of each camera.
type timeline struct {
	mu       sync.Mutex
	times    map[int][]time.Time
	restarts map[int]int // a second client stream of the camera started (frame 0 again)
}

func newTimeline() *timeline {
	return &timeline{times: map[int][]time.Time{}, restarts: map[int]int{}}
}

// record notes that frame n of camera cam (1-based) started at at; frame 0 again starts a new
// stream.
func (t *timeline) record(cam, n int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.times[cam]
	if n == 0 && len(ts) > 0 {
		t.restarts[cam]++
		ts = ts[:0]
	}
	for len(ts) <= n {
		ts = append(ts, time.Time{})
	}
	ts[n] = at
	t.times[cam] = ts
}

// snapshot returns the start times of camera cam's frames and how often its stream restarted.
func (t *timeline) snapshot(cam int) ([]time.Time, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), t.times[cam]...), t.restarts[cam]
}

// lastBefore is the last frame produced at or before at (-1 if none).
func lastBefore(ts []time.Time, at time.Time) int {
	i := sort.Search(len(ts), func(i int) bool { return ts[i].After(at) })
	return i - 1
}
