package camera

import (
	"fmt"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
)

// watch follows one running pipeline of a camera, once a second: its frame rate and stream,
// the running state, the stats line, the drop rate, and whether it stalled.
type watch struct {
	c        *Camera
	p        Pipeline
	base     uint64    // the pipeline numbers its frames on from here
	start    time.Time // when the pipeline started
	count    uint64    // frames decoded by the pipeline at the last tick
	lastTick time.Time
	nextLog  uint64 // the frame count of the next stats line
	running  bool   // the pipeline has decoded a frame
	drops    dropWindow
}

func newWatch(c *Camera, p Pipeline, base uint64, start time.Time) *watch {
	return &watch{c: c, p: p, base: base, start: start, lastTick: start, nextLog: uint64(c.cfg.StatsEvery)}
}

// tick samples the pipeline at now; an error is a fault that ends the run (gst.ErrStall).
func (w *watch) tick(now time.Time) error {
	c, p := w.c, w.p
	n := p.Decoded() - w.base
	c.current.Store(n)
	c.mu.Lock()
	c.fps = float64(n-w.count) / now.Sub(w.lastTick).Seconds()
	c.info = p.Info()
	c.mu.Unlock()
	w.count, w.lastTick = n, now
	if !w.running && n > 0 {
		w.running = true
		c.setState(defs.StateRunning, nil)
		c.log.Info("camera running", "url", c.cfg.RedactedURL, "codec", p.Info().Codec, "decoder", p.Info().Decoder)
	}
	c.watchDrops(&w.drops, now)
	w.logStats(n)
	return w.stalled(now)
}

// logStats logs a stats line every StatsEvery frames (none when it is 0).
func (w *watch) logStats(n uint64) {
	c := w.c
	if c.cfg.StatsEvery <= 0 || n < w.nextLog {
		return
	}
	st := c.Status()
	c.log.Info("camera stats", "fps", fmt.Sprintf("%.1f", st.FPS), "frames", st.Frames,
		"inferred", st.Inferred, "dropped", st.Dropped, "size", fmt.Sprintf("%dx%d", st.Width, st.Height))
	w.nextLog = n + uint64(c.cfg.StatsEvery)
}

// stalled is the camera's stall rule: no frame for Backoff.Stall once running, or none at all
// within Backoff.StartDeadline of the start.
func (w *watch) stalled(now time.Time) error {
	b := w.c.cfg.Backoff
	if w.running {
		if age := w.p.LastFrameAge(); age > b.Stall {
			return fmt.Errorf("%w for %s", gst.ErrStall, age.Round(time.Second))
		}
	} else if now.Sub(w.start) > b.StartDeadline {
		return fmt.Errorf("%w: none decoded within %s of connecting", gst.ErrStall, b.StartDeadline)
	}
	return nil
}
