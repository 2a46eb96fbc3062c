package procstat

import "runtime/metrics"

// GoMemory is what the Go runtime holds, in MB.
type GoMemory struct {
	LiveHeapMB float64 // heap objects alive at the last collection (garbage excluded)
	HeldMB     float64 // memory the runtime has mapped and not returned to the OS (heap, stacks, metadata)
}

var goMemorySamples = []metrics.Sample{
	{Name: "/gc/heap/live:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

// ReadGoMemory reads the runtime's own accounting: a growing live heap is a Go leak; held
// memory above it is garbage between collections and freed pages not yet returned.
func ReadGoMemory() GoMemory {
	s := make([]metrics.Sample, len(goMemorySamples))
	copy(s, goMemorySamples)
	metrics.Read(s)
	mb := func(i int) float64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return float64(s[i].Value.Uint64()) / (1 << 20)
	}
	return GoMemory{LiveHeapMB: mb(0), HeldMB: mb(1) - mb(2)}
}
