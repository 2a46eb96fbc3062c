//go:build e2e

package e2e

import (
	"os"
	"testing"

	"github.com/gstvision/gstvision/gst"
)

// TestMain tunes malloc as gstvision's main does: the tests run serve in this process and
// measure its memory.
func TestMain(m *testing.M) {
	gst.TuneMalloc()
	os.Exit(m.Run())
}
