package camera

import (
	"errors"
	"fmt"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
)

// retry decides how a camera waits after each fault.
type retry struct {
	b         Backoff
	backoff   time.Duration // the next ordinary wait: b.Min doubling to b.Max
	authFails int           // credentials refused this many times in a row
}

func newRetry(b Backoff) *retry { return &retry{b: b, backoff: b.Min} }

// next takes the fault that ended a pipeline (ran: it had decoded frames; stable: for
// b.StableAfter at least) and returns the state to show and how long to wait before the next.
func (r *retry) next(err error, ran, stable bool) (defs.State, time.Duration) {
	if stable {
		r.backoff = r.b.Min
	}
	if ran {
		r.authFails = 0 // the credentials worked: earlier refusals are no longer "in a row"
	}
	if errors.Is(err, gst.ErrUnauthorized) {
		r.authFails++
	} else {
		r.authFails = 0
	}
	switch {
	case r.authFails >= r.b.AuthFailures:
		return defs.StateUnauthorized, r.b.AuthWait
	case isPermanent(err):
		r.backoff = r.b.Max
		return defs.StateFailed, r.b.Max
	}
	wait := r.backoff
	r.backoff = min(r.backoff*2, r.b.Max)
	return defs.StateReconnecting, wait
}

// isPermanent tells faults that retrying soon will not fix (missing plugin, unsupported codec).
func isPermanent(err error) bool {
	return errors.Is(err, gst.ErrMissingElement) || errors.Is(err, gst.ErrCodec)
}

// refusedError is the last error of a camera that refused the credentials: it names the
// camera by its redacted URL only (the error from the pipeline may be less careful).
func refusedError(redactedURL string, times int, retryIn time.Duration) error {
	if redactedURL == "" {
		redactedURL = "the camera"
	}
	return fmt.Errorf("%w: %s answered 401 Unauthorized %d times in a row; check the user and password in the camera's URL (retrying every %s)",
		gst.ErrUnauthorized, redactedURL, times, retryIn)
}
