package mqtt

import "errors"

// Sentinel errors, for errors.Is.
var (
	// ErrDisabled is returned by New for a config without a URL (MQTT off).
	ErrDisabled = errors.New("mqtt: disabled (no mqtt.url)")
	// ErrConfig matches an unusable mqtt section: invalid fields (the error also matches
	// config.ErrInvalid and names each field) or TLS files that cannot be read.
	ErrConfig = errors.New("mqtt: bad config")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("mqtt: already started")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("mqtt: publisher closed")
)
