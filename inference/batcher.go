package inference

import (
	"fmt"
	"sync"
	"time"

	"github.com/gstvision/gstvision/defs"
)

// ConcurrentFiller is implemented by a Backend whose Fill may be called from several goroutines
// at once for distinct slots (never concurrently with Run or Close). The Batcher then lets
// cameras fill in parallel instead of taking turns.
type ConcurrentFiller interface {
	ConcurrentFill() bool
}

// Job is one frame handed to the Batcher by a camera.
type Job struct {
	Camera string
	Frame  *defs.Frame
	// Release gives the frame back to its decoder. The Batcher calls it exactly once, whatever
	// happens: as soon as the frame is written into its input slot, or before Submit returns
	// an error. May be nil.
	Release func()
	// Done receives the frame's detections (or the batch's error). It is called exactly once
	// if and only if Submit returned nil, from a goroutine of the Batcher, batches one at a
	// time and in order: it must be quick and must not call Submit. May be nil.
	Done func([]defs.Detection, error)
}

// BatcherStats is a snapshot of a Batcher's counters.
type BatcherStats struct {
	MaxBatch   int
	Batches    uint64        // batches run
	Frames     uint64        // frames in the batches run
	FillErrors uint64        // frames whose Fill failed (Submit returned the error)
	RunErrors  uint64        // batches whose run failed
	SizeHist   []uint64      // SizeHist[k]: batches of k frames (k in 1..MaxBatch)
	LastRun    time.Duration // duration of the latest run (backend + decoding)
	TotalRun   time.Duration // sum of all runs
	// The two halves of the runs, summed: the backend's (device work and copy back, one batch
	// at a time) and the host's (decoding, NMS, mapping; overlapping the next batch's device
	// half). Whichever is larger per batch bounds the throughput.
	DeviceTime, HostTime time.Duration
	// SubmitWait is the time Submit calls spent blocked for a free slot, summed over cameras
	// (per second of wall time: how many cameras wait on average; the leaky queues upstream drop
	// meanwhile). OrderWait is the time finished batches waited for earlier ones to be delivered.
	SubmitWait, OrderWait time.Duration
	// FillTime is the time spent writing frames into their slots (preprocessing), summed.
	FillTime time.Duration
	Fills    uint64
}

// Batcher is the decoupled-mode stage: cameras Submit frames, which are written straight into
// the next free input slot (in the submitting goroutine, so the decoder gets its buffer back
// without waiting on a queue), and one batch goroutine runs a batch when it is full or maxWait
// after its first frame, then hands each job its own detections.
//
// Buffers: each Detector passed to NewBatcher is one set of input slots. With one, Submit
// blocks while that set's batch runs (back-pressure: the leaky queue upstream drops old frames
// meanwhile). With two or more (each on its own Backend), frames fill the next set while the
// previous one runs. A run has two halves: the backend's (the device work and the copy back)
// and the host's (decoding, NMS, delivering the results), both in a goroutine of the run's own,
// so that the next batch's device work starts at once. With three sets, filling, device work
// and host work all overlap; with four or more, two device halves run at once (on their own
// sessions and streams), so that one run's kernels fill the gaps the other leaves while the
// CPU launches its next kernels. More sets than that let frames keep arriving while batches
// wait for a turn on the device: by Little's law, the sets needed are the frame rate times a
// batch's whole cycle (fill, device, host) over the batch size. Runs start in batch order and
// results are delivered in batch order. Fills into a
// set are serialised (a Backend is used by
// one goroutine at a time; a ConcurrentFiller backend, such as the CPU one, lets cameras fill
// distinct slots in parallel) and a set only runs once its fills are done, so a Backend never
// runs while it is being filled. The Batcher does not close the Detectors' backends.
type Batcher struct {
	mu       sync.Mutex
	cond     *sync.Cond // broadcast when a set becomes fillable or on Close
	cur      *batchSet  // set being filled; nil while every set is running
	free     []*batchSet
	maxBatch int
	maxWait  time.Duration
	closed   bool
	stats    BatcherStats

	kick chan struct{} // wakes the batch goroutine (capacity 1)
	done chan struct{} // closed when the batch goroutine has exited

	finishing sync.WaitGroup // runs in progress
	running   chan struct{}  // a token per device half in progress (capacity: how many may overlap)
	delivered chan struct{}  // closed when the latest batch's results are delivered (batch goroutine only)
}

// batchSet is one Detector's slots and the jobs occupying them.
type batchSet struct {
	d        *Detector
	parallel bool       // d's backend takes concurrent fills (ConcurrentFiller)
	fillMu   sync.Mutex // otherwise serialises Fill on d's backend
	jobs     []Job      // per slot (Frame dropped once filled)
	lbs      []Letterbox
	n        int // slots taken
	pending  int // fills in progress
	first    time.Time
}

// NewBatcher starts a Batcher over d (and, for double buffering, more Detectors on other
// Backends of the same model). Batches hold up to maxBatch frames (at most each Detector's
// MaxBatch; less than 1 means 1). maxWait bounds how long the first frame of a batch waits for
// company; 0 runs whatever has arrived as soon as the batch goroutine is free.
func NewBatcher(d *Detector, maxBatch int, maxWait time.Duration, more ...*Detector) *Batcher {
	ds := append([]*Detector{d}, more...)
	for _, x := range ds {
		maxBatch = min(maxBatch, x.MaxBatch())
	}
	maxBatch = max(maxBatch, 1)
	b := &Batcher{
		maxBatch: maxBatch,
		maxWait:  max(maxWait, 0),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	b.cond = sync.NewCond(&b.mu)
	b.running = make(chan struct{}, min(2, max(1, len(ds)-2)))
	b.stats.MaxBatch = maxBatch
	b.stats.SizeHist = make([]uint64, maxBatch+1)
	for _, x := range ds {
		cf, ok := x.Backend().(ConcurrentFiller)
		b.free = append(b.free, &batchSet{
			d: x, parallel: ok && cf.ConcurrentFill(),
			jobs: make([]Job, maxBatch), lbs: make([]Letterbox, maxBatch),
		})
	}
	b.cur, b.free = b.free[0], b.free[1:]
	go b.loop()
	return b
}

// MaxBatch is the batch size the Batcher aims for.
func (b *Batcher) MaxBatch() int { return b.maxBatch }

// Submit writes j.Frame into the next free slot and queues the job for the next batch. It blocks
// while no slot is free. It returns [defs.ErrClosed] after Close, or the frame's Fill error
// (the slot is then skipped); in both cases Done will not be called. Release is called exactly
// once in every case.
func (b *Batcher) Submit(j Job) error {
	release := j.Release
	j.Release = nil
	b.mu.Lock()
	if !b.closed && (b.cur == nil || b.cur.n == b.maxBatch) {
		waitStart := time.Now()
		for !b.closed && (b.cur == nil || b.cur.n == b.maxBatch) {
			b.cond.Wait()
		}
		b.stats.SubmitWait += time.Since(waitStart)
	}
	if b.closed {
		b.mu.Unlock()
		if release != nil {
			release()
		}
		return fmt.Errorf("batcher %w", defs.ErrClosed)
	}
	s := b.cur
	slot := s.n
	s.n++
	s.pending++
	if slot == 0 {
		s.first = time.Now()
	}
	f := j.Frame
	j.Frame = nil
	s.jobs[slot] = j
	b.mu.Unlock()
	if slot == 0 {
		b.wake() // arm the batch goroutine's maxWait timer
	}

	// Fill outside the Batcher's lock: other cameras may reserve slots (and other sets run)
	// meanwhile; fills into this set wait for each other unless its backend allows otherwise.
	fillStart := time.Now()
	if !s.parallel {
		s.fillMu.Lock()
	}
	lb, err := s.d.Fill(slot, f)
	if !s.parallel {
		s.fillMu.Unlock()
	}
	if release != nil {
		release()
	}

	fillTime := time.Since(fillStart)
	b.mu.Lock()
	b.stats.FillTime += fillTime
	b.stats.Fills++
	s.lbs[slot] = lb // zero on error: Run skips the slot
	if err != nil {
		s.jobs[slot] = Job{}
		b.stats.FillErrors++
	}
	s.pending--
	// The batch goroutine waits for fills only once the batch is due; tell it when they end.
	wake := s.pending == 0 && (s.n == b.maxBatch || b.closed || time.Since(s.first) >= b.maxWait)
	b.mu.Unlock()
	if wake {
		b.wake()
	}
	return err
}

func (b *Batcher) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// loop is the batch goroutine: it seals the current set when it is full, has waited maxWait
// since its first frame, or the Batcher is closing (and no fill into it is in progress), runs
// its device half, and hands the host half to finish.
func (b *Batcher) loop() {
	defer close(b.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		s := b.cur
		if s == nil {
			// Every set is running or finishing; the first one back wakes us.
			b.mu.Unlock()
			<-b.kick
			continue
		}
		ready, wait := false, time.Duration(-1)
		if s.n > 0 {
			el := time.Since(s.first)
			due := s.n == b.maxBatch || b.closed || el >= b.maxWait
			switch {
			case due && s.pending == 0:
				ready = true
			case !due:
				wait = b.maxWait - el
			}
			// due with fills in progress: the last fill to finish wakes us.
		}
		if !ready && b.closed && s.n == 0 {
			b.mu.Unlock()
			b.finishing.Wait()
			return
		}
		if !ready {
			b.mu.Unlock()
			if wait >= 0 {
				timer.Reset(wait)
				select {
				case <-b.kick:
				case <-timer.C:
				}
				timer.Stop()
			} else {
				<-b.kick
			}
			continue
		}
		// Seal s; frames go to the next free set, if any, while s runs.
		b.cur = nil
		if len(b.free) > 0 {
			b.cur, b.free = b.free[0], b.free[1:]
			b.cond.Broadcast()
		}
		b.mu.Unlock()
		b.runSet(s)
	}
}

// runSet runs a sealed set in a goroutine, once a device half may start: the device half, then
// the host half (detections, each live job's Done, in batch order); then it gives the set back
// for filling.
func (b *Batcher) runSet(s *batchSet) {
	live := 0
	for _, lb := range s.lbs[:s.n] {
		if lb.SrcW != 0 {
			live++
		}
	}
	prev, mine := b.delivered, make(chan struct{})
	b.delivered = mine
	b.finishing.Add(1)
	b.running <- struct{}{} // here, so that runs start in batch order
	go func() {
		defer b.finishing.Done()
		start := time.Now()
		var (
			p   inferred
			err error
		)
		if live > 0 { // else every fill failed; their Submit calls reported it
			p, err = s.d.infer(s.lbs[:s.n])
		}
		<-b.running
		device := time.Since(start)
		var res [][]defs.Detection
		hostStart := time.Now()
		if live > 0 && err == nil {
			res, err = p.detections()
		}
		host := time.Since(hostStart)
		dur := time.Since(start)
		var order time.Duration
		if prev != nil {
			orderStart := time.Now()
			<-prev // deliver in batch order
			order = time.Since(orderStart)
		}
		if live > 0 {
			b.deliver(s, res, err, live, dur, device, host, order)
		}
		close(mine)
		b.mu.Lock()
		clear(s.jobs)
		clear(s.lbs)
		s.n = 0
		if b.cur == nil {
			b.cur = s
		} else {
			b.free = append(b.free, s)
		}
		b.cond.Broadcast()
		b.mu.Unlock()
		b.wake()
	}()
}

// deliver counts a finished batch and calls each live job's Done.
func (b *Batcher) deliver(s *batchSet, res [][]defs.Detection, err error, live int, dur, device, host, order time.Duration) {
	b.mu.Lock()
	b.stats.DeviceTime += device
	b.stats.HostTime += host
	b.stats.OrderWait += order
	b.stats.Batches++
	b.stats.SizeHist[s.n]++
	b.stats.LastRun = dur
	b.stats.TotalRun += dur
	b.stats.Frames += uint64(live)
	if err != nil {
		b.stats.RunErrors++
	}
	b.mu.Unlock()

	for i, j := range s.jobs[:s.n] {
		if s.lbs[i].SrcW == 0 || j.Done == nil {
			continue
		}
		if err != nil {
			j.Done(nil, err)
		} else {
			j.Done(res[i], nil)
		}
	}
}

// Stats returns a snapshot of the counters.
func (b *Batcher) Stats() BatcherStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.SizeHist = append([]uint64(nil), b.stats.SizeHist...)
	return s
}

// Close stops accepting frames (Submit returns [defs.ErrClosed], including callers blocked in
// it), runs the frames already submitted at once, delivers their results, and returns when the
// batch goroutine has exited. Idempotent.
func (b *Batcher) Close() error {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
	b.wake()
	<-b.done
	return nil
}

// Add returns the sum of s and o, the stats of two stages (one per GPU) taken together:
// counters and times add, the histograms add slot by slot, MaxBatch and LastRun are the larger.
func (s BatcherStats) Add(o BatcherStats) BatcherStats {
	sum := s
	sum.MaxBatch, sum.LastRun = max(s.MaxBatch, o.MaxBatch), max(s.LastRun, o.LastRun)
	sum.Batches += o.Batches
	sum.Frames += o.Frames
	sum.FillErrors += o.FillErrors
	sum.RunErrors += o.RunErrors
	sum.TotalRun += o.TotalRun
	sum.DeviceTime += o.DeviceTime
	sum.HostTime += o.HostTime
	sum.SubmitWait += o.SubmitWait
	sum.OrderWait += o.OrderWait
	sum.FillTime += o.FillTime
	sum.Fills += o.Fills
	sum.SizeHist = make([]uint64, max(len(s.SizeHist), len(o.SizeHist)))
	for i := range sum.SizeHist {
		if i < len(s.SizeHist) {
			sum.SizeHist[i] += s.SizeHist[i]
		}
		if i < len(o.SizeHist) {
			sum.SizeHist[i] += o.SizeHist[i]
		}
	}
	return sum
}
