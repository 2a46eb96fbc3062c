package gst

// #include "gstv.h"
import "C"

import (
	"context"
	"runtime"
	"time"
)

// go-gst frees GStreamer objects in Go finalizers, and finalizers run only after a garbage
// collection, which a busy server with a small Go heap may not start for a long while: a
// stopped pipeline would keep its sockets, decoder and buffers until then. So a pipeline's Stop
// asks for a collection soon, and the collector (StartCollector) serves those requests, at most
// one a second however many cameras reconnect at once. Once the finalizers have run, the memory
// GStreamer freed goes back to the system (gstv_trim_malloc).
var collectReq = make(chan struct{}, 1)

// collectSoon asks the collector for the collections that let go-gst free a stopped pipeline.
func collectSoon() {
	select {
	case collectReq <- struct{}{}:
	default: // one is already due
	}
}

// StartCollector serves, until ctx ends, the collections that stopped pipelines ask for.
// Without it, their GStreamer objects (sockets, decoders, buffers) go only when the Go runtime
// next collects by itself. Start it once where pipelines are started and stopped; collectors
// started more than once share the requests.
func StartCollector(ctx context.Context) { go collect(ctx) }

func collect(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-collectReq:
		}
		// The first collection runs the finalizer of the CameraPipeline; the wrappers it
		// held become unreachable only then, and go in the second.
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		time.Sleep(100 * time.Millisecond) // the finalizers run after the collection
		C.gstv_trim_malloc()
		time.Sleep(time.Second)
	}
}
