package webrtc

import (
	"fmt"
	"sort"
	"sync"

	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/defs"
)

// Manager owns the broadcasters of all cameras and the WHEP sessions attached to them.
type Manager struct {
	opts  Options
	api   *pion.API
	probe *iceProber // nil without ICE servers

	mu     sync.Mutex
	cams   map[string]*Broadcaster // annotated view
	pass   map[string]*Broadcaster // passthrough view
	closed bool
	wg     sync.WaitGroup // session goroutines
}

// NewManager returns a manager for opts. It fails, wrapping [ErrBadOptions], when opts are
// invalid (port range, public IPs, ICE server URLs).
func NewManager(opts Options) (*Manager, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.ICEServers = cloneICEServers(opts.ICEServers)
	api, err := newAPI(&opts, annotatedCodecs())
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, api: api, cams: map[string]*Broadcaster{}, pass: map[string]*Broadcaster{}}
	m.probe = newICEProber(api, opts.pionICEServers(), opts.GatherTimeout, opts.Logger)
	return m, nil
}

func cloneICEServers(in []ICEServer) []ICEServer {
	out := make([]ICEServer, len(in))
	for i, s := range in {
		s.URLs = append([]string(nil), s.URLs...)
		out[i] = s
	}
	return out
}

// Broadcaster returns camera's broadcaster of the annotated view, creating it if needed. After
// [Manager.Close] it returns a closed broadcaster that refuses viewers.
func (m *Manager) Broadcaster(camera string) *Broadcaster {
	return m.broadcaster(camera, ViewAnnotated)
}

// Passthrough returns camera's broadcaster of the passthrough view (the camera's own access
// units, with a GOP cache for joining viewers), creating it if needed; as Broadcaster.
func (m *Manager) Passthrough(camera string) *Broadcaster {
	return m.broadcaster(camera, ViewPassthrough)
}

func (m *Manager) broadcaster(camera string, view View) *Broadcaster {
	m.mu.Lock()
	defer m.mu.Unlock()
	byCam := m.byView(view)
	if b := byCam[camera]; b != nil {
		return b
	}
	b := newBroadcaster(m, camera, view)
	if m.closed {
		b.closed = true
		return b
	}
	byCam[camera] = b
	return b
}

// byView is the map of view's broadcasters; m.mu must be held.
func (m *Manager) byView(view View) map[string]*Broadcaster {
	if view == ViewPassthrough {
		return m.pass
	}
	return m.cams
}

// lookupView returns camera's broadcaster of view if it exists.
func (m *Manager) lookupView(camera string, view View) *Broadcaster {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byView(view)[camera]
}

// Cameras lists the cameras that have a broadcaster, sorted.
func (m *Manager) Cameras() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.cams))
	for id := range m.cams {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Stats returns each camera's counters, e.g. for /api/stats: Viewers counts the sessions of
// both views, the other counters are the annotated broadcaster's (the encoder's output).
func (m *Manager) Stats() map[string]BroadcasterStats {
	m.mu.Lock()
	list := make([]*Broadcaster, 0, len(m.cams)+len(m.pass))
	for _, b := range m.cams {
		list = append(list, b)
	}
	for _, b := range m.pass {
		list = append(list, b)
	}
	m.mu.Unlock()
	out := make(map[string]BroadcasterStats, len(list))
	for _, b := range list {
		st := b.Stats()
		if b.view == ViewPassthrough {
			prev := out[b.camera]
			prev.Viewers += st.Viewers
			out[b.camera] = prev
			continue
		}
		st.Viewers += out[b.camera].Viewers
		out[b.camera] = st
	}
	return out
}

// Remove closes camera's viewer sessions and forgets its broadcaster; it returns once their
// peer connections are closed. Viewers see the connection end and may reconnect, which creates
// a new broadcaster if the camera still exists: a pipeline that outlives Remove must fetch the
// new one with [Manager.Broadcaster] (the old one refuses viewers and drops what it is given).
// Do not call it from a broadcaster's callbacks.
func (m *Manager) Remove(camera string) {
	m.mu.Lock()
	list := []*Broadcaster{m.cams[camera], m.pass[camera]}
	delete(m.cams, camera)
	delete(m.pass, camera)
	m.mu.Unlock()
	for _, b := range list {
		if b != nil {
			b.close()
		}
	}
}

// Close ends every session and waits for their goroutines and the ICE server probes; later
// offers get 503.
func (m *Manager) Close() error {
	m.probe.close()
	m.mu.Lock()
	m.closed = true
	list := make([]*Broadcaster, 0, len(m.cams)+len(m.pass))
	for _, b := range m.cams {
		list = append(list, b)
	}
	for _, b := range m.pass {
		list = append(list, b)
	}
	m.cams, m.pass = map[string]*Broadcaster{}, map[string]*Broadcaster{}
	m.mu.Unlock()
	for _, b := range list {
		b.close()
	}
	m.wg.Wait()
	return nil
}

// isClosed reports whether Close has been called.
func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// errUnknownCamera wraps defs.ErrUnknownCamera with the camera's name.
func errUnknownCamera(camera string) error {
	return fmt.Errorf("camera %q: %w", camera, defs.ErrUnknownCamera)
}
