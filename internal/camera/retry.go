package camera

import (
	"errors"
	"fmt"
	"time"

	"github.com/gstvision/gstvision/gst"
)

// Credentials refused: after AuthFailures 401s in a row the camera is retried only every
// AuthBackoff, since each try counts towards the lockout many cameras apply to an account.
// Editing the camera (a new URL) replaces it, and the new one starts with the normal backoff.
var (
	AuthBackoff  = 10 * time.Minute
	AuthFailures = 3
)

// retry decides how a camera waits after each fault.
type retry struct {
	backoff   time.Duration // the next ordinary wait: BackoffMin doubling to BackoffMax
	authFails int           // credentials refused this many times in a row
}

func newRetry() *retry { return &retry{backoff: BackoffMin} }

// next takes the fault that ended a pipeline (ran: it had decoded frames; stable: for
// StableAfter at least) and returns the state to show and how long to wait before the next.
func (r *retry) next(err error, ran, stable bool) (State, time.Duration) {
	if stable {
		r.backoff = BackoffMin
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
	case r.authFails >= AuthFailures:
		return StateUnauthorized, AuthBackoff
	case isPermanent(err):
		r.backoff = BackoffMax
		return StateFailed, BackoffMax
	}
	wait := r.backoff
	r.backoff = min(r.backoff*2, BackoffMax)
	return StateReconnecting, wait
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
