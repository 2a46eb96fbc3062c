package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/results"
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
	view, err := webrtc.ParseView(cfg.WebRTC.View, webrtc.ViewPassthrough)
	if err != nil {
		return fmt.Errorf("webrtc.view: %w", err)
	}
	rtc, err := webrtc.NewManager(webrtc.Options{ICEServers: ice, UDPPortMin: cfg.WebRTC.UDPPortMin,
		UDPPortMax: cfg.WebRTC.UDPPortMax, LoopbackOnly: isLoopback(cfg.Server.Listen), DefaultView: view,
		Detections: a.feedDetections, Logger: a.log})
	if err != nil {
		return err
	}
	a.rtc = rtc
	if a.ops.api != nil {
		a.ops.api.setViewOf(func(id string) (string, string) {
			v, reason := rtc.CameraView(id)
			return string(v), reason
		})
	}
	a.SetWebRTCViewers(func() map[string]int {
		out := map[string]int{}
		for cam, st := range rtc.Stats() {
			out[cam] = st.Viewers
		}
		return out
	})
	a.viewers = viewer.NewManager(viewer.Options{Encoder: encoder, MaxWidth: cfg.WebRTC.MaxWidth,
		BitrateKbps: cfg.WebRTC.BitrateKbps, CUDA: a.cudaFor, Latest: a.hub.Latest, Subscribe: a.hub.Subscribe,
		Logger: a.log}, rtc)
	a.cameras.SetViewerHooks(a.viewers.Add, a.viewers.Remove)
	a.cameras.SetPassthroughHook(a.viewers.AddPassthrough)
	a.log.Info("viewer video", "encoder", encoder, "max_width", cfg.WebRTC.MaxWidth, "view", view)

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
	if err := a.server.HandleFunc("GET /api/cameras/{id}/zones", a.handleZones, false); err != nil { // analysis.go
		return err
	}
	return a.server.HandleFunc("GET /api/cameras/{id}/snapshot.jpg", a.handleSnapshot, false)
}

// feedDetections sends camera's results to one WHEP session's detections channel until ctx
// ends: the /ws JSON of each analysed frame, with its PTS. Its queue is bounded and drops the
// oldest (results.Hub): a slow viewer never holds up a camera.
func (a *App) feedDetections(ctx context.Context, camera string, send func(pts time.Duration, json []byte)) {
	sub := a.hub.Subscribe(camera, 64)
	defer sub.Close()
	var buf []byte
	for {
		select {
		case r := <-sub.C():
			buf = results.AppendJSON(buf[:0], &r)
			send(r.PTS, buf)
		case <-sub.Done():
			return
		case <-ctx.Done():
			return
		}
	}
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
