package gst

import (
	"os"
	"testing"
)

// Frame-sized blocks keep their own mappings however large the blocks freed before them, so
// freeing them returns the memory instead of leaving holes in malloc's arenas (the soak's RSS
// growth, BENCHMARKS.md) once TuneMalloc ran. Fails with glibc's default, dynamic threshold.
func TestLargeBlocksStayMapped(t *testing.T) {
	if os.Getenv("MALLOC_MMAP_THRESHOLD_") != "" {
		t.Skip("MALLOC_MMAP_THRESHOLD_ is set: the operator's threshold applies")
	}
	TuneMalloc()
	if !largeBlocksMapped() {
		t.Fatal("a 2 MiB block came from an arena after a 4 MiB block was freed: the mmap threshold is not fixed")
	}
}
