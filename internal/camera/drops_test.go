package camera

import (
	"strings"
	"testing"
	"time"
)

// TestDropWindow feeds once-a-second counter samples: the rate comes at each window's end,
// over that window only, and a warning at most once per window while drops exceed 5 %.
func TestDropWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type sample struct {
		at               time.Duration
		decoded, dropped uint64
		ended, warn      bool
		rate             float64
	}
	samples := []sample{
		{0, 500, 10, false, false, 0}, // the first sample only starts a window
		{time.Second, 530, 10, false, false, 0},
		{9 * time.Second, 770, 12, false, false, 0},
		{10 * time.Second, 800, 13, true, false, 0.01}, // 3 of 300: keeps up
		{11 * time.Second, 830, 40, false, false, 0},   // dropping hard, but the window is open
		{15 * time.Second, 950, 100, false, false, 0},
		{20 * time.Second, 1100, 163, true, true, 0.5},   // 150 of 300: warns once
		{21 * time.Second, 1130, 178, false, false, 0},   // no repeat within the next window
		{30 * time.Second, 1400, 313, true, true, 0.5},   // still dropping: warns again
		{40 * time.Second, 1700, 328, true, false, 0.05}, // exactly 5 %: no warning
		{50 * time.Second, 1700, 328, true, false, 0},    // nothing decoded (stalled): rate 0
		{55 * time.Second, 10, 0, false, false, 0},       // counters reset: a new window
		{65 * time.Second, 310, 30, true, true, 0.1},
	}
	var w dropWindow
	for i, s := range samples {
		rate, ended, warn := w.sample(t0.Add(s.at), s.decoded, s.dropped)
		if ended != s.ended || warn != s.warn || (rate-s.rate) > 1e-9 || (s.rate-rate) > 1e-9 {
			t.Errorf("sample %d at %s: rate %v ended %v warn %v, want rate %v ended %v warn %v",
				i, s.at, rate, ended, warn, s.rate, s.ended, s.warn)
		}
	}
}

// TestDropWarning names the cause, the rate and the remedies.
func TestDropWarning(t *testing.T) {
	msg := dropWarning(0.234, "set processing.ENABLE_DECOUPLED_PIPELINE to true")
	for _, want := range []string{"inference is not keeping up", "23.4 %", "10s", "processing.ENABLE_DECOUPLED_PIPELINE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if msg := dropWarning(0.1, ""); !strings.Contains(msg, "inference.every_n_frames") {
		t.Errorf("without a remedy from the app: %q, want a generic one", msg)
	}
}
