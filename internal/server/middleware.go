package server

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// serveHTTP is the root handler: panic recovery and logging around the body read deadline,
// CORS, the origin check of state-changing requests, routing (JSON 404 and 405), auth and the
// body limit, in that order.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	start := time.Now()
	defer s.logRequest(rec, r, start)
	defer s.recoverPanic(rec, r)

	rec.body = s.guardBody(w, r)
	if s.cors.handle(rec, r) {
		return // preflight answered
	}
	if err := s.cors.checkWrite(r); err != nil {
		WriteErr(rec, err)
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// ServeMux's own 404 or 405 (with Allow); rewrite its text body as JSON.
		h.ServeHTTP(&muxErrorWriter{ResponseWriter: rec}, r)
		return
	}
	if !s.isPublic(pattern) && !s.authorized(r) {
		rec.Header().Set("WWW-Authenticate", `Bearer realm="gstvision"`)
		WriteError(rec, http.StatusUnauthorized, "missing or invalid token")
		return
	}
	if max := s.opts.MaxBodyBytes; max > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > max {
			WriteErr(rec, fmt.Errorf("%w (limit %d bytes)", ErrBodyTooLarge, max))
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, max)
	}
	s.mux.ServeHTTP(rec, r)
}

// recoverPanic turns a handler panic into a logged 500 (when nothing was sent yet).
func (s *Server) recoverPanic(rec *recorder, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		// net/http's documented way to abort a response: let it do so.
		panic(v)
	}
	s.log.Error("http handler panic", "method", r.Method, "path", r.URL.Path,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if rec.status == 0 {
		WriteError(rec, http.StatusInternalServerError, "internal server error")
	}
}

// logRequest logs one request at debug level. The query is left out: it may hold the token.
func (s *Server) logRequest(rec *recorder, r *http.Request, start time.Time) {
	ctx := r.Context()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "http request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	)
}

// recorder remembers the status and size of a response, and gives up the request's body when
// the response starts before it was read (see guardedBody). It unwraps for
// http.ResponseController and passes Flush and Hijack through (WebSocket needs Hijack).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	body   *guardedBody // nil without a request body
}

func (w *recorder) WriteHeader(code int) {
	if w.status < 200 { // none yet, or informational ones, which may precede the final one
		w.status = code
		if code >= 200 && w.body.unread() {
			w.body.abandon(w.Header())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status < 200 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends buffered data to the client, if the underlying writer can.
func (w *recorder) Flush() {
	if w.status < 200 {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection, if the underlying writer allows it.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("server: hijack: %w", err)
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, brw, nil
}

// muxErrorWriter replaces ServeMux's plain-text 404/405 bodies by JSON errors, keeping its
// headers (Allow).
type muxErrorWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	msg := strings.ToLower(http.StatusText(code))
	if msg == "" {
		msg = "error " + strconv.Itoa(code)
	}
	w.Header().Del("X-Content-Type-Options")
	WriteError(w.ResponseWriter, code, msg)
}

func (w *muxErrorWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return len(p), nil // the original text body is dropped
}

// CORS constants.
const (
	corsAllowMethods  = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, If-Match"
	corsExposeHeaders = "Location, Link, ETag"
	corsMaxAge        = "600"
)

// corsPolicy is the set of origins allowed to call the API from browsers.
type corsPolicy struct {
	any     bool
	origins map[string]bool // lower case, no trailing slash
}

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "*" {
			p.any = true
			continue
		}
		if o = normOrigin(o); o != "" {
			p.origins[o] = true
		}
	}
	return p
}

func normOrigin(o string) string { return strings.ToLower(strings.TrimRight(o, "/")) }

func (p *corsPolicy) enabled() bool { return p.any || len(p.origins) > 0 }

func (p *corsPolicy) allows(origin string) bool {
	return p.any || p.origins[normOrigin(origin)]
}

// handle adds CORS headers for allowed origins and answers preflight requests (204, or 403 for a
// disallowed origin other than the server's own). It reports whether the request has been
// answered.
func (p *corsPolicy) handle(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	if p.enabled() && !p.any {
		h.Add("Vary", "Origin")
	}
	if origin == "" {
		return false
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !p.allows(origin) {
		if preflight && !sameOrigin(r, origin) {
			WriteErr(w, originNotAllowed(origin))
			return true
		}
		// The browser blocks the response itself; checkWrite refuses what would change state.
		return false
	}
	allowOrigin := origin
	if p.any {
		allowOrigin = "*"
	}
	h.Set("Access-Control-Allow-Origin", allowOrigin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}

// wsOriginPatterns converts the CORS origins for websocket.AcceptOptions: exact origins become
// "scheme://host" patterns; "*" means skipping the check.
func (p *corsPolicy) wsOriginPatterns() (patterns []string, any bool) {
	for o := range p.origins {
		patterns = append(patterns, o)
	}
	return patterns, p.any
}
