package procstat

/*
#include <malloc.h>
static size_t procstat_malloc_in_use(void) { struct mallinfo2 m = mallinfo2(); return m.uordblks + m.hblkhd; }
*/
import "C"

// MallocInUseMB is the memory C code holds through glibc's malloc (in use, not freed), in MB:
// growing with it, RSS is a leak in C code (GStreamer, drivers); flat while RSS grows, it is
// memory freed but kept by malloc (fragmentation, per-thread arenas).
func MallocInUseMB() float64 { return float64(C.procstat_malloc_in_use()) / (1 << 20) }
