package webrtc

import (
	"errors"
	"net/http"

	"github.com/gstvision/gstvision/defs"
)

// Sentinel errors. Errors returned by this package wrap one of them, or [defs.ErrUnknownCamera]
// (the camera in the URL does not exist, 404) or [defs.ErrClosed] (the manager or broadcaster
// is closed, 503); the WHEP handler maps them to HTTP statuses with [StatusOf].
var (
	// ErrSessionNotFound: no WHEP session with that ID for that camera (404).
	ErrSessionNotFound = errors.New("session not found")
	// ErrUnsupportedMediaType: the body's Content-Type is not application/sdp (POST) or
	// application/trickle-ice-sdpfrag (PATCH) (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrOfferTooLarge: the offer exceeds Options.MaxOfferBytes (413).
	ErrOfferTooLarge = errors.New("offer too large")
	// ErrBadOffer: the offer is not a usable SDP offer (400).
	ErrBadOffer = errors.New("bad SDP offer")
	// ErrNoVideo: the offer has no video m-line with H.264 we can send (400).
	ErrNoVideo = errors.New("offer has no H.264 video m-line")
	// ErrFragmentTooLarge: a PATCH's trickle ICE fragment exceeds Options.MaxOfferBytes (413).
	ErrFragmentTooLarge = errors.New("trickle ICE fragment too large")
	// ErrBadFragment: a PATCH's body is not a usable trickle ICE SDP fragment (RFC 8840) for
	// the session (400).
	ErrBadFragment = errors.New("bad trickle ICE fragment")
	// ErrPreconditionFailed: a PATCH's If-Match does not match the session's ETag (412).
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrICERestart: a PATCH asks for an ICE restart (new ICE credentials), which this server
	// does not do; the client POSTs a new offer instead (422, as WHIP and WHEP prescribe for a
	// session that supports trickle ICE but not ICE restarts).
	ErrICERestart = errors.New("ICE restart not supported; POST a new offer")
	// ErrMethodNotAllowed: the WHEP resource does not support the method (405). The handler's
	// router answers unsupported methods by itself; the sentinel stays for callers that map
	// errors with [StatusOf].
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrBadOptions: Options failed validation in [NewManager].
	ErrBadOptions = errors.New("bad webrtc options")
	// ErrBadView: a WHEP POST's view parameter names no view (400).
	ErrBadView = errors.New("unknown view")
)

// StatusOf maps an error from this package to an HTTP status code: 404, 405, 412, 413, 415,
// 422, 400, 503, and 500 for anything else.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, defs.ErrUnknownCamera), errors.Is(err, ErrSessionNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrPreconditionFailed):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrOfferTooLarge), errors.Is(err, ErrFragmentTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrICERestart):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrBadOffer), errors.Is(err, ErrNoVideo), errors.Is(err, ErrBadFragment),
		errors.Is(err, ErrBadView):
		return http.StatusBadRequest
	case errors.Is(err, defs.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
