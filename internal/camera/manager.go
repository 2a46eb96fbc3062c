package camera

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/gst"
)

// ErrExists is returned by the Manager for a duplicate camera id; an unknown id gives an error
// wrapping [defs.ErrUnknownCamera].
var ErrExists = errors.New("camera already exists")

// Manager owns the running cameras. Adding or removing one never touches the others.
type Manager struct {
	analyzer Analyzer
	cuda     *gst.CUDAContext
	log      *slog.Logger

	// viewer hooks (set by the app): a camera's viewer is made when it is added and dropped
	// when it is removed, whoever adds or removes it (config, API)
	viewerAdd    func(id string) uint64
	viewerRemove func(id string)
	// passAdd makes a camera's passthrough source (dropped by viewerRemove with its viewer).
	passAdd func(id string) uint64

	mu      sync.Mutex
	cameras map[string]*Camera
	order   []string
}

// NewManager returns an empty manager whose cameras send frames to analyzer.
func NewManager(analyzer Analyzer, cuda *gst.CUDAContext, log *slog.Logger) *Manager {
	return &Manager{analyzer: analyzer, cuda: cuda, log: log, cameras: map[string]*Camera{}}
}

// SetViewerHooks installs the functions that make and drop a camera's viewer.
func (m *Manager) SetViewerHooks(add func(id string) uint64, remove func(id string)) {
	m.viewerAdd, m.viewerRemove = add, remove
}

// SetPassthroughHook installs the function that makes a camera's passthrough source and
// returns the handler-id of its pipeline's access-unit sink; the viewer's remove hook drops it.
func (m *Manager) SetPassthroughHook(add func(id string) uint64) { m.passAdd = add }

// Add starts a camera.
func (m *Manager) Add(cfg Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cameras[cfg.ID]; ok {
		return fmt.Errorf("%w: %q", ErrExists, cfg.ID)
	}
	if m.viewerAdd != nil && cfg.ViewerHandlerID == 0 {
		cfg.ViewerHandlerID = m.viewerAdd(cfg.ID)
	}
	if m.passAdd != nil && cfg.PassthroughHandlerID == 0 {
		cfg.PassthroughHandlerID = m.passAdd(cfg.ID)
	}
	analyzer, cuda := m.analyzer, m.cuda
	if cfg.Analyzer != nil {
		analyzer, cuda = cfg.Analyzer, cfg.CUDA
	}
	c := New(cfg, analyzer, cuda, m.log)
	m.cameras[cfg.ID] = c
	m.order = append(m.order, cfg.ID)
	c.Start()
	return nil
}

// Remove stops a camera and forgets it.
func (m *Manager) Remove(id string) error {
	m.mu.Lock()
	c, ok := m.cameras[id]
	if ok {
		delete(m.cameras, id)
		for i, o := range m.order {
			if o == id {
				m.order = append(m.order[:i], m.order[i+1:]...)
				break
			}
		}
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", defs.ErrUnknownCamera, id)
	}
	c.Stop()
	if m.viewerRemove != nil {
		m.viewerRemove(id)
	}
	return nil
}

// List returns every camera's status in the order they were added.
func (m *Manager) List() []defs.Status {
	m.mu.Lock()
	cams := make([]*Camera, 0, len(m.order))
	for _, id := range m.order {
		cams = append(cams, m.cameras[id])
	}
	m.mu.Unlock()
	out := make([]defs.Status, 0, len(cams))
	for _, c := range cams {
		out = append(out, c.Status())
	}
	return out
}

// Get returns one camera's status.
func (m *Manager) Get(id string) (defs.Status, bool) {
	m.mu.Lock()
	c, ok := m.cameras[id]
	m.mu.Unlock()
	if !ok {
		return defs.Status{}, false
	}
	return c.Status(), true
}

// IDs returns the camera ids, sorted.
func (m *Manager) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := append([]string(nil), m.order...)
	sort.Strings(ids)
	return ids
}

// StopAll stops every camera (in parallel: each waits for its pipeline to reach NULL).
func (m *Manager) StopAll() {
	m.mu.Lock()
	cams := make([]*Camera, 0, len(m.cameras))
	for _, c := range m.cameras {
		cams = append(cams, c)
	}
	m.cameras, m.order = map[string]*Camera{}, nil
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cams {
		wg.Add(1)
		go func() { defer wg.Done(); c.Stop() }()
	}
	wg.Wait()
}
