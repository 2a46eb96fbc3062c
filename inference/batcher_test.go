package inference

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
)

// fakeBackend stands in for a model: Fill records the frame's id (carried in Strides[0]) in the
// slot, Run outputs, per slot, one YOLOv8 box (1 class, 1 anchor) at x = 10*(id%60) with
// score idScore(id), so that each result says which frame it belongs to. It
// logs events and counts any overlapping use, which the Backend contract forbids.
type fakeBackend struct {
	name      string
	max       int
	runDelay  time.Duration
	fillDelay time.Duration
	runErr    error
	parallel  bool // offer ConcurrentFill

	fills    atomic.Int32 // fills in progress
	maxFills atomic.Int32

	busy    atomic.Int32
	overlap atomic.Int32
	ids     []float32
	out     []float32
	log     *eventLog
}

type eventLog struct {
	mu sync.Mutex
	ev []string
}

func (l *eventLog) add(s string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.ev = append(l.ev, s)
	l.mu.Unlock()
}

func (l *eventLog) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ev...)
}

func newFake(name string, max int, log *eventLog) *fakeBackend {
	return &fakeBackend{name: name, max: max, ids: make([]float32, max), out: make([]float32, max*5), log: log}
}

func (b *fakeBackend) enter() {
	if !b.busy.CompareAndSwap(0, 1) {
		b.overlap.Add(1)
	}
}
func (b *fakeBackend) leave() { b.busy.Store(0) }

func (b *fakeBackend) Fill(slot int, f *defs.Frame, lb Letterbox) error {
	if b.parallel {
		n := b.fills.Add(1)
		defer b.fills.Add(-1)
		for m := b.maxFills.Load(); n > m && !b.maxFills.CompareAndSwap(m, n); m = b.maxFills.Load() {
		}
		if b.busy.Load() != 0 {
			b.overlap.Add(1) // a fill during a run
		}
		time.Sleep(b.fillDelay)
		if b.busy.Load() != 0 {
			b.overlap.Add(1)
		}
	} else {
		b.enter()
		defer b.leave()
		time.Sleep(b.fillDelay)
	}
	if slot < 0 || slot >= b.max {
		return fmt.Errorf("%w: slot %d", ErrBatch, slot)
	}
	b.ids[slot] = float32(f.Strides[0])
	b.log.add(b.name + " fill")
	return nil
}

func (b *fakeBackend) Run(n int) ([]float32, []int64, error) {
	b.enter()
	defer b.leave()
	if b.fills.Load() != 0 {
		b.overlap.Add(1) // a run during a fill
	}
	b.log.add(b.name + " run start")
	time.Sleep(b.runDelay)
	b.log.add(b.name + " run end")
	if b.runErr != nil {
		return nil, nil, b.runErr
	}
	for i := range n {
		o := b.out[i*5 : i*5+5] // channels of the single anchor: cx, cy, w, h, score
		id := b.ids[i]
		o[0], o[1], o[2], o[3], o[4] = 10*float32(int(id)%60)+5, 5, 10, 10, idScore(int(id))
	}
	return b.out[:n*5], []int64{int64(n), 5, 1}, nil
}

func (b *fakeBackend) MaxBatch() int        { return b.max }
func (b *fakeBackend) ConcurrentFill() bool { return b.parallel }
func (b *fakeBackend) Close() error         { return nil }

func idScore(id int) float32 { return 0.6 + float32(id)*1e-4 }

var fakeInfo = ModelInfo{Path: "fake.onnx", InputW: 640, InputH: 640, Layout: LayoutYOLOv8, NumClasses: 1, Anchors: 1}

func fakeDetector(b Backend) *Detector { return NewDetector(b, fakeInfo, []string{"thing"}, 0.5, 0.5) }

// idFrame is a 640x640 frame (identity letterbox) whose id the fake backend reads.
func idFrame(id int) *defs.Frame {
	f := &defs.Frame{Format: defs.I420, Width: 640, Height: 640}
	f.Strides[0] = id
	return f
}

// tracker checks the Job contract for many jobs: Release once, before Done; Done once, with
// this job's own detection. It records the order in which Done was called.
type tracker struct {
	t        *testing.T
	mu       sync.Mutex
	released map[int]int
	done     map[int]int
	errs     map[int]error
	order    []int
	wg       sync.WaitGroup
}

func newTracker(t *testing.T) *tracker {
	return &tracker{t: t, released: map[int]int{}, done: map[int]int{}, errs: map[int]error{}}
}

// job makes a job for frame id and expects Done unless expectDone is false.
func (tr *tracker) job(id int, expectDone bool) Job {
	if expectDone {
		tr.wg.Add(1)
	}
	cam := fmt.Sprintf("cam%d", id%7)
	return Job{
		Camera: cam,
		Frame:  idFrame(id),
		Release: func() {
			tr.mu.Lock()
			tr.released[id]++
			tr.mu.Unlock()
		},
		Done: func(dets []defs.Detection, err error) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if !expectDone {
				tr.t.Errorf("frame %d: unexpected Done", id)
				return
			}
			tr.done[id]++
			tr.errs[id] = err
			tr.order = append(tr.order, id)
			if tr.released[id] != 1 {
				tr.t.Errorf("frame %d (%s): Done before Release", id, cam)
			}
			if err == nil && (len(dets) != 1 || dets[0].Box[0] != float32(10*(id%60)) || dets[0].Score != idScore(id)) {
				tr.t.Errorf("frame %d (%s): got detections %+v", id, cam, dets)
			}
			tr.wg.Done()
		},
	}
}

func (tr *tracker) wait(timeout time.Duration) {
	tr.t.Helper()
	ch := make(chan struct{})
	go func() { tr.wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(timeout):
		tr.t.Fatal("timed out waiting for Done")
	}
}

// inOrder fails the test unless Done was called for exactly ids, in that order.
func (tr *tracker) inOrder(ids ...int) {
	tr.t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if fmt.Sprint(tr.order) != fmt.Sprint(ids) {
		tr.t.Errorf("results delivered in order %v, want batch order %v", tr.order, ids)
	}
}

func (tr *tracker) check(ids ...int) {
	tr.t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, id := range ids {
		if tr.released[id] != 1 {
			tr.t.Errorf("frame %d released %d times", id, tr.released[id])
		}
	}
}

// leakCheck fails the test if goroutines started during it outlive it.
func leakCheck(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("goroutine leak: %d before, %d after", before, n)
		}
	}
}

func TestBatcherFullBatch(t *testing.T) {
	defer leakCheck(t)()
	fb := newFake("A", 4, nil)
	b := NewBatcher(fakeDetector(fb), 4, time.Hour)
	tr := newTracker(t)
	var wg sync.WaitGroup
	for id := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Submit(tr.job(id, true)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	tr.wait(2 * time.Second) // a full batch must not wait for the hour
	tr.check(0, 1, 2, 3)
	st := b.Stats()
	if st.Batches != 1 || st.SizeHist[4] != 1 || st.Frames != 4 || st.MaxBatch != 4 {
		t.Errorf("stats %+v", st)
	}
	b.Close()
	if fb.overlap.Load() != 0 {
		t.Error("backend used by two goroutines at once")
	}
}

func TestBatcherTimeout(t *testing.T) {
	defer leakCheck(t)()
	b := NewBatcher(fakeDetector(newFake("A", 8, nil)), 8, 40*time.Millisecond)
	defer b.Close()
	tr := newTracker(t)
	start := time.Now()
	for id := range 3 {
		if err := b.Submit(tr.job(id, true)); err != nil {
			t.Fatal(err)
		}
	}
	tr.wait(2 * time.Second)
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("batch ran after %v, before maxWait", el)
	}
	st := b.Stats()
	if st.Batches != 1 || st.SizeHist[3] != 1 || st.LastRun <= 0 {
		t.Errorf("stats %+v", st)
	}
	// A later frame starts a new batch with its own deadline.
	if err := b.Submit(tr.job(3, true)); err != nil {
		t.Fatal(err)
	}
	tr.wait(2 * time.Second)
	if st := b.Stats(); st.Batches != 2 || st.SizeHist[1] != 1 {
		t.Errorf("stats %+v", st)
	}
	tr.check(0, 1, 2, 3)
}

func TestBatcherMaxBatchClamped(t *testing.T) {
	b := NewBatcher(fakeDetector(newFake("A", 2, nil)), 16, time.Millisecond)
	defer b.Close()
	if b.MaxBatch() != 2 {
		t.Fatalf("max batch %d, backend has 2 slots", b.MaxBatch())
	}
}

func TestBatcherBackPressure(t *testing.T) {
	defer leakCheck(t)()
	log := &eventLog{}
	fb := newFake("A", 2, log)
	fb.runDelay = 80 * time.Millisecond
	b := NewBatcher(fakeDetector(fb), 2, 0)
	tr := newTracker(t)
	for id := range 2 {
		if err := b.Submit(tr.job(id, true)); err != nil {
			t.Fatal(err)
		}
	}
	// The batch of 2 is running (or about to): the only set's slots are taken, so the third
	// frame waits for the run to end before it is written.
	time.Sleep(10 * time.Millisecond)
	start := time.Now()
	if err := b.Submit(tr.job(2, true)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("Submit returned after %v while the batch was running", el)
	}
	tr.wait(2 * time.Second)
	b.Close()
	ev := log.events()
	want := []string{"A fill", "A fill", "A run start", "A run end", "A fill", "A run start", "A run end"}
	if fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", ev, want)
	}
	if fb.overlap.Load() != 0 {
		t.Error("backend used by two goroutines at once")
	}
}

func TestBatcherDoubleBuffer(t *testing.T) {
	defer leakCheck(t)()
	log := &eventLog{}
	fa, fb := newFake("A", 2, log), newFake("B", 2, log)
	fa.runDelay, fb.runDelay = 80*time.Millisecond, 80*time.Millisecond
	b := NewBatcher(fakeDetector(fa), 2, 0, fakeDetector(fb))
	tr := newTracker(t)
	for id := range 2 {
		if err := b.Submit(tr.job(id, true)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond) // A is running
	for id := 2; id < 4; id++ {
		if err := b.Submit(tr.job(id, true)); err != nil {
			t.Fatal(err)
		}
	}
	tr.wait(2 * time.Second)
	b.Close()
	// B's fills happen while A runs (before A's run ends); B runs after A.
	ev := log.events()
	pos := func(e string, nth int) int {
		for i, x := range ev {
			if x == e {
				if nth == 0 {
					return i
				}
				nth--
			}
		}
		return -1
	}
	aEnd := pos("A run end", 0)
	if pos("B fill", 1) < 0 || pos("B fill", 1) > aEnd || pos("B run start", 0) < aEnd || pos("A fill", 2) >= 0 {
		t.Errorf("events %v: B should fill while A runs", ev)
	}
	tr.check(0, 1, 2, 3)
	if fa.overlap.Load()+fb.overlap.Load() != 0 {
		t.Error("a backend was used by two goroutines at once")
	}
}

// With three sets, a batch's device half runs while the previous batch's host half (NMS,
// delivery) is still going, and results are still delivered in batch order.
func TestBatcherPipelinesHostHalf(t *testing.T) {
	defer leakCheck(t)()
	log := &eventLog{}
	fa, fb, fc := newFake("A", 2, log), newFake("B", 2, log), newFake("C", 2, log)
	for _, f := range []*fakeBackend{fa, fb, fc} {
		f.runDelay = 30 * time.Millisecond
	}
	b := NewBatcher(fakeDetector(fa), 2, time.Hour, fakeDetector(fb), fakeDetector(fc))
	tr := newTracker(t)
	for id := range 6 {
		j := tr.job(id, true)
		done := j.Done
		j.Done = func(dets []defs.Detection, err error) {
			log.add(fmt.Sprintf("done %d", id))
			time.Sleep(25 * time.Millisecond) // a slow consumer in the host half
			done(dets, err)
		}
		if err := b.Submit(j); err != nil {
			t.Fatal(err)
		}
	}
	tr.wait(3 * time.Second)
	b.Close()
	ev := log.events()
	idx := func(e string) int {
		for i, x := range ev {
			if x == e {
				return i
			}
		}
		return -1
	}
	if bs, d1 := idx("B run start"), idx("done 1"); bs < 0 || d1 < 0 || bs > d1 {
		t.Errorf("events %v: B's device half should start before A's results are all delivered", ev)
	}
	tr.inOrder(0, 1, 2, 3, 4, 5)
	tr.check(0, 1, 2, 3, 4, 5)
	if fa.overlap.Load()+fb.overlap.Load()+fc.overlap.Load() != 0 {
		t.Error("a backend was used by two goroutines at once")
	}
	if st := b.Stats(); st.Batches != 3 || st.Frames != 6 {
		t.Errorf("stats %+v, want 3 batches of 6 frames", st)
	}
}

// With four sets, two device halves run at once, never three, and results keep batch order.
func TestBatcherOverlapsTwoRuns(t *testing.T) {
	defer leakCheck(t)()
	log := &eventLog{}
	var fakes []*fakeBackend
	var dets []*Detector
	for _, name := range []string{"A", "B", "C", "D"} {
		f := newFake(name, 2, log)
		f.runDelay = 60 * time.Millisecond
		fakes = append(fakes, f)
		dets = append(dets, fakeDetector(f))
	}
	b := NewBatcher(dets[0], 2, time.Hour, dets[1:]...)
	tr := newTracker(t)
	for id := range 8 {
		if err := b.Submit(tr.job(id, true)); err != nil {
			t.Fatal(err)
		}
	}
	tr.wait(3 * time.Second)
	b.Close()
	ev := log.events()
	running, most := 0, 0
	for _, e := range ev {
		switch {
		case strings.HasSuffix(e, "run start"):
			running++
			most = max(most, running)
		case strings.HasSuffix(e, "run end"):
			running--
		}
	}
	if most != 2 {
		t.Errorf("events %v: at most %d runs at once, want 2", ev, most)
	}
	tr.inOrder(0, 1, 2, 3, 4, 5, 6, 7)
	for _, f := range fakes {
		if f.overlap.Load() != 0 {
			t.Errorf("backend %s used by two goroutines at once", f.name)
		}
	}
}

func TestBatcherCloseDrains(t *testing.T) {
	defer leakCheck(t)()
	b := NewBatcher(fakeDetector(newFake("A", 8, nil)), 8, time.Hour)
	tr := newTracker(t)
	for id := range 3 {
		if err := b.Submit(tr.job(id, true)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returned: the pending batch has run and delivered, without waiting for the hour.
	tr.wait(10 * time.Millisecond)
	if err := b.Submit(tr.job(9, false)); !errors.Is(err, defs.ErrClosed) {
		t.Errorf("submit after close: %v", err)
	}
	tr.check(0, 1, 2, 9)
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestBatcherCloseWakesBlockedSubmit(t *testing.T) {
	defer leakCheck(t)()
	fb := newFake("A", 1, nil)
	fb.runDelay = 100 * time.Millisecond
	b := NewBatcher(fakeDetector(fb), 1, 0)
	tr := newTracker(t)
	if err := b.Submit(tr.job(0, true)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // running; the next Submit blocks
	errc := make(chan error)
	go func() { errc <- b.Submit(tr.job(1, false)) }()
	time.Sleep(10 * time.Millisecond)
	b.Close()
	if err := <-errc; !errors.Is(err, defs.ErrClosed) {
		t.Errorf("blocked submit: %v", err)
	}
	tr.wait(time.Second)
	tr.check(0, 1)
}

func TestBatcherErrors(t *testing.T) {
	defer leakCheck(t)()
	// A frame that cannot be filled: Submit says so, Release still runs, Done does not; the
	// rest of the batch is unaffected.
	b := NewBatcher(fakeDetector(newFake("A", 2, nil)), 2, time.Hour)
	tr := newTracker(t)
	bad := tr.job(5, false)
	bad.Frame = &defs.Frame{} // no size
	if err := b.Submit(bad); !errors.Is(err, ErrBadFrame) {
		t.Errorf("bad frame: %v", err)
	}
	if err := b.Submit(tr.job(6, true)); err != nil {
		t.Fatal(err)
	}
	tr.wait(2 * time.Second)
	tr.check(5, 6)
	if st := b.Stats(); st.FillErrors != 1 || st.Frames != 1 || st.SizeHist[2] != 1 {
		t.Errorf("stats %+v", st)
	}
	b.Close()

	// A failing run: every job gets the error.
	fb := newFake("A", 2, nil)
	fb.runErr = errors.New("boom")
	b = NewBatcher(fakeDetector(fb), 2, time.Millisecond)
	tr = newTracker(t)
	for id := range 2 {
		if err := b.Submit(tr.job(id, true)); err != nil {
			t.Fatal(err)
		}
	}
	tr.wait(2 * time.Second)
	for id := range 2 {
		if tr.errs[id] == nil || tr.errs[id].Error() != "boom" {
			t.Errorf("frame %d: err %v", id, tr.errs[id])
		}
	}
	if st := b.Stats(); st.RunErrors != 1 {
		t.Errorf("stats %+v", st)
	}
	b.Close()
}

func TestBatcherManyCameras(t *testing.T) {
	defer leakCheck(t)()
	fa, fb := newFake("A", 4, nil), newFake("B", 4, nil)
	fa.runDelay, fb.runDelay = time.Millisecond, time.Millisecond
	b := NewBatcher(fakeDetector(fa), 4, 2*time.Millisecond, fakeDetector(fb))
	tr := newTracker(t)
	const cams, per = 8, 40
	var wg sync.WaitGroup
	for c := range cams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := b.Submit(tr.job(c*per+i, true)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	tr.wait(5 * time.Second)
	b.Close()
	st := b.Stats()
	var frames uint64
	for k, n := range st.SizeHist {
		frames += uint64(k) * n
	}
	if st.Frames != cams*per || frames != cams*per {
		t.Errorf("stats %+v", st)
	}
	for id := range cams * per {
		if tr.done[id] != 1 || tr.released[id] != 1 {
			t.Fatalf("frame %d: done %d released %d", id, tr.done[id], tr.released[id])
		}
	}
	if fa.overlap.Load()+fb.overlap.Load() != 0 {
		t.Error("a backend was used by two goroutines at once")
	}
	t.Logf("batch sizes: %v over %d batches", st.SizeHist, st.Batches)
}

func TestBatcherConcurrentFill(t *testing.T) {
	defer leakCheck(t)()
	for _, parallel := range []bool{false, true} {
		fb := newFake("A", 4, nil)
		fb.parallel, fb.fillDelay, fb.runDelay = parallel, 5*time.Millisecond, time.Millisecond
		b := NewBatcher(fakeDetector(fb), 4, time.Millisecond)
		tr := newTracker(t)
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if err := b.Submit(tr.job(c*10+i, true)); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		tr.wait(5 * time.Second)
		b.Close()
		if fb.overlap.Load() != 0 {
			t.Errorf("parallel=%v: fill and run overlapped", parallel)
		}
		if parallel && fb.maxFills.Load() < 2 {
			t.Errorf("parallel fills allowed but never happened")
		}
	}
}

// TestBatcherStatsAdd: two GPUs' stages taken together count every batch and frame once,
// their histograms slot by slot, whatever their lengths.
func TestBatcherStatsAdd(t *testing.T) {
	a := BatcherStats{MaxBatch: 4, Batches: 3, Frames: 7, RunErrors: 1, SizeHist: []uint64{0, 1, 0, 1, 1}, TotalRun: 3 * time.Millisecond, LastRun: time.Millisecond}
	b := BatcherStats{MaxBatch: 2, Batches: 2, Frames: 3, FillErrors: 2, SizeHist: []uint64{0, 1, 1}, TotalRun: 2 * time.Millisecond, LastRun: 2 * time.Millisecond}
	s := a.Add(b)
	if s.MaxBatch != 4 || s.Batches != 5 || s.Frames != 10 || s.RunErrors != 1 || s.FillErrors != 2 ||
		s.TotalRun != 5*time.Millisecond || s.LastRun != 2*time.Millisecond {
		t.Errorf("sum %+v", s)
	}
	if want := []uint64{0, 2, 1, 1, 1}; !slices.Equal(s.SizeHist, want) {
		t.Errorf("histogram %v, want %v", s.SizeHist, want)
	}
	if !slices.Equal(a.SizeHist, []uint64{0, 1, 0, 1, 1}) {
		t.Errorf("Add changed its receiver's histogram: %v", a.SizeHist)
	}
}
