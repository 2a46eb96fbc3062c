package camera

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/gst"
)

// TestRetryBackoff: ordinary faults double the wait up to BackoffMax, a stable run resets
// it, permanent faults wait BackoffMax, and the credentials refused AuthFailures times in a
// row (with no successful run between) give StateUnauthorized and AuthBackoff.
func TestRetryBackoff(t *testing.T) {
	refused := fmt.Errorf("%w: %w: src: Unauthorized", gst.ErrUnauthorized, gst.ErrPipeline)
	down := fmt.Errorf("%w: src: Could not open resource", gst.ErrPipeline)
	codec := fmt.Errorf("%w: camera sends MJPEG", gst.ErrCodec)
	type step struct {
		err         error
		ran, stable bool
		state       State
		wait        time.Duration
	}
	steps := []step{
		{down, false, false, StateReconnecting, BackoffMin},
		{down, false, false, StateReconnecting, 2 * BackoffMin},
		{down, true, true, StateReconnecting, BackoffMin}, // a stable run starts over
		{refused, false, false, StateReconnecting, 2 * BackoffMin},
		{refused, false, false, StateReconnecting, 4 * BackoffMin},
		{refused, false, false, StateUnauthorized, AuthBackoff}, // the third in a row
		{refused, false, false, StateUnauthorized, AuthBackoff}, // and so on while refused
		{down, false, false, StateReconnecting, 8 * BackoffMin},
		{refused, false, false, StateReconnecting, 16 * BackoffMin}, // the row was broken
		{refused, false, false, StateReconnecting, BackoffMax},
		{refused, true, false, StateReconnecting, BackoffMax}, // ran in between: a new row
		{codec, false, false, StateFailed, BackoffMax},
	}
	r := newRetry()
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
