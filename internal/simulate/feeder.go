package simulate

import (
	"errors"
	"sync"
	"time"
)

// feeder produces the frames of one client's media: frame n of the camera's scene, with
// PTS n/FPS, paced in real time by the wall clock. (The appsrc, a live source, also waits
// for each frame's running time before pushing it on; the timestamp jumps of
// Options.JumpEverySec are applied after it, by a pad probe in C.)
type feeder struct {
	id    uintptr
	srv   *Server
	cam   int
	scene *Scene
	src   *frameSource
	fps   int

	started  chan struct{} // first need-data: the pipeline is running
	stop     chan struct{}
	stopOnce sync.Once

	// guarded by srv.mu
	exited    bool
	finalized bool
}

func newFeeder(s *Server, cam int, src *frameSource) *feeder {
	return &feeder{
		srv:     s,
		cam:     cam,
		scene:   s.scenes[cam-1],
		src:     src,
		fps:     s.o.FPS,
		started: make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
}

// kick records that appsrc asked for data (called on a GStreamer streaming thread).
func (f *feeder) kick() {
	select {
	case f.started <- struct{}{}:
	default:
	}
}

// halt asks the feeder to stop; it returns at once.
func (f *feeder) halt() { f.stopOnce.Do(func() { close(f.stop) }) }

// forceUnblock releases a push blocked on a pipeline that will never drain.
func (f *feeder) forceUnblock() {
	f.srv.mu.Lock()
	exited := f.exited
	f.srv.mu.Unlock()
	if !exited {
		f.src.unblock()
	}
}

// run is the feeder's goroutine. It waits for the pipeline to ask for data (it does once
// the media is prepared, i.e. on the client's DESCRIBE), then pushes frames 0, 1, 2, …
// Frame n is due at start + n/FPS; when pushing was blocked for a while (the server holds
// a prepared media until the client's PLAY) the schedule is re-anchored instead of
// catching up, so frames are never produced faster than real time.
func (f *feeder) run() {
	defer func() {
		f.src.close()
		f.srv.mu.Lock()
		f.exited = true
		if f.finalized {
			delete(f.srv.feeders, f.id)
		}
		f.srv.mu.Unlock()
	}()
	select {
	case <-f.started:
	case <-f.stop:
		return
	}
	period := frameTime(1, f.fps)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start, base := time.Now(), 0
	for n := 0; ; n++ {
		if h := f.srv.o.OnFrame; h != nil {
			h(f.cam, n, time.Now())
		}
		if err := f.src.push(f.scene, n, frameTime(n, f.fps), frameTime(n+1, f.fps)-frameTime(n, f.fps)); err != nil {
			if !errors.Is(err, errFlushing) {
				f.srv.log.Warn("client media stopped", "camera", f.cam, "frame", n, "err", err)
			}
			return
		}
		due := start.Add(frameTime(n+1-base, f.fps))
		now := time.Now()
		if now.Sub(due) > 2*period {
			start, base = now, n+1
		} else if wait := due.Sub(now); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-f.stop:
				return
			}
		}
		select {
		case <-f.stop:
			return
		default:
		}
	}
}
