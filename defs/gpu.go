package defs

// GPUStatus is one GPU in use (device cuda), as GET /api/gpus lists it.
type GPUStatus struct {
	GPU     int     `json:"gpu"`     // CUDA device ordinal
	Name    string  `json:"name"`    // e.g. "NVIDIA H200"
	Cameras int     `json:"cameras"` // cameras placed on it
	FPS     float64 `json:"fps"`     // frames/s its cameras decoded over the last second
	// MemoryUsedMB and MemoryTotalMB are the device's memory; absent when it cannot be read.
	MemoryUsedMB  uint64 `json:"memory_used_mb,omitempty"`
	MemoryTotalMB uint64 `json:"memory_total_mb,omitempty"`
	// Failed is set once the GPU's context answered errors: its cameras moved or stopped.
	Failed bool `json:"failed,omitempty"`
}
