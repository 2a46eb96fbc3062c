package defs

import "errors"

// Sentinel errors shared across packages. Packages return errors that wrap them with their own
// context (`fmt.Errorf("webrtc manager %w", defs.ErrClosed)`); callers test with errors.Is.
var (
	// ErrClosed: the object (batcher, backend, session, context, hub subscription, manager,
	// server...) has been closed.
	ErrClosed = errors.New("closed")
	// ErrUnknownCamera: no camera has the given ID.
	ErrUnknownCamera = errors.New("unknown camera")
)
