// Package placement decides which GPU analyses each camera: a camera pinned to a GPU
// (cameras[].gpu) goes there, the others to the least-loaded GPU, and cameras move only when
// their GPU fails. It knows nothing of CUDA: the app asks it where to put a camera and tells
// it what it measured and what failed.
package placement

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Errors of the placer; callers test them with errors.Is.
var (
	ErrNoGPU      = errors.New("no GPU left to place the camera on")
	ErrUnknownGPU = errors.New("GPU not among the configured gpus")
	ErrGPUFailed  = errors.New("GPU failed")
)

// Load is what one GPU carries: its cameras and the frames/s it analysed lately.
type Load struct {
	Cameras int     `json:"cameras"`
	FPS     float64 `json:"fps"`
	Failed  bool    `json:"failed,omitempty"`
}

// Placer assigns cameras to GPUs. It is safe for concurrent use.
type Placer struct {
	mu     sync.Mutex
	gpus   []int
	failed map[int]bool
	fps    map[int]float64
	at     map[string]int  // camera → GPU
	pinned map[string]bool // cameras placed by their own gpu setting
}

// New returns a placer over the GPUs with these device indices (at least one, no repeats).
func New(gpus []int) (*Placer, error) {
	if len(gpus) == 0 {
		return nil, ErrNoGPU
	}
	seen := map[int]bool{}
	for _, g := range gpus {
		if g < 0 || seen[g] {
			return nil, fmt.Errorf("placement: gpus %v: %d is negative or repeated", gpus, g)
		}
		seen[g] = true
	}
	return &Placer{gpus: slices.Clone(gpus), failed: map[int]bool{}, fps: map[int]float64{},
		at: map[string]int{}, pinned: map[string]bool{}}, nil
}

// Place returns the GPU of camera: pin when set (which must be a configured GPU that has not
// failed), else the GPU it already has, else the least-loaded working GPU: fewest cameras,
// then lowest measured frames/s, then lowest index.
func (p *Placer) Place(camera string, pin *int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pin != nil {
		if !slices.Contains(p.gpus, *pin) {
			return 0, fmt.Errorf("camera %q: gpu %d: %w (gpus %v)", camera, *pin, ErrUnknownGPU, p.gpus)
		}
		if p.failed[*pin] {
			return 0, fmt.Errorf("camera %q: gpu %d: %w", camera, *pin, ErrGPUFailed)
		}
		p.at[camera], p.pinned[camera] = *pin, true
		return *pin, nil
	}
	if g, ok := p.at[camera]; ok && !p.pinned[camera] && !p.failed[g] {
		return g, nil
	}
	g, ok := p.leastLoadedLocked()
	if !ok {
		return 0, fmt.Errorf("camera %q: %w (gpus %v all failed)", camera, ErrNoGPU, p.gpus)
	}
	p.at[camera] = g
	delete(p.pinned, camera)
	return g, nil
}

// Remove forgets camera (removed or disabled).
func (p *Placer) Remove(camera string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.at, camera)
	delete(p.pinned, camera)
}

// GPU returns the GPU camera is placed on.
func (p *Placer) GPU(camera string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.at[camera]
	return g, ok
}

// SetFPS records the frames/s a GPU analysed lately; it breaks ties between GPUs with as many
// cameras.
func (p *Placer) SetFPS(gpu int, fps float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fps[gpu] = fps
}

// Fail marks gpu as failed and moves its cameras: those placed by the placer go to the
// least-loaded working GPUs (moved: camera → new GPU); pinned ones stay unplaced (stranded):
// their configuration names a GPU that no longer works. With no GPU left, every camera of gpu
// is stranded.
func (p *Placer) Fail(gpu int) (moved map[string]int, stranded []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed[gpu] = true
	moved = map[string]int{}
	var cams []string
	for c, g := range p.at {
		if g == gpu {
			cams = append(cams, c)
		}
	}
	sort.Strings(cams) // deterministic order
	for _, c := range cams {
		delete(p.at, c)
		if p.pinned[c] {
			delete(p.pinned, c)
			stranded = append(stranded, c)
			continue
		}
		g, ok := p.leastLoadedLocked()
		if !ok {
			stranded = append(stranded, c)
			continue
		}
		p.at[c] = g
		moved[c] = g
	}
	return moved, stranded
}

// Loads returns every configured GPU's load.
func (p *Placer) Loads() map[int]Load {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int]Load, len(p.gpus))
	for _, g := range p.gpus {
		out[g] = Load{FPS: p.fps[g], Failed: p.failed[g]}
	}
	for _, g := range p.at {
		l := out[g]
		l.Cameras++
		out[g] = l
	}
	return out
}

func (p *Placer) leastLoadedLocked() (int, bool) {
	count := map[int]int{}
	for _, g := range p.at {
		count[g]++
	}
	best, ok := 0, false
	for _, g := range p.gpus {
		if p.failed[g] {
			continue
		}
		if !ok || count[g] < count[best] || count[g] == count[best] && p.fps[g] < p.fps[best] {
			best, ok = g, true
		}
	}
	return best, ok
}
