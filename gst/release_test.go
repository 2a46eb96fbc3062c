package gst

import (
	"runtime"
	"testing"
	"time"
)

// A stopped pipeline's GStreamer objects go when go-gst's finalizers run; the collector must get
// them run although nothing else allocates (an idle test process never collects by itself).
func TestCollectorRunsFinalizers(t *testing.T) {
	StartCollector(t.Context())
	for round := range 2 { // and again, once the first request has been served
		done := make(chan struct{})
		func() {
			held := new([64]byte)
			runtime.SetFinalizer(held, func(*[64]byte) { close(done) })
		}()
		collectSoon()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the finalizer did not run within 5 s of collectSoon", round)
		}
	}
}
