package camera

import (
	"fmt"
	"time"
)

// DropWindow is the span over which a camera's drop rate is measured; above DropWarnRate a
// warning is logged, once per window while it lasts.
const (
	DropWindow   = 10 * time.Second
	DropWarnRate = 0.05
)

// dropWindow measures the fraction of decoded frames that the leaky queue before the detector
// dropped, over consecutive windows of DropWindow. In unified mode a camera whose inference
// cannot keep up drops frames silently otherwise.
type dropWindow struct {
	start            time.Time // of the current window; zero before the first sample
	decoded, dropped uint64    // the counters at start
}

// sample takes the camera's cumulative counters at now. At the end of each window it returns
// the window's drop rate, ended = true, and warn when the rate is above DropWarnRate; between
// window ends it returns zeros, so a warning comes at most once per window.
func (w *dropWindow) sample(now time.Time, decoded, dropped uint64) (rate float64, ended, warn bool) {
	if w.start.IsZero() || decoded < w.decoded || dropped < w.dropped {
		w.start, w.decoded, w.dropped = now, decoded, dropped // first sample, or counters reset
		return 0, false, false
	}
	if now.Sub(w.start) < DropWindow {
		return 0, false, false
	}
	if n := decoded - w.decoded; n > 0 {
		rate = min(1, float64(dropped-w.dropped)/float64(n)) // the counters are read apart: cap
	}
	w.start, w.decoded, w.dropped = now, decoded, dropped
	return rate, true, rate > DropWarnRate
}

// dropWarning is the warning for a window whose drop rate was rate: the cause and the remedy
// (Config.DropRemedy; a generic one when it is empty).
func dropWarning(rate float64, remedy string) string {
	if remedy == "" {
		remedy = "raise inference.every_n_frames"
	}
	return fmt.Sprintf("inference is not keeping up: %.1f %% of decoded frames dropped in the last %s; %s",
		100*rate, DropWindow, remedy)
}
