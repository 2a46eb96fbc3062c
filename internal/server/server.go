// Package server serves gstvision's HTTP API: health and readiness, cameras, statistics and the
// detection stream over WebSocket, plus the routes other packages add with [Server.Handle] (WHEP,
// the viewer page, metrics). It owns what every route shares: bearer-token auth, CORS, the
// origin check of state-changing requests, request body limits in size and time, JSON errors,
// request logging and panic recovery.
//
// Built-in routes (all JSON; errors are {"error": "..."}):
//
//	GET    /healthz            200 {"status":"ok","cameras":N,"running":M}           (public)
//	GET    /readyz             200 once a camera runs or none are configured, else 503 (public)
//	GET    /api/cameras        array of defs.Status
//	GET    /api/cameras/{id}   one defs.Status, or 404
//	POST   /api/cameras        add a camera      (501 unless Cameras is a CameraManager)
//	PUT    /api/cameras/{id}   replace a camera  (501 unless Cameras is a CameraManager)
//	DELETE /api/cameras/{id}   remove a camera   (501 unless Cameras is a CameraManager)
//	GET    /api/stats          hub counters and connected WebSocket clients
//	GET    /ws[?camera=ID]     WebSocket: one JSON text message per results.Result;
//	                           &events=1 adds each defs.Event (an object with "type"), and
//	                           &detections=0 leaves the results out
//	GET    /api/events         recent events (?camera, type, label, zone, line, since_id,
//	                           since, limit), oldest first
//	GET    /api/events/{id}/snapshot.jpg        the JPEG of an event's moment, or 404
//	GET    /api/cameras/{id}/occupancy          {"zone": {"label": count}}
//
// Unknown paths answer 404, known paths with another method 405 with Allow. With a token set,
// every route but the public ones needs "Authorization: Bearer T" or "?token=T".
//
// Browsers: a request that may change state (any method but GET, HEAD and OPTIONS) sent with an
// Origin other than the server's own and those of Options.CORSOrigins gets 403, on every route,
// token or not; requests without Origin (curl, other servers) are not affected. JSON bodies must
// be sent as application/json (or another JSON type, or without Content-Type), else 415, so that
// a page cannot post them as a form or as text. A body not received within
// Options.BodyReadTimeout gets 408, and a response sent before its request's body was read
// closes the connection.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/results"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultBodyReadTimeout = 30 * time.Second
	DefaultWSQueueLen      = 64
	DefaultWSPingInterval  = 15 * time.Second
	DefaultWSWriteTimeout  = 10 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configures a [Server]. Zero fields take the defaults above.
type Options struct {
	// Listen is the TCP address ListenAndServe listens on, e.g. "127.0.0.1:8080"; a port of 0, or
	// none at all, takes a free port.
	Listen string
	// Token, when set, is required on every route except /healthz, /readyz and routes added as
	// public: "Authorization: Bearer <token>", or "?token=<token>" where a header cannot be set
	// (browser WebSocket, <video> pages).
	Token string
	// CORSOrigins lists the origins other than the server's own that browser pages may call
	// the API from, reading and writing: exact origins such as "https://nvr.example.com:8443",
	// or "*" for any origin. Empty allows the server's own origin only: others get no CORS
	// headers, and their preflights and state-changing requests get 403. It also authorises
	// those origins for /ws (same-origin WebSocket requests are always allowed).
	CORSOrigins []string
	// MaxBodyBytes limits request bodies (413 past it). 0 means DefaultMaxBodyBytes; negative
	// means no limit.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the time a request body may take to arrive, counted from the end
	// of its headers: reads past it fail (408 from DecodeJSON and ReadBody) and the connection
	// is closed. Once a body is read in full the deadline is lifted, so a slow handler is not
	// cut short; requests without a body (WebSocket upgrades among them) have none. 0 means
	// DefaultBodyReadTimeout; negative means no limit.
	BodyReadTimeout time.Duration
	// Logger receives request logs (debug), WebSocket client events (debug) and handler panics
	// (error). Nil discards them.
	Logger *slog.Logger

	// WSQueueLen bounds each WebSocket client's queue of results; when it is full the oldest
	// result is dropped.
	WSQueueLen int
	// WSPingInterval is how often WebSocket clients are pinged; one that does not answer within
	// another interval is disconnected.
	WSPingInterval time.Duration
	// WSWriteTimeout is how long one WebSocket message may take to write before the client is
	// considered stuck and disconnected.
	WSWriteTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown ListenAndServe does when its context ends.
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.BodyReadTimeout == 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.WSQueueLen <= 0 {
		o.WSQueueLen = DefaultWSQueueLen
	}
	if o.WSPingInterval <= 0 {
		o.WSPingInterval = DefaultWSPingInterval
	}
	if o.WSWriteTimeout <= 0 {
		o.WSWriteTimeout = DefaultWSWriteTimeout
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// Cameras is the read side of the camera registry.
type Cameras interface {
	// List returns every configured camera, in a stable order.
	List() []defs.Status
	// Get returns one camera, and false if there is no camera with that ID.
	Get(id string) (defs.Status, bool)
}

// CameraManager may also be implemented by the Cameras dependency to manage cameras at run time.
// When it is not, POST /api/cameras, PUT and DELETE /api/cameras/{id} answer 501.
//
// spec is the request body, one camera's configuration as JSON, for the implementation to decode
// and validate. Errors should wrap one of this package's sentinels (ErrBadRequest, ErrNotFound,
// ErrConflict) or carry an HTTPStatus() int method, so the client gets the right status.
type CameraManager interface {
	AddCamera(ctx context.Context, spec json.RawMessage) (defs.Status, error)
	UpdateCamera(ctx context.Context, id string, spec json.RawMessage) (defs.Status, error)
	RemoveCamera(ctx context.Context, id string) error
}

// Results is the detection feed; *results.Hub implements it.
type Results interface {
	Subscribe(camera string, queueLen int) *results.Subscription
	Unsubscribe(s *results.Subscription)
	Stats() results.Stats
}

// Deps are what the server serves. A nil Cameras behaves as an empty registry; a nil Results
// makes /ws answer 503, a nil Events the event routes and /ws?events=1.
type Deps struct {
	Cameras Cameras
	Results Results
	Events  Events
}

// Server is gstvision's HTTP server. Create it with [New], add routes with [Server.Handle], then
// either run [Server.ListenAndServe] / [Server.Serve] or mount [Server.Handler] elsewhere.
type Server struct {
	opts      Options
	log       *slog.Logger
	cams      Cameras
	results   Results
	events    Events
	tokenHash [sha256.Size]byte
	cors      corsPolicy
	mux       *http.ServeMux
	root      http.Handler
	http      *http.Server
	started   time.Time

	publicMu sync.RWMutex
	public   map[string]bool // registered patterns that skip auth

	addr atomic.Pointer[net.Addr]

	// WebSocket clients, which http.Server.Shutdown does not track (their connections are
	// hijacked).
	closing   chan struct{} // closed when Shutdown starts
	closeOnce sync.Once
	wsMu      sync.Mutex
	wsClosed  bool // set under wsMu when Shutdown starts; no client registers after it
	wsClients map[*wsClient]struct{}
	wsNextID  uint64 // IDs of clients without a results subscription, under wsMu
	wsWG      sync.WaitGroup
}

// New returns a server with the built-in routes registered.
func New(opts Options, deps Deps) *Server {
	opts.setDefaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		cams:      deps.Cameras,
		results:   deps.Results,
		events:    deps.Events,
		tokenHash: sha256.Sum256([]byte(opts.Token)),
		cors:      newCORSPolicy(opts.CORSOrigins),
		mux:       http.NewServeMux(),
		started:   time.Now(),
		public:    map[string]bool{},
		closing:   make(chan struct{}),
		wsClients: map[*wsClient]struct{}{},
	}
	if s.cams == nil {
		s.cams = noCameras{}
	}
	s.root = http.HandlerFunc(s.serveHTTP)
	s.http = &http.Server{
		Addr:              opts.Listen,
		Handler:           s.root,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.routes()
	return s
}

// Handle registers h for pattern (a net/http ServeMux pattern, e.g. "POST /whep/{camera}" or
// "GET /{$}"). Unless public, requests need the token. Every route gets CORS, the origin check,
// the body limits, logging and panic recovery. A handler reads the request body, if it wants
// it, before it starts the response: what is left unread then goes with the connection. It
// returns an error wrapping [ErrBadPattern] if ServeMux rejects the pattern or it conflicts with
// a registered one. Safe to call while serving.
func (s *Server) Handle(pattern string, h http.Handler, public bool) (err error) {
	if h == nil {
		return fmt.Errorf("%w: %q: nil handler", ErrBadPattern, pattern)
	}
	defer func() {
		// ServeMux reports bad and conflicting patterns by panicking.
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", ErrBadPattern, v)
		}
	}()
	s.mux.Handle(pattern, h)
	if public {
		s.publicMu.Lock()
		s.public[pattern] = true
		s.publicMu.Unlock()
	}
	return nil
}

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request), public bool) error {
	return s.Handle(pattern, http.HandlerFunc(f), public)
}

// mustHandle registers a built-in route; their patterns are constants, so failure is a bug
// that tests catch, and it is logged rather than panicking.
func (s *Server) mustHandle(pattern string, f http.HandlerFunc, public bool) {
	if err := s.Handle(pattern, f, public); err != nil {
		s.log.Error("registering built-in route", "pattern", pattern, "err", err)
	}
}

func (s *Server) isPublic(pattern string) bool {
	s.publicMu.RLock()
	defer s.publicMu.RUnlock()
	return s.public[pattern]
}

// Handler returns the server's root handler, with all middleware, e.g. for httptest.
func (s *Server) Handler() http.Handler { return s.root }

// Addr is the address Serve is listening on, nil before it starts.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// ListenAndServe listens on Options.Listen and serves until ctx ends, then shuts down
// gracefully within Options.ShutdownTimeout. It returns nil after a clean shutdown.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.opts.Listen, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err = s.Shutdown(sctx)
	if serr := <-errc; err == nil {
		err = serr
	}
	return err
}

// Serve serves on ln until Shutdown; it returns nil after Shutdown, otherwise the error that
// stopped it.
func (s *Server) Serve(ln net.Listener) error {
	addr := ln.Addr()
	s.addr.Store(&addr)
	s.log.Info("http server listening", "addr", addr.String(), "auth", s.opts.Token != "")
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("server: serve: %w", err)
}

// Shutdown stops the server gracefully: /readyz turns 503, new requests are refused, WebSocket
// clients get a "going away" close, and in-flight requests finish. When ctx ends first the
// remaining WebSocket connections are closed at once and ctx's error is returned (wrapped).
// It also works when the server was only used through Handler.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.wsMu.Lock()
		s.wsClosed = true
		s.wsMu.Unlock()
		close(s.closing)
	})
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("server: shutdown: %w", err)
	}
	wsDone := make(chan struct{})
	go func() {
		s.wsWG.Wait()
		close(wsDone)
	}()
	select {
	case <-wsDone:
		return err
	case <-ctx.Done():
	}
	s.forceCloseWS()
	select {
	case <-wsDone:
	case <-time.After(2 * time.Second):
		s.log.Warn("websocket clients still running after forced close")
	}
	if err == nil {
		err = fmt.Errorf("server: shutdown: %w", ctx.Err())
	}
	return err
}

func (s *Server) shuttingDown() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// noCameras is the registry used when Deps.Cameras is nil.
type noCameras struct{}

func (noCameras) List() []defs.Status            { return nil }
func (noCameras) Get(string) (defs.Status, bool) { return defs.Status{}, false }

var _ Cameras = noCameras{}

// tokenOK reports whether tok is the configured token, in constant time.
func (s *Server) tokenOK(tok string) bool {
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

// authorized reports whether r carries the token (or none is configured).
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && s.tokenOK(strings.TrimSpace(tok)) {
			return true
		}
	}
	if r.URL.RawQuery != "" {
		if tok := r.URL.Query().Get("token"); tok != "" && s.tokenOK(tok) {
			return true
		}
	}
	return false
}
