package server

import "errors"

// Sentinel errors. Handlers (including those other packages add with [Server.Handle]) can wrap
// them and answer with [WriteErr], which maps each to its HTTP status.
var (
	// ErrBodyTooLarge: the request body exceeds Options.MaxBodyBytes (413).
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrBadRequest: the request is malformed, e.g. its JSON body does not decode (400).
	ErrBadRequest = errors.New("bad request")
	// ErrForbidden: the request is not allowed, token or not, e.g. a state-changing request from
	// a browser page of an origin the server does not allow (403). Wrapped as
	// `origin "https://x" not allowed`.
	ErrForbidden = errors.New("not allowed")
	// ErrRequestTimeout: the request body did not arrive within Options.BodyReadTimeout (408).
	ErrRequestTimeout = errors.New("request timeout")
	// ErrUnsupportedMediaType: the request body's Content-Type is not one the route reads, e.g.
	// text/plain where JSON is wanted (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrNotFound: the thing named in the request does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the current state, e.g. a duplicate camera ID (409).
	ErrConflict = errors.New("conflict")
	// ErrNotImplemented: the server was built without what the route needs (501).
	ErrNotImplemented = errors.New("not implemented")
	// ErrUnavailable: the server cannot answer now, e.g. while shutting down (503).
	ErrUnavailable = errors.New("unavailable")
	// ErrBadPattern: Handle was given a pattern ServeMux rejects or that conflicts with another.
	ErrBadPattern = errors.New("bad route pattern")
)
