package camera

import "time"

// Backoff is how a camera's supervisor paces its retries and when it declares a pipeline
// dead. Each camera carries its own (Config.Backoff); a zero field takes DefaultBackoff's.
type Backoff struct {
	Min         time.Duration // the wait after an ordinary fault, doubling per fault ...
	Max         time.Duration // ... up to Max; permanent faults (missing plugin, codec) wait Max
	StableAfter time.Duration // a pipeline that ran this long resets the wait to Min
	// Stall: no decoded frame for this long while running is a fault (gst.ErrStall).
	Stall time.Duration
	// StartDeadline: no first frame this long after the pipeline starts is a fault.
	StartDeadline time.Duration
	// AuthFailures credentials refused in a row make the camera unauthorized, retried only
	// every AuthWait: each try counts towards the lockout many cameras apply to an account.
	// Editing the camera (a new URL) replaces it, and the new one starts over.
	AuthFailures int
	AuthWait     time.Duration
}

// DefaultBackoff is the production backoff: 1 s doubling to 30 s, reset after a stable
// minute; a stall after 10 s without a frame, 20 s for the first; 3 refusals, then every
// 10 minutes.
func DefaultBackoff() Backoff {
	return Backoff{
		Min:           time.Second,
		Max:           30 * time.Second,
		StableAfter:   time.Minute,
		Stall:         10 * time.Second,
		StartDeadline: 20 * time.Second,
		AuthFailures:  3,
		AuthWait:      10 * time.Minute,
	}
}

// withDefaults fills b's zero fields from DefaultBackoff.
func (b Backoff) withDefaults() Backoff {
	d := DefaultBackoff()
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&b.Min, d.Min)
	fill(&b.Max, d.Max)
	fill(&b.StableAfter, d.StableAfter)
	fill(&b.Stall, d.Stall)
	fill(&b.StartDeadline, d.StartDeadline)
	fill(&b.AuthWait, d.AuthWait)
	if b.AuthFailures <= 0 {
		b.AuthFailures = d.AuthFailures
	}
	return b
}
