package tracking

import "errors"

// ErrStale is returned by [Tracker.Update] for a frame older than the last one it saw (the
// decoupled stage may finish a camera's frames out of order): its detections get the IDs of
// the tracks they overlap, and the tracker's state is left alone.
var ErrStale = errors.New("tracking: frame older than the last one")
