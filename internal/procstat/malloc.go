package procstat

/*
#include <malloc.h>
static size_t procstat_malloc_in_use(void) { struct mallinfo2 m = mallinfo2(); return m.uordblks + m.hblkhd; }
static size_t procstat_malloc_free(void) { struct mallinfo2 m = mallinfo2(); return m.fordblks; }
*/
import "C"

// MallocInUseMB is the memory C code holds through glibc's malloc (in use, not freed), in MB:
// growing with it, RSS is a leak in C code (GStreamer, drivers); flat while RSS grows, it is
// memory freed but kept by malloc (fragmentation, per-thread arenas).
func MallocInUseMB() float64 { return float64(C.procstat_malloc_in_use()) / (1 << 20) }

// MallocFreeMB is the memory glibc's malloc has been given and holds free (in its arenas), in
// MB: resident where it was touched, so RSS can grow with it while MallocInUseMB stays flat.
func MallocFreeMB() float64 { return float64(C.procstat_malloc_free()) / (1 << 20) }
