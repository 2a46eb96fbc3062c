package gst

// #include "gstv.h"
import "C"

import (
	"runtime"
	"sync"
	"time"
)

// go-gst frees GStreamer objects in Go finalizers, and finalizers run only after a garbage
// collection, which a busy server with a small Go heap may not start for a long while. A
// stopped pipeline would keep its sockets, decoder and buffers until then (the soak saw open
// file descriptors swing by ~40 with camera reconnects). So a pipeline teardown asks for a
// collection soon: at most one a second, however many cameras reconnect at once. Once the
// finalizers have run, the memory GStreamer freed goes back to the system (trimMalloc).
var (
	collectOnce sync.Once
	collectReq  = make(chan struct{}, 1)
)

// collectSoon asks for the collections that let go-gst free a stopped pipeline.
func collectSoon() {
	collectOnce.Do(func() { go collectLoop() })
	select {
	case collectReq <- struct{}{}:
	default: // one is already due
	}
}

func collectLoop() {
	for range collectReq {
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
