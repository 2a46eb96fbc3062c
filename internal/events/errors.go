package events

import (
	"errors"
	"fmt"

	"github.com/gstvision/gstvision/defs"
)

var (
	// ErrNoSnapshot: the event has no snapshot (no such event, none was taken, it failed, or it
	// was evicted from the bounded store).
	ErrNoSnapshot = errors.New("events: no snapshot")
	// errSubscriptionClosed is Recv's error once a subscription has ended.
	errSubscriptionClosed = fmt.Errorf("events: subscription %w", defs.ErrClosed)
)
