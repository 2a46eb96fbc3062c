package inference

import (
	"slices"
	"testing"
)

// The batch sizes the CUDA backend runs (and warms up, so that GPU memory does not grow after
// the first frame): few shapes; with a CUDA graph (whose session's batch NewCUDABackend fixes at
// maxBatch), only the full batch.
func TestCUDABackendRunSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		b    cudaBackend
		want []int       // runSizes
		runs map[int]int // n filled → size run
	}{
		{"dynamic", cudaBackend{maxBatch: 32}, []int{1, 2, 4, 8, 12, 16, 20, 24, 28, 32}, map[int]int{3: 4, 9: 12, 31: 32}},
		{"graph", cudaBackend{maxBatch: 32, graph: true, info: ModelInfo{FixedBatch: 32}}, []int{32}, map[int]int{1: 32, 9: 32}},
		{"fixed-batch model", cudaBackend{maxBatch: 4, info: ModelInfo{FixedBatch: 4}}, []int{4}, map[int]int{1: 4}},
	} {
		if got := c.b.runSizes(); !slices.Equal(got, c.want) {
			t.Errorf("%s: run sizes %v, want %v", c.name, got, c.want)
		}
		for n, want := range c.runs {
			if got := c.b.runSize(n); got != want {
				t.Errorf("%s: %d filled slots run as a batch of %d, want %d", c.name, n, got, want)
			}
		}
	}
}
