package gst

/*
#include <malloc.h>
#include <stdlib.h>
#include "gstv.h"

// gstv_large_block_mapped frees a large block (after which glibc's default rule raises its mmap
// threshold to that size) and reports whether a 2 MiB block still gets a mapping of its own.
// 2 MiB is more than an arena keeps free at its top under a fixed threshold, so the threshold
// alone decides.
static int gstv_large_block_mapped(void) {
	void *volatile big = malloc(4 << 20); // volatile: the compiler may not elide the pair
	free(big);
	struct mallinfo2 before = mallinfo2();
	void *volatile p = malloc(2 << 20);
	struct mallinfo2 after = mallinfo2();
	free(p);
	return after.hblks == before.hblks + 1;
}
*/
import "C"

import "sync"

var tuneOnce sync.Once

// TuneMalloc sets glibc malloc for a process whose pipelines are rebuilt again and again (every
// camera reconnect, addition or removal). Call it first thing in main, before GStreamer starts
// any thread; later calls do nothing. Environment variables the operator set win.
//
//   - Two arenas (MALLOC_ARENA_MAX): glibc gives threads arenas of their own, up to 8 per core,
//     and memory freed into an arena stays there, so every rebuild's new streaming threads
//     would leave more resident memory behind.
//   - A fixed mmap threshold of 256 KiB (MALLOC_MMAP_THRESHOLD_): glibc raises its threshold
//     each time a large mapped block is freed, after which frame-sized buffers come from the
//     arenas and stay resident once freed; fixed, they get mappings of their own, returned to
//     the system when freed (TestLargeBlocksStayMapped).
//
// BENCHMARKS.md has the soaks that measured both.
func TuneMalloc() { tuneOnce.Do(func() { C.gstv_tune_malloc() }) }

// largeBlocksMapped reports whether blocks of 2 MiB are mapped on their own even after a
// larger block was freed: true once TuneMalloc fixed the mmap threshold.
func largeBlocksMapped() bool { return C.gstv_large_block_mapped() == 1 }
