package webrtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/defs"
)

// Handler returns the WHEP endpoint (draft-ietf-wish-whep):
//
//	POST    /whep/{camera}            offer (application/sdp) → 201, answer, Location, ETag, Link, Accept-Patch,
//	                                  X-Gstvision-View (and X-Gstvision-View-Reason when it fell back)
//	PATCH   /whep/{camera}/{session}  trickle ICE (application/trickle-ice-sdpfrag, RFC 8840) → 204
//	DELETE  /whep/{camera}/{session}  end the session → 200
//	OPTIONS /whep/{camera}            204, Allow, Accept-Post, Accept-Patch, Link (ICE servers)
//	OPTIONS /whep/{camera}/{session}  204, Allow, Accept-Patch
//
// The answer carries the server's candidates (the server does not trickle its own); clients may
// send the offer before their own gathering ends and PATCH their candidates as they come. A
// PATCH with If-Match must match the session's ETag ("*" matches any). ICE restarts (a fragment
// with new ICE credentials) are refused with 422, as WHIP and WHEP prescribe for a server that
// trickles but does not restart: the client POSTs a new offer instead.
//
// lookup reports whether a camera exists; a nil lookup accepts the cameras that have a
// broadcaster. An offer for a known camera without one creates it, so viewers may arrive
// before the camera's pipeline registers its callbacks (see [Broadcaster.OnViewersChanged]).
//
// POST takes ?view=passthrough (the camera's own H.264) or ?view=annotated (decoded, boxes
// drawn, encoded again); without it, Options.DefaultView. A passthrough request for a camera
// that cannot be passed through (B-frames, H.265: Broadcaster.Fallback) gets the annotated view,
// never an error, and the response headers say so. A passthrough answer carries the offer's
// H.264 entry of the camera's profile, stating the camera's profile-level-id, or else one whose
// profile decodes the camera's (choosePassthroughCodec); an offer without one gets the
// annotated view (constrained baseline) the same way. An offer with a data channel labelled
// "detections" gets each analysed frame's detections on it (Options.Detections).
//
// Errors are JSON {"error": "..."}: 400 (malformed SDP or fragment, no H.264 video, unknown
// view), 404
// (unknown camera or session), 412 (If-Match does not match), 413 (body larger than
// Options.MaxOfferBytes), 415 (not application/sdp, or not application/trickle-ice-sdpfrag for
// PATCH), 422 (ICE restart), 503 (manager closed). The handler routes by itself, so it can be
// mounted on exactly these patterns or on the "/whep/" prefix.
func (m *Manager) Handler(lookup func(camera string) bool) http.Handler {
	h := &whepHandler{m: m, lookup: lookup}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep/{camera}", h.post)
	mux.HandleFunc("OPTIONS /whep/{camera}", h.options)
	mux.HandleFunc("DELETE /whep/{camera}/{session}", h.delete)
	mux.HandleFunc("PATCH /whep/{camera}/{session}", h.patch)
	mux.HandleFunc("OPTIONS /whep/{camera}/{session}", h.optionsSession)
	return mux
}

type whepHandler struct {
	m      *Manager
	lookup func(string) bool
}

// broadcaster resolves the camera of a request to its broadcaster of view.
func (h *whepHandler) broadcaster(camera string, view View) (*Broadcaster, error) {
	if h.m.isClosed() {
		return nil, fmt.Errorf("webrtc manager %w", defs.ErrClosed)
	}
	if h.lookup == nil {
		if b := h.m.lookupView(camera, view); b != nil {
			return b, nil
		}
		return nil, errUnknownCamera(camera)
	}
	if !h.lookup(camera) {
		return nil, errUnknownCamera(camera)
	}
	return h.m.broadcaster(camera, view), nil
}

// requestView is the view a POST gets: ?view= (else Options.DefaultView), passthrough falling
// back to annotated when the camera cannot be passed through (reason says why).
func (h *whepHandler) requestView(r *http.Request) (view View, reason string, err error) {
	want, err := ParseView(r.URL.Query().Get("view"), h.m.opts.DefaultView)
	if err != nil {
		return "", "", err
	}
	view, reason = h.m.resolveView(r.PathValue("camera"), want)
	return view, reason, nil
}

func (h *whepHandler) post(w http.ResponseWriter, r *http.Request) {
	camera := r.PathValue("camera")
	view, reason, err := h.requestView(r)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	b, err := h.broadcaster(camera, view)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	accept := []Codec{CodecH264}
	if view == ViewPassthrough && b.Codec() == CodecH265 {
		accept = append(accept, CodecH265) // an H.265-only offer suits an H.265 camera
	}
	offer, err := h.readOffer(r, accept...)
	if err != nil {
		if errors.Is(err, ErrUnsupportedMediaType) {
			w.Header().Set("Accept-Post", "application/sdp")
		}
		h.writeErr(w, r, err)
		return
	}
	var codec *passthroughCodec
	if view == ViewPassthrough {
		if codec, reason, err = passthroughOffer(b, offer); err != nil {
			h.writeErr(w, r, err)
			return
		}
		if codec == nil {
			view = ViewAnnotated
			if b, err = h.broadcaster(camera, view); err != nil {
				h.writeErr(w, r, err)
				return
			}
		}
	}
	s, answer, err := h.m.newSession(b, offer, r.RemoteAddr, codec)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	if r.Context().Err() != nil {
		// The client gave up while we gathered: nobody will use or DELETE this session.
		s.close("client went away before the answer")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/sdp")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Location", strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+s.id)
	hd.Set("ETag", s.etag)
	hd.Set("Accept-Patch", sdpFragType)
	hd.Set(HeaderView, string(view))
	if reason != "" {
		hd.Set(HeaderViewReason, reason)
	}
	h.setLinks(hd)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// passthroughOffer picks the offer's entry that a passthrough session of b sends the camera's
// stream with (choosePassthroughCodec, choosePassthroughH265). When the offer has none that
// decodes it, the codec is nil and reason says why: the request gets the annotated view.
func passthroughOffer(b *Broadcaster, offer string) (*passthroughCodec, string, error) {
	if b.Codec() == CodecH265 {
		entries, err := offerCodecs(offer, CodecH265)
		if err != nil {
			return nil, "", err
		}
		cam, known := b.ptl265()
		if c, ok := choosePassthroughH265(entries, cam, known); ok {
			return &c, "", nil
		}
		if len(entries) == 0 {
			return nil, ReasonH265, nil
		}
		return nil, fmt.Sprintf("%s: the offer lists no H.265 profile that decodes the camera's "+
			"(profile-id %d, tier-flag %d)", ReasonH265, cam.profile, cam.tier), nil
	}
	entries, err := offerCodecs(offer, CodecH264)
	if err != nil {
		return nil, "", err
	}
	cam, known := b.profileLevelID()
	if c, ok := choosePassthroughCodec(entries, cam, known); ok {
		return &c, "", nil
	}
	if !known {
		return nil, "the offer lists no H.264 profile with packetization-mode=1", nil
	}
	return nil, fmt.Sprintf("the offer lists no H.264 profile (packetization-mode=1) that decodes "+
		"the camera's %s (profile-level-id %s)", cam.profile(), cam), nil
}

// readOffer checks the content type and size and returns a checked SDP offer, one that lists
// a codec of accept (H.264 when none is given).
func (h *whepHandler) readOffer(r *http.Request, accept ...Codec) (string, error) {
	if err := checkContentType(r, "application/sdp"); err != nil {
		return "", err
	}
	body, err := h.readBody(r, ErrOfferTooLarge, ErrBadOffer)
	if err != nil {
		return "", err
	}
	if err := checkOffer(body, accept...); err != nil {
		return "", err
	}
	return body, nil
}

// checkContentType refuses a request whose body is not of media type want.
func checkContentType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != want {
		return fmt.Errorf("%w: Content-Type %q, want %s", ErrUnsupportedMediaType, ct, want)
	}
	return nil
}

// readBody reads a request body of at most Options.MaxOfferBytes. A larger one wraps tooLarge,
// a failed read (the client went away) malformed.
func (h *whepHandler) readBody(r *http.Request, tooLarge, malformed error) (string, error) {
	max := h.m.opts.MaxOfferBytes
	if r.ContentLength > max {
		return "", fmt.Errorf("%w: %d bytes, limit %d", tooLarge, r.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", fmt.Errorf("%w: limit %d bytes", tooLarge, mbe.Limit)
		}
		return "", fmt.Errorf("%w: reading body: %w", malformed, err)
	}
	if int64(len(body)) > max {
		return "", fmt.Errorf("%w: limit %d bytes", tooLarge, max)
	}
	return string(body), nil
}

func (h *whepHandler) delete(w http.ResponseWriter, r *http.Request) {
	s, err := h.session(r)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	s.closeAndWait("DELETE")
	w.WriteHeader(http.StatusOK)
}

// session resolves the session of a request's URL.
func (h *whepHandler) session(r *http.Request) (*session, error) {
	id := r.PathValue("session")
	for _, view := range []View{ViewAnnotated, ViewPassthrough} {
		if b := h.m.lookupView(r.PathValue("camera"), view); b != nil {
			if s, ok := b.session(id); ok {
				return s, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrSessionNotFound, id)
}

// patch adds the client's trickled ICE candidates (an RFC 8840 fragment) to its session.
func (h *whepHandler) patch(w http.ResponseWriter, r *http.Request) {
	frag, s, err := h.readPatch(r)
	if err == nil {
		err = s.addCandidates(frag)
	}
	if err != nil {
		if errors.Is(err, ErrUnsupportedMediaType) {
			w.Header().Set("Accept-Patch", sdpFragType)
		}
		h.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readPatch resolves the session of a PATCH and checks its preconditions, content type and
// size, and returns its parsed fragment.
func (h *whepHandler) readPatch(r *http.Request) (*sdpFrag, *session, error) {
	s, err := h.session(r)
	if err != nil {
		return nil, nil, err
	}
	if im := r.Header.Get("If-Match"); im != "" && !matchETag(im, s.etag) {
		return nil, nil, fmt.Errorf("%w: If-Match %s, the session's ETag is %s", ErrPreconditionFailed, im, s.etag)
	}
	if err := checkContentType(r, sdpFragType); err != nil {
		return nil, nil, err
	}
	body, err := h.readBody(r, ErrFragmentTooLarge, ErrBadFragment)
	if err != nil {
		return nil, nil, err
	}
	frag, err := parseSDPFrag(body)
	if err != nil {
		return nil, nil, err
	}
	return frag, s, nil
}

func (h *whepHandler) options(w http.ResponseWriter, r *http.Request) {
	if _, err := h.broadcaster(r.PathValue("camera"), ViewAnnotated); err != nil {
		h.writeErr(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Allow", "OPTIONS, POST")
	hd.Set("Accept-Post", "application/sdp")
	hd.Set("Accept-Patch", sdpFragType)
	h.setLinks(hd)
	w.WriteHeader(http.StatusNoContent)
}

func (h *whepHandler) optionsSession(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "DELETE, OPTIONS, PATCH")
	w.Header().Set("Accept-Patch", sdpFragType)
	w.WriteHeader(http.StatusNoContent)
}

// setLinks announces the ICE servers, one Link header per URL (RFC 8288, WHEP section 4.4):
//
//	Link: <stun:stun.example.net>; rel="ice-server"
//	Link: <turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"
func (h *whepHandler) setLinks(hd http.Header) {
	for _, s := range h.m.opts.ICEServers {
		for _, u := range s.URLs {
			v := "<" + u + `>; rel="ice-server"`
			if s.Username != "" || s.Credential != "" {
				v += "; username=" + quote(s.Username) + "; credential=" + quote(s.Credential) +
					`; credential-type="password"`
			}
			hd.Add("Link", v)
		}
	}
}

// quote makes an RFC 9110 quoted-string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// writeErr writes {"error": msg} with the status of err; 5xx are logged and their text hidden.
func (h *whepHandler) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		h.m.opts.Logger.Error("whep", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal server error"
	}
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// checkOffer parses an SDP (an offer, or an answer) and checks it has a video m-line, not
// rejected, listing one of codecs (H.264 when none is given).
func checkOffer(sdp string, codecs ...Codec) error {
	if len(codecs) == 0 {
		codecs = []Codec{CodecH264}
	}
	if strings.TrimSpace(sdp) == "" {
		return fmt.Errorf("%w: empty body", ErrBadOffer)
	}
	parsed, err := (&pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: sdp}).Unmarshal()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	var seen []string
	video := false
	for _, md := range parsed.MediaDescriptions {
		if md.MediaName.Media != "video" || md.MediaName.Port.Value == 0 {
			continue
		}
		video = true
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			// "96 H264/90000"
			_, enc, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(enc, "/")
			if slices.ContainsFunc(codecs, func(c Codec) bool { return strings.EqualFold(name, string(c)) }) {
				return nil
			}
			if !slices.Contains(seen, name) {
				seen = append(seen, name)
			}
		}
	}
	if !video {
		return fmt.Errorf("%w: no video m-line", ErrNoVideo)
	}
	if len(seen) == 0 {
		return fmt.Errorf("%w: the video m-line lists no codec by name", ErrNoVideo)
	}
	return fmt.Errorf("%w: the video m-line lists %s", ErrNoVideo, strings.Join(seen, ", "))
}
