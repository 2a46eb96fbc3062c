package camera

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
)

// TestRetryBackoff: ordinary faults double the wait up to Max, a stable run resets it,
// permanent faults wait Max, and the credentials refused AuthFailures times in a row (with no
// successful run between) give StateUnauthorized and AuthWait.
func TestRetryBackoff(t *testing.T) {
	refused := fmt.Errorf("%w: %w: src: Unauthorized", gst.ErrUnauthorized, gst.ErrPipeline)
	down := fmt.Errorf("%w: src: Could not open resource", gst.ErrPipeline)
	codec := fmt.Errorf("%w: camera sends MJPEG", gst.ErrCodec)
	type step struct {
		err         error
		ran, stable bool
		state       defs.State
		wait        time.Duration
	}
	b := DefaultBackoff()
	steps := []step{
		{down, false, false, defs.StateReconnecting, b.Min},
		{down, false, false, defs.StateReconnecting, 2 * b.Min},
		{down, true, true, defs.StateReconnecting, b.Min}, // a stable run starts over
		{refused, false, false, defs.StateReconnecting, 2 * b.Min},
		{refused, false, false, defs.StateReconnecting, 4 * b.Min},
		{refused, false, false, defs.StateUnauthorized, b.AuthWait}, // the third in a row
		{refused, false, false, defs.StateUnauthorized, b.AuthWait}, // and so on while refused
		{down, false, false, defs.StateReconnecting, 8 * b.Min},
		{refused, false, false, defs.StateReconnecting, 16 * b.Min}, // the row was broken
		{refused, false, false, defs.StateReconnecting, b.Max},
		{refused, true, false, defs.StateReconnecting, b.Max}, // ran in between: a new row
		{codec, false, false, defs.StateFailed, b.Max},
	}
	r := newRetry(b)
	for i, s := range steps {
		state, wait := r.next(s.err, s.ran, s.stable)
		if state != s.state || wait != s.wait {
			t.Errorf("step %d (%v): %s after %s, want %s after %s", i, s.err, state, wait, s.state, s.wait)
		}
	}
}

// TestRefusedError names the camera by its redacted URL and wraps gst.ErrUnauthorized.
func TestRefusedError(t *testing.T) {
	err := refusedError("rtsp://***@10.0.0.1/s", 3, 10*time.Minute)
	if !errors.Is(err, gst.ErrUnauthorized) {
		t.Errorf("%v does not wrap ErrUnauthorized", err)
	}
	for _, want := range []string{"refused the credentials", "rtsp://***@10.0.0.1/s", "3 times", "10m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
