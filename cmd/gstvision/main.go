// Command gstvision turns IP cameras into live, GPU-analysed video. See README.md.
package main

import (
	"os"

	"github.com/gstvision/gstvision/gst"
)

func main() {
	gst.TuneMalloc() // before GStreamer starts any thread: serve, simulate and bench run pipelines
	os.Exit(execute(os.Args[1:], os.Stderr))
}
