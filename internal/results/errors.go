package results

import (
	"fmt"

	"github.com/gstvision/gstvision/defs"
)

// errSubscriptionClosed is returned by [Subscription.Recv] once the subscription has been
// cancelled, either by [Hub.Unsubscribe] or by [Hub.Close], and nothing is left in its queue.
// It wraps [defs.ErrClosed].
var errSubscriptionClosed = fmt.Errorf("results: subscription %w", defs.ErrClosed)
