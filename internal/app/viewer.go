package app

import (
	"errors"
	"net/http"

	"github.com/gstvision/gstvision/cuda"
	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/server"
	"github.com/gstvision/gstvision/internal/viewer"
	"github.com/gstvision/gstvision/internal/web"
	"github.com/gstvision/gstvision/webrtc"
)

// initViewers sets up the browser side: WHEP (pion), each camera's annotated viewer stream,
// snapshots and the viewer page.
func (a *App) initViewers() error {
	cfg := a.cfg
	encoder, err := gst.ChooseEncoder(cfg.WebRTC.Encoder)
	if err != nil {
		return err
	}
	ice := make([]webrtc.ICEServer, 0, len(cfg.WebRTC.ICEServers))
	for _, s := range cfg.WebRTC.ICEServers {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	rtc, err := webrtc.NewManager(webrtc.Options{ICEServers: ice, UDPPortMin: cfg.WebRTC.UDPPortMin,
		UDPPortMax: cfg.WebRTC.UDPPortMax, LoopbackOnly: isLoopback(cfg.Server.Listen), Logger: a.log})
	if err != nil {
		return err
	}
	a.rtc = rtc
	a.SetWebRTCViewers(func() map[string]int {
		out := map[string]int{}
		for cam, st := range rtc.Stats() {
			out[cam] = st.Viewers
		}
		return out
	})
	a.viewers = viewer.NewManager(viewer.Options{Encoder: encoder, MaxWidth: cfg.WebRTC.MaxWidth,
		BitrateKbps: cfg.WebRTC.BitrateKbps, CUDA: a.engine.CUDA(), Latest: a.hub.Latest, Subscribe: a.hub.Subscribe,
		Logger: a.log}, rtc)
	a.cameras.SetViewerHooks(a.viewers.Add, a.viewers.Remove)
	a.log.Info("viewer video", "encoder", encoder, "max_width", cfg.WebRTC.MaxWidth)

	whep := rtc.Handler(func(id string) bool { _, ok := a.cameras.Get(id); return ok })
	for _, p := range []string{"POST /whep/{camera}", "DELETE /whep/{camera}/{session}", "PATCH /whep/{camera}/{session}", "OPTIONS /whep/{camera}"} {
		if err := a.server.Handle(p, whep, false); err != nil {
			return err
		}
	}
	page := web.Handler()
	if err := a.server.Handle("GET /{$}", page, true); err != nil {
		return err
	}
	if err := a.server.Handle("GET /assets/", page, true); err != nil {
		return err
	}
	return a.server.HandleFunc("GET /api/cameras/{id}/snapshot.jpg", a.handleSnapshot, false)
}

func (a *App) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	jpg, err := a.viewers.Snapshot(r.Context(), id)
	switch {
	case errors.Is(err, defs.ErrUnknownCamera):
		server.WriteError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, viewer.ErrNoFrame):
		server.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		server.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(jpg)
}

// isLoopback reports whether the server listens on loopback only.
func isLoopback(listen string) bool {
	for _, p := range []string{"127.", "localhost:", "[::1]:"} {
		if len(listen) >= len(p) && listen[:len(p)] == p {
			return true
		}
	}
	return false
}

// CUDA is the shared CUDA context in cuda mode, nil otherwise.
func (e *Engine) CUDA() *cuda.Context {
	if e.cuda == nil {
		return nil
	}
	return e.cuda.ctx
}
