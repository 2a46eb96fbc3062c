package gst

/*
#include <malloc.h>
#include <stdlib.h>

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

// largeBlocksMapped reports whether blocks of 2 MiB are mapped on their own even after a
// larger block was freed: true with the fixed mmap threshold gstv.c sets at start-up.
func largeBlocksMapped() bool { return C.gstv_large_block_mapped() == 1 }
