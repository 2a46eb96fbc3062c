package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/results"
)

// routes registers the built-in routes.
func (s *Server) routes() {
	s.mustHandle("GET /healthz", s.handleHealthz, true)
	s.mustHandle("GET /readyz", s.handleReadyz, true)
	s.mustHandle("GET /api/cameras", s.handleListCameras, false)
	s.mustHandle("GET /api/cameras/{id}", s.handleGetCamera, false)
	s.mustHandle("POST /api/cameras", s.handleAddCamera, false)
	s.mustHandle("PUT /api/cameras/{id}", s.handleUpdateCamera, false)
	s.mustHandle("PATCH /api/cameras/{id}", s.handlePatchCamera, false) // patch.go
	s.mustHandle("DELETE /api/cameras/{id}", s.handleRemoveCamera, false)
	s.mustHandle("GET /api/stats", s.handleStats, false)
	s.mustHandle("GET /ws", s.handleWS, false)
	s.eventsRoutes() // events.go
}

// health is the body of /healthz and /readyz.
type health struct {
	Status  string `json:"status"`
	Cameras int    `json:"cameras"`
	Running int    `json:"running"`

	disabled int // cameras switched off: readiness does not wait for them
}

func (s *Server) health() health {
	list := s.cams.List()
	h := health{Cameras: len(list)}
	for i := range list {
		switch list[i].State {
		case defs.StateRunning:
			h.Running++
		case defs.StateDisabled:
			h.disabled++
		}
	}
	return h
}

// handleHealthz answers 200 while the process serves.
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	h := s.health()
	h.Status = "ok"
	WriteJSON(w, http.StatusOK, h)
}

// handleReadyz answers 200 once at least one camera runs (or none are configured), 503 before
// that and during shutdown.
func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	h := s.health()
	switch {
	case s.shuttingDown():
		h.Status = "shutting down"
	case h.Cameras == h.disabled || h.Running > 0: // nothing to wait for, or something runs
		h.Status = "ready"
		WriteJSON(w, http.StatusOK, h)
		return
	default:
		h.Status = "not ready"
	}
	WriteJSON(w, http.StatusServiceUnavailable, h)
}

func (s *Server) handleListCameras(w http.ResponseWriter, _ *http.Request) {
	list := s.cams.List()
	if list == nil {
		list = []defs.Status{}
	}
	WriteJSON(w, http.StatusOK, list)
}

func (s *Server) handleGetCamera(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, ok := s.cams.Get(id)
	if !ok {
		WriteErr(w, cameraNotFound(id))
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

func cameraNotFound(id string) error {
	return fmt.Errorf("camera %q %w", id, ErrNotFound)
}

// manager returns the camera manager, or writes 501 and returns nil.
func (s *Server) manager(w http.ResponseWriter) CameraManager {
	m, ok := s.cams.(CameraManager)
	if !ok {
		WriteErr(w, fmt.Errorf("camera management is %w", ErrNotImplemented))
		return nil
	}
	return m
}

// readSpec reads a camera spec body and checks it is one JSON value.
func readSpec(r *http.Request) (json.RawMessage, error) {
	var spec json.RawMessage
	if err := DecodeJSON(r, &spec); err != nil {
		return nil, err
	}
	return spec, nil
}

func (s *Server) handleAddCamera(w http.ResponseWriter, r *http.Request) {
	m := s.manager(w)
	if m == nil {
		return
	}
	spec, err := readSpec(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	st, err := m.AddCamera(r.Context(), spec)
	if err != nil {
		s.writeManagerErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/cameras/"+url.PathEscape(st.ID))
	WriteJSON(w, http.StatusCreated, st)
}

func (s *Server) handleUpdateCamera(w http.ResponseWriter, r *http.Request) {
	m := s.manager(w)
	if m == nil {
		return
	}
	spec, err := readSpec(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	st, err := m.UpdateCamera(r.Context(), r.PathValue("id"), spec)
	if err != nil {
		s.writeManagerErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

func (s *Server) handleRemoveCamera(w http.ResponseWriter, r *http.Request) {
	m := s.manager(w)
	if m == nil {
		return
	}
	if err := m.RemoveCamera(r.Context(), r.PathValue("id")); err != nil {
		s.writeManagerErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeManagerErr answers a CameraManager error, logging the ones that are the server's fault.
func (s *Server) writeManagerErr(w http.ResponseWriter, r *http.Request, err error) {
	if StatusOf(err) >= http.StatusInternalServerError && !errors.Is(err, ErrNotImplemented) {
		s.log.Error("camera management failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteErr(w, err)
}

// stats is the body of /api/stats.
type stats struct {
	UptimeSeconds float64         `json:"uptime_s"`
	Cameras       int             `json:"cameras"`
	Running       int             `json:"running"`
	Results       *results.Stats  `json:"results,omitempty"`
	WSClients     []wsClientStats `json:"ws_clients"`
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	h := s.health()
	st := stats{
		UptimeSeconds: time.Since(s.started).Round(time.Millisecond).Seconds(),
		Cameras:       h.Cameras,
		Running:       h.Running,
		WSClients:     s.wsStats(),
	}
	if s.results != nil {
		rs := s.results.Stats()
		st.Results = &rs
	}
	WriteJSON(w, http.StatusOK, st)
}
