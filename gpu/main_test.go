//go:build gpu

package gpu

import (
	"os"
	"testing"

	"github.com/gstvision/gstvision/gst"
)

// TestMain tunes malloc as gstvision's main does: the tests rebuild pipelines in this process
// and measure its memory.
func TestMain(m *testing.M) {
	gst.TuneMalloc()
	os.Exit(m.Run())
}
