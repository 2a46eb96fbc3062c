package webrtc

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/defs"
)

// probeInterval is how often the ICE servers are probed again: a server that came back is used
// again within about this long.
const probeInterval = 30 * time.Second

// serverState is what the last probe of an ICE server found.
type serverState int

const (
	stateUnknown serverState = iota // not probed yet
	stateUp                         // it gave a server-reflexive or relay candidate
	stateDown                       // it gave none within the timeout
)

// iceProber chooses the ICE servers that the server's own ICE agent uses: those whose last
// probe gave a candidate. A session gathers with only those, so an unreachable STUN or TURN
// server costs a probe in the background now and then instead of Options.GatherTimeout on
// every WHEP POST. Each URL is probed on its own at start, every probeInterval, and at once
// when a session's gathering times out (a server that was up went down). Until its first probe
// answers, a server is left out: viewers never wait for a probe.
type iceProber struct {
	api     *pion.API
	timeout time.Duration
	log     *slog.Logger
	servers []pion.ICEServer // one URL each

	mu    sync.Mutex
	state []serverState // by index in servers

	kick      chan struct{} // probe again now; capacity 1
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// newICEProber starts probing the servers pion can gather from; nil when there are none.
func newICEProber(api *pion.API, servers []pion.ICEServer, timeout time.Duration, log *slog.Logger) *iceProber {
	p := &iceProber{api: api, timeout: timeout, log: log,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "stuns:") {
				// pion gathers nothing from STUN over TLS; browsers still hear of it (Link).
				continue
			}
			one := s
			one.URLs = []string{u}
			p.servers = append(p.servers, one)
		}
	}
	if len(p.servers) == 0 {
		return nil
	}
	p.state = make([]serverState, len(p.servers))
	go p.run()
	return p
}

func (p *iceProber) run() {
	defer close(p.done)
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		p.probeAll()
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-p.kick:
		}
	}
}

// probeAll probes every server at once and records each result as it comes.
func (p *iceProber) probeAll() {
	var wg sync.WaitGroup
	for i := range p.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.probe(p.servers[i]) // pion retransmits: a lost packet is no failure
			if !p.stopping() {
				p.record(i, err)
			}
		}()
	}
	wg.Wait()
}

// errNoCandidate: a probed ICE server gave no server-reflexive or relay candidate.
var errNoCandidate = errors.New("no candidate from the server")

// probe gathers with the one server s; nil means it gave a non-host candidate within the
// timeout.
func (p *iceProber) probe(s pion.ICEServer) error {
	g, err := p.api.NewICEGatherer(pion.ICEGatherOptions{ICEServers: []pion.ICEServer{s}})
	if err != nil {
		return fmt.Errorf("creating ICE gatherer: %w", err)
	}
	defer func() { _ = g.Close() }()
	// The first result wins: a non-host candidate (up), or the end of gathering without one.
	result := make(chan bool, 1)
	g.OnLocalCandidate(func(c *pion.ICECandidate) {
		if c == nil || c.Typ != pion.ICECandidateTypeHost {
			select {
			case result <- c != nil:
			default:
			}
		}
	})
	if err := g.Gather(); err != nil {
		return fmt.Errorf("gathering: %w", err)
	}
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case up := <-result:
		if !up {
			return fmt.Errorf("%w: gathering ended without one", errNoCandidate)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w within %v", errNoCandidate, p.timeout)
	case <-p.stop:
		return fmt.Errorf("ice prober %w", defs.ErrClosed)
	}
}

func (p *iceProber) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// record stores a probe's result (nil: the server is up), logging when a server goes down or
// comes back. The URL is logged without credentials; the username and credential never are.
func (p *iceProber) record(i int, err error) {
	next := stateUp
	if err != nil {
		next = stateDown
	}
	p.mu.Lock()
	prev := p.state[i]
	p.state[i] = next
	p.mu.Unlock()
	url := redactURL(p.servers[i].URLs[0])
	switch {
	case next == stateDown && prev != stateDown:
		p.log.Warn("ICE server left out of WHEP answers until it answers a probe", "url", url, "err", err)
	case next == stateUp && prev == stateDown:
		p.log.Info("ICE server answers again", "url", url)
	case next == stateUp && prev == stateUnknown:
		p.log.Debug("ICE server answers", "url", url)
	}
}

// usable returns the servers whose last probe gave a candidate.
func (p *iceProber) usable() []pion.ICEServer {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []pion.ICEServer
	for i, st := range p.state {
		if st == stateUp {
			out = append(out, p.servers[i])
		}
	}
	return out
}

// probeSoon asks for a new round of probes, e.g. when a session's gathering timed out.
func (p *iceProber) probeSoon() {
	if p == nil {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// close stops probing and waits for the probes under way. Idempotent.
func (p *iceProber) close() {
	if p == nil {
		return
	}
	p.closeOnce.Do(func() { close(p.stop) })
	<-p.done
}

// redactURL drops anything that looks like credentials from an ICE server URL for the log:
// a user part ("turn:user:pass@host") and the query but for transport.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok {
		return "[unparsable ICE URL]"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	host, query, _ := strings.Cut(rest, "?")
	for _, kv := range strings.Split(query, "&") {
		if strings.HasPrefix(kv, "transport=") {
			return scheme + ":" + host + "?" + kv
		}
	}
	return scheme + ":" + host
}
