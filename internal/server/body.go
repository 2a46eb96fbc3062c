package server

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Request bodies are read under a deadline (Options.BodyReadTimeout), and a response that starts
// before its request's body was read in full closes the connection. Without both, a client that
// announces a body and never sends it holds a connection and a goroutine for as long as it
// likes: net/http puts no deadline on bodies (the server sets only ReadHeaderTimeout), and after
// a response it reads up to 256 KiB of an unread body, to keep the connection alive.

// guardedBody is a request body read under the server's body read deadline. It remembers
// whether it was read to the end.
type guardedBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	http1 bool
	eof   atomic.Bool
}

// guardBody puts r's body, if it has one, under the body read deadline; it returns the guarded
// body, or nil.
func (s *Server) guardBody(w http.ResponseWriter, r *http.Request) *guardedBody {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b := &guardedBody{ReadCloser: r.Body, rc: http.NewResponseController(w), http1: r.ProtoMajor == 1}
	if d := s.opts.BodyReadTimeout; d > 0 {
		// A writer that cannot set deadlines (httptest.ResponseRecorder) just gets none.
		_ = b.rc.SetReadDeadline(time.Now().Add(d))
	}
	r.Body = b
	return b
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.eof.Swap(true) {
		// Read in full: lift the deadline, so that it cannot cut the read net/http then keeps
		// going to notice a client that leaves while the handler works.
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// unread reports whether there is a body that was not read to the end.
func (b *guardedBody) unread() bool { return b != nil && !b.eof.Load() }

// abandon is called as a response starts before the body was read in full. Rather than let
// net/http read the rest from a client that may never send it, the connection is closed after
// the response, and reads fail from now on. HTTP/2 needs neither: it resets the stream.
func (b *guardedBody) abandon(h http.Header) {
	if !b.http1 {
		return
	}
	h.Set("Connection", "close")
	_ = b.rc.SetReadDeadline(time.Now())
}
