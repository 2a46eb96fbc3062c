package events

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// GrabFunc returns the JPEG of camera's current picture (the app passes the annotated viewer's
// snapshot: the next frame it draws, with the boxes).
type GrabFunc func(ctx context.Context, camera string) ([]byte, error)

// SnapshotLimits bound the snapshot store. Zero fields take the defaults.
type SnapshotLimits struct {
	Max      int           // snapshots kept (64)
	MaxBytes int           // JPEG bytes kept (16 MiB)
	Workers  int           // snapshots taken at once (2)
	Queue    int           // snapshots waiting to be taken; more are not taken (16)
	Timeout  time.Duration // longest wait for one picture (5 s)
	// MinInterval is the shortest time between two pictures of one camera (1 s): events that
	// come sooner wait for the next picture together. A noisy detector makes events every frame;
	// each picture is a frame copied, drawn and JPEG-encoded.
	MinInterval time.Duration
}

func (l SnapshotLimits) withDefaults() SnapshotLimits {
	if l.Max <= 0 {
		l.Max = 64
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 16 << 20
	}
	if l.Workers <= 0 {
		l.Workers = 2
	}
	if l.Queue <= 0 {
		l.Queue = 16
	}
	if l.Timeout <= 0 {
		l.Timeout = 5 * time.Second
	}
	if l.MinInterval <= 0 {
		l.MinInterval = time.Second
	}
	return l
}

// SnapshotPath is the URL path of event id's snapshot.
func SnapshotPath(id uint64) string {
	return "/api/events/" + strconv.FormatUint(id, 10) + "/snapshot.jpg"
}

// shot is one picture shared by the events first..last of one camera (those of one frame, and
// of the frames that came while it waited to be taken).
type shot struct {
	camera      string
	first, last uint64
	started     bool
	evicted     bool
	done        chan struct{}
	jpg         []byte
	err         error
}

// Snapshots takes and keeps the pictures of events' moments, bounded in count and bytes: a
// picture is taken as soon as its events are added (the first frame drawn after them, one frame
// later at most when the camera's annotated view is running), the oldest are evicted, and when
// too many wait to be taken new events get none rather than queueing without bound.
type Snapshots struct {
	grab   GrabFunc
	lim    SnapshotLimits
	queue  chan *shot
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	shots   []*shot // by increasing first
	pending map[string]*shot
	taken   map[string]time.Time // when each camera's latest picture was started
	bytes   int
	closed  bool
}

// NewSnapshots starts the workers that take pictures with grab.
func NewSnapshots(grab GrabFunc, lim SnapshotLimits) *Snapshots {
	lim = lim.withDefaults()
	s := &Snapshots{grab: grab, lim: lim, queue: make(chan *shot, lim.Queue), pending: map[string]*shot{},
		taken: map[string]time.Time{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range lim.Workers {
		s.wg.Go(s.work)
	}
	return s
}

// request asks for the picture of events first..last of camera and reports whether they will
// have one.
func (s *Snapshots) request(camera string, first, last uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if p := s.pending[camera]; p != nil && !p.started {
		p.last = last // not taken yet: it shows these events' moment as well
		return true
	}
	sh := &shot{camera: camera, first: first, last: last, done: make(chan struct{})}
	if wait := time.Until(s.taken[camera].Add(s.lim.MinInterval)); wait > 0 {
		// Too soon after the camera's last picture: this one is taken when the interval ends,
		// and the events until then join it.
		time.AfterFunc(wait, func() { s.enqueueLater(sh) })
	} else {
		select {
		case s.queue <- sh:
		default:
			return false
		}
	}
	s.pending[camera] = sh
	s.shots = append(s.shots, sh)
	s.evictLocked()
	return true
}

// enqueueLater queues a picture that waited out its camera's MinInterval; with the queue full
// its events get none.
func (s *Snapshots) enqueueLater(sh *shot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.started {
		return
	}
	if !sh.evicted && !s.closed {
		select {
		case s.queue <- sh:
			return
		default:
		}
	}
	sh.started = true
	if !sh.evicted {
		sh.err = fmt.Errorf("camera %q: too many pictures waiting", sh.camera)
	}
	if s.pending[sh.camera] == sh {
		delete(s.pending, sh.camera)
	}
	close(sh.done)
}

func (s *Snapshots) work() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case sh := <-s.queue:
			s.take(sh)
		}
	}
}

func (s *Snapshots) take(sh *shot) {
	s.mu.Lock()
	sh.started = true
	s.taken[sh.camera] = time.Now()
	if s.pending[sh.camera] == sh {
		delete(s.pending, sh.camera)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, s.lim.Timeout)
	jpg, err := s.grab(ctx, sh.camera)
	cancel()
	s.mu.Lock()
	sh.jpg, sh.err = jpg, err
	switch {
	case sh.evicted:
		sh.jpg = nil
	case err == nil && len(jpg) == 0:
		sh.err = fmt.Errorf("camera %q gave an empty picture", sh.camera)
	default:
		s.bytes += len(jpg)
		s.evictLocked()
	}
	s.mu.Unlock()
	close(sh.done)
}

// evictLocked drops the oldest pictures past the limits.
func (s *Snapshots) evictLocked() {
	for len(s.shots) > 0 && (len(s.shots) > s.lim.Max || s.bytes > s.lim.MaxBytes) {
		old := s.shots[0]
		s.shots = s.shots[1:]
		s.bytes -= len(old.jpg)
		old.jpg, old.evicted = nil, true
		if s.pending[old.camera] == old {
			delete(s.pending, old.camera)
		}
	}
}

// get waits for event id's picture.
func (s *Snapshots) get(ctx context.Context, id uint64) ([]byte, error) {
	s.mu.Lock()
	var sh *shot
	for _, x := range s.shots {
		if x.first <= id && id <= x.last {
			sh = x
			break
		}
	}
	s.mu.Unlock()
	if sh == nil {
		return nil, fmt.Errorf("%w: event %d", ErrNoSnapshot, id)
	}
	select {
	case <-sh.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("events: snapshot of event %d: %w", id, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case sh.err != nil:
		return nil, fmt.Errorf("%w: event %d: %w", ErrNoSnapshot, id, sh.err)
	case sh.jpg == nil:
		return nil, fmt.Errorf("%w: event %d: evicted", ErrNoSnapshot, id)
	}
	return sh.jpg, nil
}

func (s *Snapshots) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
