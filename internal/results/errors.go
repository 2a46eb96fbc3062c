package results

import "errors"

// ErrClosed is returned by [Subscription.Recv] once the subscription has been cancelled, either by
// [Hub.Unsubscribe] or by [Hub.Close], and nothing is left in its queue.
var ErrClosed = errors.New("results: subscription closed")
