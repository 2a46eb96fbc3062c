package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/results"
)

// wsClient is one connected /ws client.
type wsClient struct {
	conn   *websocket.Conn
	raw    net.Conn // the hijacked connection, closed to abort a stuck close handshake
	id     uint64
	sub    *results.Subscription // nil with ?detections=0
	evSub  *events.Subscription  // set with ?events=1
	remote string
	since  time.Time
	cancel context.CancelFunc // aborts the client's writes and pings (forced shutdown)
}

// wsClientStats describes one /ws client in /api/stats.
type wsClientStats struct {
	ID      uint64    `json:"id"`
	Camera  string    `json:"camera,omitempty"`
	Remote  string    `json:"remote"`
	Since   time.Time `json:"since"`
	Queued  int       `json:"queued"`
	Dropped uint64    `json:"dropped"`
	Events  bool      `json:"events,omitempty"` // also gets events (?events=1)
}

// dropped counts the messages the client lost to its full queues.
func (c *wsClient) dropped() uint64 {
	var n uint64
	if c.sub != nil {
		n += c.sub.Dropped()
	}
	if c.evSub != nil {
		n += c.evSub.Dropped()
	}
	return n
}

// wsWants reads what a /ws client asks for: results unless ?detections=0 (or false), events
// with ?events=1 (or true).
func wsWants(r *http.Request) (detections, evs bool, err error) {
	flag := func(name string, def bool) bool {
		switch r.URL.Query().Get(name) {
		case "":
			return def
		case "1", "true", "yes", "on":
			return true
		case "0", "false", "no", "off":
			return false
		}
		err = fmt.Errorf("%w: %s=%q: want 1 or 0", ErrBadRequest, name, r.URL.Query().Get(name))
		return def
	}
	detections, evs = flag("detections", true), flag("events", false)
	if err == nil && !detections && !evs {
		err = fmt.Errorf("%w: detections=0 without events=1 leaves nothing to send", ErrBadRequest)
	}
	return detections, evs, err
}

// handleWS streams results as JSON text messages, one per result, to a WebSocket client,
// optionally only those of ?camera=ID; with ?events=1 also the events (defs.Event, told apart
// by their "type"), and with ?detections=0 only those. The client is not expected to send
// anything; a data message from it closes the connection.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	wantDets, wantEvents, err := wsWants(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	if wantDets && s.results == nil {
		WriteErr(w, fmt.Errorf("results stream is %w", ErrUnavailable))
		return
	}
	if wantEvents && s.events == nil {
		WriteErr(w, fmt.Errorf("event stream is %w", ErrUnavailable))
		return
	}
	if s.shuttingDown() {
		WriteErr(w, fmt.Errorf("server is shutting down: %w", ErrUnavailable))
		return
	}
	cam := r.URL.Query().Get("camera")
	if cam != "" {
		if _, ok := s.cams.Get(cam); !ok {
			WriteErr(w, cameraNotFound(cam))
			return
		}
	}
	patterns, anyOrigin := s.cors.wsOriginPatterns()
	hc := &hijackCapture{ResponseWriter: w}
	conn, err := websocket.Accept(hc, r, &websocket.AcceptOptions{
		OriginPatterns:     patterns,
		InsecureSkipVerify: anyOrigin,
	})
	if err != nil {
		// Accept has answered the client.
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c, ok := s.addWSClient(conn, hc.conn, cam, r.RemoteAddr, wantDets, wantEvents)
	if !ok {
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.removeWSClient(c)
	s.log.Debug("websocket client connected", "id", c.id, "remote", c.remote, "camera", cam, "events", wantEvents)
	reason := s.streamWS(c)
	s.log.Debug("websocket client gone", "id", c.id, "remote", c.remote,
		"reason", reason, "dropped", c.dropped())
}

// addWSClient subscribes and registers a client, unless shutdown has begun.
func (s *Server) addWSClient(conn *websocket.Conn, raw net.Conn, cam, remote string, dets, evs bool) (*wsClient, bool) {
	s.wsMu.Lock()
	defer s.wsMu.Unlock()
	if s.wsClosed {
		return nil, false
	}
	s.wsNextID++
	c := &wsClient{
		id:     1<<40 + s.wsNextID, // apart from the hub's subscription IDs
		conn:   conn,
		raw:    raw,
		remote: remote,
		since:  time.Now(),
	}
	if dets {
		c.sub = s.results.Subscribe(cam, s.opts.WSQueueLen)
		c.id = c.sub.ID()
	}
	if evs {
		c.evSub = s.events.Subscribe(cam, 0)
	}
	s.wsClients[c] = struct{}{}
	s.wsWG.Add(1)
	return c, true
}

func (s *Server) removeWSClient(c *wsClient) {
	if c.sub != nil {
		s.results.Unsubscribe(c.sub)
	}
	if c.evSub != nil {
		s.events.Unsubscribe(c.evSub)
	}
	s.wsMu.Lock()
	delete(s.wsClients, c)
	s.wsMu.Unlock()
	s.wsWG.Done()
}

// streamWS writes results to the client until it goes, a write or ping fails, the subscription
// ends or the server shuts down; it returns why. The connection is closed when it returns, and
// the reader and pinger goroutines it started have ended.
func (s *Server) streamWS(c *wsClient) string {
	// CloseRead reads (and answers control frames) in its own goroutine; its context ends when
	// the client disconnects.
	readCtx := c.conn.CloseRead(context.Background())
	ctx, cancel := context.WithCancel(readCtx)
	s.wsMu.Lock()
	c.cancel = cancel
	s.wsMu.Unlock()
	defer cancel()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.pingWS(ctx, c) })

	// A nil channel never fires: the streams the client did not ask for stay silent.
	var resC <-chan results.Result
	var resDone, evDone <-chan struct{}
	var evC <-chan defs.Event
	if c.sub != nil {
		resC, resDone = c.sub.C(), c.sub.Done()
	}
	if c.evSub != nil {
		evC, evDone = c.evSub.C(), c.evSub.Done()
	}
	var buf []byte
	write := func() string {
		wctx, wcancel := context.WithTimeout(ctx, s.opts.WSWriteTimeout)
		err := c.conn.Write(wctx, websocket.MessageText, buf)
		wcancel()
		if err != nil {
			_ = c.conn.CloseNow()
			return fmt.Sprintf("write: %v", err)
		}
		return ""
	}
	for {
		select {
		case <-ctx.Done():
			_ = c.conn.CloseNow()
			return "client disconnected"
		case <-s.closing:
			cancel() // stop the pinger before the close handshake
			_ = c.conn.Close(websocket.StatusGoingAway, "server shutting down")
			return "server shutting down"
		case <-resDone:
			cancel()
			_ = c.conn.Close(websocket.StatusGoingAway, "results stream closed")
			return "results stream closed"
		case <-evDone:
			cancel()
			_ = c.conn.Close(websocket.StatusGoingAway, "event stream closed")
			return "event stream closed"
		case res := <-resC:
			buf = results.AppendJSON(buf[:0], &res)
			if reason := write(); reason != "" {
				return reason
			}
		case ev := <-evC:
			b, err := json.Marshal(ev)
			if err != nil {
				continue // an Event always encodes
			}
			buf = append(buf[:0], b...)
			if reason := write(); reason != "" {
				return reason
			}
		}
	}
}

// pingWS pings the client every interval; a client that does not answer in time is
// disconnected.
func (s *Server) pingWS(ctx context.Context, c *wsClient) {
	t := time.NewTicker(s.opts.WSPingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.opts.WSPingInterval)
		err := c.conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("websocket ping failed", "id", c.id, "remote", c.remote, "err", err)
			}
			_ = c.conn.CloseNow()
			return
		}
	}
}

// forceCloseWS aborts every WebSocket client at once.
func (s *Server) forceCloseWS() {
	s.wsMu.Lock()
	defer s.wsMu.Unlock()
	for c := range s.wsClients {
		if c.cancel != nil {
			c.cancel()
		}
		// Conn.CloseNow does not interrupt a close handshake in progress (it waits up to 5 s
		// for the peer), so close the socket itself; CloseNow is for a writer without one.
		if c.raw != nil {
			_ = c.raw.Close()
		} else {
			go func() { _ = c.conn.CloseNow() }()
		}
	}
}

// hijackCapture remembers the connection websocket.Accept hijacks.
type hijackCapture struct {
	http.ResponseWriter
	conn net.Conn
}

// Hijack hijacks the underlying connection and keeps it.
func (w *hijackCapture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("server: hijack: %w", err)
	}
	w.conn = conn
	return conn, brw, nil
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *hijackCapture) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wsStats describes the connected clients, oldest first.
func (s *Server) wsStats() []wsClientStats {
	s.wsMu.Lock()
	out := make([]wsClientStats, 0, len(s.wsClients))
	for c := range s.wsClients {
		st := wsClientStats{ID: c.id, Remote: c.remote, Since: c.since, Dropped: c.dropped(), Events: c.evSub != nil}
		if c.sub != nil {
			st.Camera, st.Queued = c.sub.Camera(), c.sub.Len()
		}
		if c.evSub != nil {
			st.Camera = c.evSub.Camera()
			st.Queued += c.evSub.Len()
		}
		out = append(out, st)
	}
	s.wsMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
