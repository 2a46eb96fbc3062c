package app

import (
	"fmt"
	"net/http"
	"net/http/pprof"
)

// initPprof serves Go's profiles under /debug/pprof/ when debug.pprof is on. The routes need
// the token like the rest of the API: profiles show memory contents and the command line.
func (a *App) initPprof() error {
	if !a.cfg.Debug.Pprof {
		return nil
	}
	routes := map[string]http.HandlerFunc{
		"GET /debug/pprof/":        pprof.Index, // also serves heap, goroutine, allocs, block, mutex, threadcreate
		"GET /debug/pprof/cmdline": pprof.Cmdline,
		"GET /debug/pprof/profile": pprof.Profile,
		"GET /debug/pprof/symbol":  pprof.Symbol,
		"POST /debug/pprof/symbol": pprof.Symbol,
		"GET /debug/pprof/trace":   pprof.Trace,
	}
	for pattern, h := range routes {
		if err := a.server.Handle(pattern, h, false); err != nil {
			return fmt.Errorf("pprof route: %w", err)
		}
	}
	a.log.Info("Go profiles served at /debug/pprof/ (debug.pprof)")
	return nil
}
