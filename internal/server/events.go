package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/events"
)

// Events is the event feed and history; *events.Store implements it.
type Events interface {
	Subscribe(camera string, queueLen int) *events.Subscription
	Unsubscribe(s *events.Subscription)
	List(q events.Query) []defs.Event
	Occupancy(camera string) map[string]map[string]int
	Snapshot(ctx context.Context, id uint64) ([]byte, error)
}

// maxEventsLimit bounds ?limit= of /api/events.
const maxEventsLimit = 1000

// eventsRoutes registers the event routes.
func (s *Server) eventsRoutes() {
	s.mustHandle("GET /api/events", s.handleEvents, false)
	s.mustHandle("GET /api/events/{id}/snapshot.jpg", s.handleEventSnapshot, false)
	s.mustHandle("GET /api/cameras/{id}/occupancy", s.handleOccupancy, false)
}

// eventsOrErr returns the event store, or writes 503 and returns nil.
func (s *Server) eventsOrErr(w http.ResponseWriter) Events {
	if s.events == nil {
		WriteErr(w, fmt.Errorf("events are %w", ErrUnavailable))
	}
	return s.events
}

// parseEventQuery reads /api/events' filters: camera, type, label, zone, line, since_id,
// since (RFC 3339), limit.
func parseEventQuery(r *http.Request) (events.Query, error) {
	v := r.URL.Query()
	q := events.Query{Camera: v.Get("camera"), Type: defs.EventType(v.Get("type")), Label: v.Get("label"),
		Zone: v.Get("zone"), Line: v.Get("line")}
	if q.Type != "" && !events.Valid(q.Type) {
		return q, fmt.Errorf("%w: type %q: want one of object_appeared, object_lost, zone_entered, zone_left, line_crossed", ErrBadRequest, q.Type)
	}
	if s := v.Get("since_id"); s != "" {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, fmt.Errorf("%w: since_id %q: want an event ID", ErrBadRequest, s)
		}
		q.SinceID = id
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, fmt.Errorf("%w: since %q: want an RFC 3339 time", ErrBadRequest, s)
		}
		q.Since = t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventsLimit {
			return q, fmt.Errorf("%w: limit %q: want 1..%d", ErrBadRequest, s, maxEventsLimit)
		}
		q.Limit = n
	}
	return q, nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	ev := s.eventsOrErr(w)
	if ev == nil {
		return
	}
	q, err := parseEventQuery(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, ev.List(q))
}

func (s *Server) handleEventSnapshot(w http.ResponseWriter, r *http.Request) {
	ev := s.eventsOrErr(w)
	if ev == nil {
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		WriteErr(w, fmt.Errorf("%w: event ID %q", ErrBadRequest, r.PathValue("id")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	jpg, err := ev.Snapshot(ctx, id)
	switch {
	case errors.Is(err, events.ErrNoSnapshot):
		WriteErr(w, fmt.Errorf("%w: %w", ErrNotFound, err))
		return
	case err != nil:
		WriteErr(w, fmt.Errorf("%w: %w", ErrUnavailable, err))
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=3600") // the picture of a past moment never changes
	_, _ = w.Write(jpg)
}

func (s *Server) handleOccupancy(w http.ResponseWriter, r *http.Request) {
	ev := s.eventsOrErr(w)
	if ev == nil {
		return
	}
	id := r.PathValue("id")
	if _, ok := s.cams.Get(id); !ok {
		WriteErr(w, cameraNotFound(id))
		return
	}
	WriteJSON(w, http.StatusOK, ev.Occupancy(id))
}
