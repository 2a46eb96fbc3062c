package placement_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gstvision/gstvision/internal/placement"
)

func ptr(v int) *int { return &v }

// TestBalanced: unpinned cameras spread evenly; with as many cameras, the GPU that measured
// fewer frames/s takes the next one.
func TestBalanced(t *testing.T) {
	p, err := placement.New([]int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if _, err := p.Place(fmt.Sprintf("cam%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for g, l := range p.Loads() {
		if l.Cameras != 3 {
			t.Errorf("gpu %d has %d cameras, want 3", g, l.Cameras)
		}
	}
	p.SetFPS(0, 95)
	p.SetFPS(1, 60)
	p.SetFPS(2, 90)
	if g, _ := p.Place("cam9", nil); g != 1 {
		t.Errorf("cam9 on gpu %d, want 1 (same cameras, fewest frames/s)", g)
	}
	if g, _ := p.Place("cam9", nil); g != 1 {
		t.Errorf("placing cam9 again moved it to gpu %d", g)
	}
	p.Remove("cam9")
	if _, ok := p.GPU("cam9"); ok {
		t.Error("cam9 still placed after Remove")
	}
}

// TestPinned: a pinned camera goes to its GPU whatever the load, and a pin to a GPU outside
// gpus is refused by name.
func TestPinned(t *testing.T) {
	p, _ := placement.New([]int{0, 1})
	for i := range 4 {
		if g, err := p.Place(fmt.Sprintf("pinned%d", i), ptr(0)); err != nil || g != 0 {
			t.Fatalf("pinned%d: gpu %d, %v; want 0", i, g, err)
		}
	}
	if g, _ := p.Place("free", nil); g != 1 {
		t.Errorf("free camera on gpu %d, want the empty gpu 1", g)
	}
	_, err := p.Place("bad", ptr(3))
	if !errors.Is(err, placement.ErrUnknownGPU) {
		t.Errorf("pin to gpu 3: %v, want ErrUnknownGPU", err)
	}
	if _, err := placement.New(nil); !errors.Is(err, placement.ErrNoGPU) {
		t.Errorf("New(nil) = %v, want ErrNoGPU", err)
	}
	if _, err := placement.New([]int{0, 0}); err == nil {
		t.Error("New([0 0]) accepted a repeated GPU")
	}
}

// TestGPUFails: the cameras of a failed GPU move to the working ones (balanced), pinned ones
// are stranded, the others stay where they are, and a pin to the failed GPU is refused.
func TestGPUFails(t *testing.T) {
	p, _ := placement.New([]int{0, 1, 2})
	for i := range 6 {
		p.Place(fmt.Sprintf("cam%d", i), nil)
	}
	p.Place("pinned", ptr(1))
	before := map[string]int{}
	for i := range 6 {
		before[fmt.Sprintf("cam%d", i)], _ = p.GPU(fmt.Sprintf("cam%d", i))
	}
	moved, stranded := p.Fail(1)
	if len(moved) != 2 || len(stranded) != 1 || stranded[0] != "pinned" {
		t.Fatalf("Fail(1): moved %v, stranded %v; want gpu 1's 2 free cameras moved, pinned stranded", moved, stranded)
	}
	for c, g := range moved {
		if g == 1 || before[c] != 1 {
			t.Errorf("%s moved from %d to %d", c, before[c], g)
		}
	}
	for c, g := range before {
		if _, ok := moved[c]; !ok {
			if now, _ := p.GPU(c); now != g {
				t.Errorf("%s on a working GPU moved from %d to %d", c, g, now)
			}
		}
	}
	loads := p.Loads()
	if loads[0].Cameras+loads[2].Cameras != 6 || loads[1].Cameras != 0 || !loads[1].Failed {
		t.Errorf("loads after the failure: %+v", loads)
	}
	if d := loads[0].Cameras - loads[2].Cameras; d < -1 || d > 1 {
		t.Errorf("unbalanced after the failure: %+v", loads)
	}
	if _, err := p.Place("pinned", ptr(1)); !errors.Is(err, placement.ErrGPUFailed) {
		t.Errorf("pin to the failed GPU: %v, want ErrGPUFailed", err)
	}
	if moved, _ := p.Fail(0); len(moved) != loads[0].Cameras {
		t.Errorf("gpu 0 failing moved %v, want its %d cameras to gpu 2", moved, loads[0].Cameras)
	}
	moved, stranded = p.Fail(2)
	if len(moved) != 0 || len(stranded) != 6 {
		t.Errorf("last GPU failing: moved %v, stranded %v; want all 6 stranded", moved, stranded)
	}
	if _, err := p.Place("new", nil); !errors.Is(err, placement.ErrNoGPU) {
		t.Errorf("placing with every GPU failed: %v, want ErrNoGPU", err)
	}
}
