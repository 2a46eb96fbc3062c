package app

import "github.com/gstvision/gstvision/internal/camera"

// Option changes how New builds an App; serve uses none.
type Option func(*App)

// WithCameraBackoff gives every camera the App runs, from the config or the API, backoff b
// instead of camera.DefaultBackoff (its zero fields keep the default): tests use it to retry
// within a second.
func WithCameraBackoff(b camera.Backoff) Option {
	return func(a *App) { a.backoff = b }
}

// WithVersion names gstvision's version where the App reports it (the Home Assistant devices'
// sw_version).
func WithVersion(v string) Option {
	return func(a *App) { a.version = v }
}
