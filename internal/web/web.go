// Package web serves the viewer page: plain HTML, CSS and JavaScript embedded in the binary, no
// build step. The page shows a grid of the cameras from GET /api/cameras (refreshed every 2 s),
// plays each one over WHEP (POST /whep/{id}?view=passthrough|annotated, the default from the
// camera's "view" field, a toggle per tile), lists recent detections from the /ws stream, and
// passes a ?token= from its own address on to the API (Authorization: Bearer) and the WebSocket
// (?token=). For passthrough video the page draws the boxes itself on a canvas over the video,
// each frame getting its own result: those of the session's "detections" data channel matched
// by RTP timestamp (requestVideoFrameCallback), else /ws results matched by media time, which
// the tile notes. Only tiles on screen in a visible tab hold a WHEP session; /#cam=ID shows
// one camera.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Paths the handler serves: the page at "/" and its assets under "/assets/".
const (
	PagePath    = "/"
	AssetPrefix = "/assets/"
)

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// contentSecurityPolicy allows the page only its own scripts, styles and connections
// (fetch, WebSocket); WebRTC media is not subject to CSP.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

// Handler serves the viewer page at "/" (also "/index.html") and its assets at
// "/assets/viewer.js" and "/assets/viewer.css", with ETags for revalidation. Other paths are
// 404; methods other than GET and HEAD are 405. The files hold no secrets, so the server can
// mount them without auth (the page asks for the token in its own address).
func Handler() http.Handler {
	assets := map[string]*asset{}
	_ = fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "static/")
		a := &asset{body: body, contentType: contentType(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if name == "index.html" {
			assets[PagePath] = a
			assets["/index.html"] = a
		} else {
			assets[AssetPrefix+name] = a
		}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := assets[r.URL.Path]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		// Revalidate every time: the files change with the binary, and a 304 is cheap.
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if a.contentType == "text/html; charset=utf-8" {
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("Referrer-Policy", "no-referrer") // the address may carry ?token=
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}
