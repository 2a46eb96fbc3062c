package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
)

// WriteJSON writes v as a JSON response (one line, HTML characters not escaped) with status.
// If v cannot be encoded the client gets a 500 JSON error instead.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encoding response: " + err.Error()})
	}
	writeJSONBytes(w, status, b)
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errorBody is the body of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// WriteError writes {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, errorBody{Error: msg})
}

// WriteErr writes err's message with the status [StatusOf] gives it. Messages of errors that map
// to 500 are replaced by a generic text so internals do not leak; log them yourself.
func WriteErr(w http.ResponseWriter, err error) {
	status := StatusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal server error"
	}
	WriteError(w, status, msg)
}

// StatusOf maps an error to an HTTP status: the sentinels of this package first, then any error
// in the chain with an HTTPStatus() int method (for packages that cannot import this one), then
// 500.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrRequestTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) {
		if s := hs.HTTPStatus(); s >= 400 && s <= 599 {
			return s
		}
	}
	return http.StatusInternalServerError
}

// ReadBody reads the whole request body. Past the server's body limit it returns an error
// wrapping [ErrBodyTooLarge], past its read timeout one wrapping [ErrRequestTimeout]; answer it
// with [WriteErr].
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyError("reading body", err)
	}
	return b, nil
}

// DecodeJSON decodes the request body, a single JSON value, into v, rejecting unknown fields.
// Its Content-Type must be application/json or another JSON type (application/*+json);
// otherwise nothing is read. Errors wrap [ErrUnsupportedMediaType], [ErrBodyTooLarge],
// [ErrRequestTimeout] or [ErrBadRequest].
func DecodeJSON(r *http.Request, v any) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	if r.Body == nil {
		return fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body", ErrBadRequest)
		}
		return bodyError("invalid JSON", err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrBadRequest)
	}
	return nil
}

// checkJSONContentType accepts a request whose Content-Type is application/json or another
// JSON type (application/*+json, e.g. application/merge-patch+json), whatever its parameters.
// Anything else, such as the text/plain of a "simple" cross-site request that a browser sends
// without a preflight, is an error wrapping [ErrUnsupportedMediaType], and so is a missing
// Content-Type (a browser sends none for a Blob body, also without a preflight).
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && isJSONMediaType(mt) {
		return nil
	}
	return fmt.Errorf("%w: Content-Type %q, want %s", ErrUnsupportedMediaType, ct, jsonMediaType)
}

// jsonMediaType is the Content-Type JSON request bodies should carry.
const jsonMediaType = "application/json"

func isJSONMediaType(mt string) bool {
	return mt == jsonMediaType ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// bodyError classifies an error met while reading (what = "reading body") or decoding
// (what = "invalid JSON") a request body.
func bodyError(what string, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w (limit %d bytes)", ErrBodyTooLarge, mbe.Limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) { // Options.BodyReadTimeout passed
		return fmt.Errorf("%w: body not received in time: %w", ErrRequestTimeout, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrBadRequest, what, err)
}
