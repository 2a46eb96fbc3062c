package server

import (
	"fmt"
	"net/http"
	"strings"
)

// checkWrite refuses a state-changing request that a browser sent from a page of an origin the
// policy does not allow. CORS alone does not stop those: a "simple" request (a form post, a fetch
// with a text/plain body) reaches the handler before the browser looks at the answer. The
// server's own origin is always allowed, and so is a request without Origin (curl, another
// server): browsers send Origin with every request but GET and HEAD.
func (p *corsPolicy) checkWrite(r *http.Request) error {
	if p.any || safeMethod(r.Method) {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		// Fetch metadata still marks a request from another site whose Origin was left out.
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			return fmt.Errorf("%s request without Origin %w", site, ErrForbidden)
		}
		return nil
	}
	if p.allows(origin) || sameOrigin(r, origin) {
		return nil
	}
	return originNotAllowed(origin)
}

// safeMethod reports whether method only reads; any other may change state.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// sameOrigin reports whether origin is the server's own as the request reached it:
// scheme://Host. A plain-HTTP request may have come through a proxy that terminates TLS and
// forwards Host, so there https://Host counts too.
func sameOrigin(r *http.Request, origin string) bool {
	if r.Host == "" {
		return false
	}
	o, host := normOrigin(origin), strings.ToLower(r.Host)
	return o == "https://"+host || r.TLS == nil && o == "http://"+host
}

func originNotAllowed(origin string) error {
	return fmt.Errorf("origin %q %w", origin, ErrForbidden)
}
