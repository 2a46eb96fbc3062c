package webrtc

import (
	"errors"
	"net/http"
)

// Sentinel errors. Errors returned by this package wrap one of them; the WHEP handler maps them
// to HTTP statuses with [StatusOf].
var (
	// ErrUnknownCamera: the camera in the URL does not exist (404).
	ErrUnknownCamera = errors.New("unknown camera")
	// ErrSessionNotFound: no WHEP session with that ID for that camera (404).
	ErrSessionNotFound = errors.New("session not found")
	// ErrUnsupportedMediaType: the offer's Content-Type is not application/sdp (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrOfferTooLarge: the offer exceeds Options.MaxOfferBytes (413).
	ErrOfferTooLarge = errors.New("offer too large")
	// ErrBadOffer: the offer is not a usable SDP offer (400).
	ErrBadOffer = errors.New("bad SDP offer")
	// ErrNoVideo: the offer has no video m-line with H.264 we can send (400).
	ErrNoVideo = errors.New("offer has no H.264 video m-line")
	// ErrMethodNotAllowed: the WHEP resource does not support the method, e.g. PATCH for trickle
	// ICE or ICE restarts (405).
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrClosed: the manager or broadcaster is closed (503).
	ErrClosed = errors.New("closed")
	// ErrBadOptions: Options failed validation in [NewManager].
	ErrBadOptions = errors.New("bad webrtc options")
)

// StatusOf maps an error from this package to an HTTP status code: 404, 405, 413, 415, 400,
// 503, and 500 for anything else.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrUnknownCamera), errors.Is(err, ErrSessionNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrOfferTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrBadOffer), errors.Is(err, ErrNoVideo):
		return http.StatusBadRequest
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
