package webrtc

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// nal builds an Annex-B NAL unit with a 4-byte start code.
func nal(header byte, body ...byte) []byte {
	return append([]byte{0, 0, 0, 1, header}, body...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestInspectAU(t *testing.T) {
	info := inspectAU(cat(nal(0x09, 0xf0), nal(0x67, 1), nal(0x68, 2), nal(0x06, 5), nal(0x65, 0x88)))
	if !info.idr || info.slices != 1 || !bytes.Equal(info.sps, []byte{0x67, 1}) || !bytes.Equal(info.pps, []byte{0x68, 2}) {
		t.Errorf("IDR AU: %+v", info)
	}
	info = inspectAU(cat(nal(0x41, 0x9a), nal(0x41, 0x1a)))
	if info.idr || info.slices != 2 || info.sps != nil {
		t.Errorf("P AU: %+v", info)
	}
}

func TestSplitAccessUnits(t *testing.T) {
	idr := cat(nal(0x09, 0x10), nal(0x67, 1), nal(0x68, 2), nal(0x65, 0x88), nal(0x65, 0x40)) // two slices
	p1 := cat(nal(0x09, 0x30), nal(0x41, 0x9a), nal(0x41, 0x20))
	p2 := cat(nal(0x41, 0x9b)) // no AUD: split by first_mb_in_slice == 0
	p3 := cat(nal(0x41, 0x9c))
	aus := SplitAccessUnits(cat(idr, p1, p2, p3))
	want := [][]byte{idr, p1, p2, p3}
	if len(aus) != len(want) {
		t.Fatalf("got %d access units, want %d", len(aus), len(want))
	}
	for i := range want {
		if !bytes.Equal(aus[i], want[i]) {
			t.Errorf("AU %d = %x, want %x", i, aus[i], want[i])
		}
	}
}

func TestRTPClock(t *testing.T) {
	var c rtpClock
	now := time.Unix(100, 0)
	steps := []struct {
		pts  time.Duration
		want int64
	}{
		{5 * time.Second, 0},
		{5*time.Second + 33333333, 2999},
		{5*time.Second + 66666667, 6000},
		{time.Second, 9000}, // backwards: one nominal frame later
		{time.Second + 100*time.Millisecond, 18000},
		{time.Second + 100*time.Millisecond, 21000}, // repeated
	}
	for i, s := range steps {
		if got := c.ticks(s.pts, now); got != s.want {
			t.Errorf("step %d: ticks(%v) = %d, want %d", i, s.pts, got, s.want)
		}
	}
	// Unknown PTS: wall clock since the first access unit.
	var w rtpClock
	w.ticks(-1, now)
	if got := w.ticks(-1, now.Add(time.Second)); got != 90000 {
		t.Errorf("wall clock ticks = %d, want 90000", got)
	}
}

func TestCoalescer(t *testing.T) {
	var mu sync.Mutex
	var fired []time.Time
	c := coalescer{interval: 200 * time.Millisecond, fire: func() {
		mu.Lock()
		fired = append(fired, time.Now())
		mu.Unlock()
	}}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(fired) }

	start := time.Now()
	for range 50 { // a burst over ~500 ms
		c.request()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	n := count()
	elapsed := time.Since(start)
	if max := int(elapsed/(200*time.Millisecond)) + 1; n < 2 || n > max {
		t.Errorf("fired %d times in %v, want 2..%d", n, elapsed, max)
	}
	mu.Lock()
	for i := 1; i < len(fired); i++ {
		if d := fired[i].Sub(fired[i-1]); d < 190*time.Millisecond {
			t.Errorf("firings %d and %d only %v apart", i-1, i, d)
		}
	}
	mu.Unlock()

	// A keyframe written while a request waits cancels it.
	time.Sleep(250 * time.Millisecond)
	n = count()
	c.request() // fires at once
	c.request() // deferred
	c.satisfied()
	time.Sleep(300 * time.Millisecond)
	if got := count(); got != n+1 {
		t.Errorf("after satisfied: fired %d more, want 1", got-n)
	}
	c.stop()
	c.request()
	c.request()
	time.Sleep(50 * time.Millisecond)
	if got := count(); got != n+1 {
		t.Errorf("after stop: fired %d more, want 1", got-n)
	}
}

// TestWriteNeverBlocks checks that a viewer that does not drain its queue only loses frames.
func TestWriteNeverBlocks(t *testing.T) {
	m, err := NewManager(Options{LoopbackOnly: true, ViewerQueueFrames: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := m.Broadcaster("cam")
	s := &session{id: "stuck", queue: make(chan *frame, 2)}
	s.active.Store(true)
	b.mu.Lock()
	b.sessions[s.id] = s
	b.snapshotLocked()
	b.mu.Unlock()

	key := cat(nal(0x67, 0x42, 0xc0, 0x1e), nal(0x68, 0xce), nal(0x65, 0x88, 0x84))
	delta := cat(nal(0x41, 0x9a, 0x02))
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.WriteAccessUnit(key, 0)
		for i := 1; i < 100; i++ {
			b.WriteAccessUnit(delta, time.Duration(i)*33*time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WriteAccessUnit blocked on a stuck viewer")
	}
	st := b.Stats()
	if st.AccessUnits != 100 || st.Keyframes != 1 || st.Dropped != 98 {
		t.Errorf("stats = %+v, want 100 access units, 1 keyframe, 98 dropped", st)
	}
	f := <-s.queue
	if !f.key || f.seq != 1 {
		t.Errorf("first queued frame: key=%v seq=%d", f.key, f.seq)
	}
	// SPS and PPS go first, as one STAP-A (type 24) with the IDR after it.
	if len(f.payloads) != 2 || f.payloads[0][0]&0x1f != 24 || f.payloads[1][0]&0x1f != 5 {
		t.Errorf("keyframe payloads %x", f.payloads)
	}
	b.mu.Lock()
	delete(b.sessions, s.id)
	b.snapshotLocked()
	b.mu.Unlock()
}

// TestKeyframeWithoutParamSets checks that an IDR without SPS/PPS gets the last ones seen.
func TestKeyframeWithoutParamSets(t *testing.T) {
	m, err := NewManager(Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := m.Broadcaster("cam")
	s := &session{id: "v", queue: make(chan *frame, 8)}
	s.active.Store(true)
	b.mu.Lock()
	b.sessions[s.id] = s
	b.snapshotLocked()
	b.mu.Unlock()

	b.WriteAccessUnit(cat(nal(0x67, 0x42, 0xc0, 0x1e), nal(0x68, 0xce), nal(0x65, 0x88, 0x84)), 0)
	b.WriteAccessUnit(cat(nal(0x65, 0x88, 0x85)), 33*time.Millisecond)
	<-s.queue
	f := <-s.queue
	if !f.key || len(f.payloads) != 2 || f.payloads[0][0]&0x1f != 24 {
		t.Errorf("bare IDR: key=%v payloads %x, want STAP-A with SPS/PPS first", f.key, f.payloads)
	}
	if f.ts != 2970 {
		t.Errorf("ts = %d, want 2970", f.ts)
	}
	b.mu.Lock()
	delete(b.sessions, s.id)
	b.snapshotLocked()
	b.mu.Unlock()
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{
		{UDPPortMin: 5000},
		{UDPPortMin: 6000, UDPPortMax: 5000},
		{UDPPortMin: 1, UDPPortMax: 70000},
		{PublicIPs: []string{"not-an-ip"}},
		{ICEServers: []ICEServer{{}}},
		{ICEServers: []ICEServer{{URLs: []string{"http://x"}}}},
	}
	for i, o := range bad {
		if _, err := NewManager(o); err == nil {
			t.Errorf("case %d: NewManager(%+v) succeeded", i, o)
		}
	}
	m, err := NewManager(Options{UDPPortMin: 40000, UDPPortMax: 40100, PublicIPs: []string{"203.0.113.7"},
		ICEServers: []ICEServer{{URLs: []string{"stun:stun.example.net:3478"}}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Close()
}
