// Package mqtt publishes gstvision's events, detections, camera availability and zone
// occupancy to an MQTT broker, and announces each camera's zones to Home Assistant through MQTT
// discovery. No call blocks its caller: messages wait in a bounded queue while the broker is
// unreachable, and what the queue cannot hold is dropped and counted (Stats).
//
// Topics are listed on the topics type (topics.go); README.md has the user's view.
//
// The client is github.com/eclipse/paho.mqtt.golang (MQTT 3.1.1) rather than paho.golang's
// autopaho (MQTT 5): every broker Home Assistant users run (mosquitto, EMQX, the HA add-on)
// speaks 3.1.1, nothing here needs an MQTT 5 feature, and its reconnect with backoff and Last
// Will are all this package needs. Queueing is this package's own, bounded and counted, since
// the library's offline store is unbounded and loses QoS 1 messages on a clean session anyway.
package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/results"
)

// Defaults of Options.
const (
	DefaultConnectRetryInterval = 5 * time.Second
	DefaultMaxReconnectInterval = 30 * time.Second
	DefaultPublishTimeout       = 10 * time.Second
	DefaultCloseTimeout         = 2 * time.Second
)

// maxAttempts is how often an event is sent while the connection stays up before it is dropped
// (a broker that refuses one message, e.g. too large, must not hold up the rest for ever).
const maxAttempts = 5

// dropLogEvery bounds the warnings about dropped events to one per interval.
const dropLogEvery = 10 * time.Second

// Options are the Publisher's settings that do not come from the config file.
type Options struct {
	// Logger receives connection changes and drops; nil means slog.Default().
	Logger *slog.Logger
	// Version is gstvision's version, the sw_version of the Home Assistant devices.
	Version string
	// Hostname makes the default client ID, "gstvision-<hostname>"; "" means os.Hostname.
	Hostname string
	// ConnectRetryInterval is the wait between attempts at the first connection.
	ConnectRetryInterval time.Duration
	// MaxReconnectInterval caps the reconnection backoff (1 s, doubling).
	MaxReconnectInterval time.Duration
	// PublishTimeout is how long a QoS 1 message waits for the broker's acknowledgement
	// before it is sent again.
	PublishTimeout time.Duration
	// CloseTimeout is how long Close waits for queued messages to go out while connected.
	CloseTimeout time.Duration
}

// Stats are the publisher's counters.
type Stats struct {
	// Published counts the messages the broker took (QoS 1: acknowledged; QoS 0: written).
	Published uint64
	// Queued is the number of events waiting now.
	Queued uint64
	// Dropped counts the events lost: the oldest ones when the queue was full, those refused
	// by the broker maxAttempts times, those still queued at Close and those published after.
	Dropped uint64
	// Connected reports whether the connection is up now.
	Connected bool
	// Connects counts the connections made, the first one and every reconnection.
	Connects uint64
}

// Priorities of retained state: the bridge's availability goes first after a connection,
// then the discovery configs, then the cameras' availability and the zones' state.
const (
	prioBridge = iota
	prioDiscovery
	prioAvailability
	prioZone
)

// retained is the latest payload of one retained topic. An empty payload deletes the topic's
// retained message on the broker; the entry is forgotten once that went out.
type retained struct {
	payload []byte
	prio    int
	version uint64 // bumped on every change, so a send of an older version does not count
}

// Publisher sends to one broker. Create it with New, then Start it; every method is safe for
// concurrent use and returns at once.
type Publisher struct {
	cfg      config.MQTT // Effective
	log      *slog.Logger
	version  string
	topics   topics
	detEvery time.Duration // 0: detections off
	opts     Options
	client   paho.Client

	mu         sync.Mutex
	started    bool
	closed     bool
	queue      *queue
	attempts   int                  // failed sends of the queue's head while connected
	state      map[string]*retained // retained topics
	dirty      map[string]struct{}  // retained topics the broker lacks the latest of
	cameras    map[string]CameraInfo
	camerasSet bool                // SetCameras was called: stale discovery configs can be told
	configs    map[string]struct{} // discovery topics published for the current cameras
	seen       map[string]struct{} // discovery topics of ours found on the broker before SetCameras
	lastDet    map[string]time.Time
	detPending map[string]message // newest detections per camera, not yet sent
	changed    chan struct{}      // closed and replaced when the connection goes up or down
	lastDrop   time.Time          // of the last drop warning
	lastFail   string             // reason of the last failed connection attempt, to warn once per reason

	wake     chan struct{} // something to send
	stop     chan struct{} // closed by Close: the sender returns
	loopDone chan struct{}
	closeMu  sync.Mutex // serialises Close

	published atomic.Uint64
	dropped   atomic.Uint64
	connects  atomic.Uint64
	connGen   atomic.Uint64 // bumped on each connection: the sender re-sends all retained state
}

// New checks cfg and returns a Publisher that has not connected yet. cfg is the config's mqtt
// section, defaults not yet applied. Errors match ErrDisabled (no URL) or ErrConfig (and then
// config.ErrInvalid too, naming the fields, e.g. "mqtt.url: scheme must be mqtt or mqtts");
// they never hold the password.
func New(cfg config.MQTT, opts Options) (*Publisher, error) {
	if !cfg.Enabled() {
		return nil, ErrDisabled
	}
	if err := config.ValidateMQTT(cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg = cfg.Effective(opts.Hostname)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	setDefault(&opts.ConnectRetryInterval, DefaultConnectRetryInterval)
	setDefault(&opts.MaxReconnectInterval, DefaultMaxReconnectInterval)
	setDefault(&opts.PublishTimeout, DefaultPublishTimeout)
	setDefault(&opts.CloseTimeout, DefaultCloseTimeout)

	p := &Publisher{
		cfg:        cfg,
		log:        opts.Logger.With("component", "mqtt"),
		version:    opts.Version,
		topics:     topics{prefix: cfg.TopicPrefix, discovery: cfg.DiscoveryPrefix},
		opts:       opts,
		queue:      newQueue(cfg.QueueSize),
		state:      make(map[string]*retained),
		dirty:      make(map[string]struct{}),
		cameras:    make(map[string]CameraInfo),
		configs:    make(map[string]struct{}),
		seen:       make(map[string]struct{}),
		lastDet:    make(map[string]time.Time),
		detPending: make(map[string]message),
		changed:    make(chan struct{}),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		loopDone:   make(chan struct{}),
	}
	if r := cfg.DetectionsPerSecond; r > 0 {
		p.detEvery = time.Duration(float64(time.Second) / r)
	}
	co, err := p.clientOptions()
	if err != nil {
		return nil, err
	}
	p.client = paho.NewClient(co)
	return p, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// brokerURL turns mqtt[s]://host[:port] into the library's tcp:// or ssl:// form with the
// port made explicit.
func brokerURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: mqtt.url: not a valid URL", ErrConfig) // err would echo the URL
	}
	scheme, port := "tcp", "1883"
	if u.Scheme == "mqtts" {
		scheme, port = "ssl", "8883"
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return scheme + "://" + net.JoinHostPort(u.Hostname(), port), nil
}

func (p *Publisher) clientOptions() (*paho.ClientOptions, error) {
	broker, err := brokerURL(p.cfg.URL)
	if err != nil {
		return nil, err
	}
	co := paho.NewClientOptions().
		AddBroker(broker).
		SetClientID(p.cfg.ClientID).
		SetCleanSession(true). // a publisher: nothing to resume, subscriptions are renewed on connect
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(p.opts.ConnectRetryInterval).
		SetMaxReconnectInterval(p.opts.MaxReconnectInterval).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second). // a stuck socket must not stall the sender for ever
		SetKeepAlive(30*time.Second).
		SetWill(p.topics.bridgeAvailability(), payloadOffline, 1, true).
		SetOnConnectHandler(p.onConnect).
		SetConnectionLostHandler(p.onConnectionLost).
		SetConnectionNotificationHandler(p.onConnectionNotification)
	if p.cfg.Username != "" {
		co.SetUsername(p.cfg.Username)
		co.SetPassword(p.cfg.Password)
	}
	if strings.HasPrefix(broker, "ssl:") {
		tc, err := tlsConfig(p.cfg.TLS)
		if err != nil {
			return nil, err
		}
		co.SetTLSConfig(tc)
	}
	return co, nil
}

// Start connects in the background and starts sending. It returns at once: a broker that is
// down is retried for ever (every ConnectRetryInterval), and what is published meanwhile
// waits in the queue. Cancelling ctx closes the publisher, as Close does.
func (p *Publisher) Start(ctx context.Context) error {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return ErrClosed
	case p.started:
		p.mu.Unlock()
		return ErrStarted
	}
	p.started = true
	p.setStateLocked(p.topics.bridgeAvailability(), []byte(payloadOnline), prioBridge)
	p.mu.Unlock()

	p.log.Info("mqtt: connecting", "broker", config.RedactURL(p.cfg.URL), "client_id", p.cfg.ClientID,
		"topic_prefix", p.cfg.TopicPrefix, "discovery", p.cfg.DiscoveryEnabled())
	// With ConnectRetry the token completes only once connected: nothing to wait for here.
	p.client.Connect()
	go p.run()
	go func() {
		select {
		case <-ctx.Done():
			p.Close()
		case <-p.stop:
		}
	}()
	return nil
}

// Close sends what is queued for up to Options.CloseTimeout while connected, marks the
// bridge offline and disconnects. Later calls, and publishing after Close, do nothing (what
// is published is counted as dropped).
func (p *Publisher) Close() {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	started := p.started
	p.mu.Unlock()
	if !started {
		return
	}

	deadline := time.Now().Add(p.opts.CloseTimeout)
	for time.Now().Before(deadline) && p.client.IsConnectionOpen() && p.pending() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	close(p.stop)
	<-p.loopDone
	if p.client.IsConnectionOpen() {
		// The Will covers a crash; a clean stop says offline itself.
		tok := p.client.Publish(p.topics.bridgeAvailability(), 1, true, payloadOffline)
		tok.WaitTimeout(time.Second)
	}
	p.client.Disconnect(250)
	p.mu.Lock()
	n := p.queue.len()
	p.queue = newQueue(1) // never to be sent: counted as lost, like what a full queue drops
	p.mu.Unlock()
	if n > 0 {
		p.dropped.Add(uint64(n))
		p.log.Warn("mqtt: closed with events unsent", "events", n)
	}
	p.log.Info("mqtt: closed", "published", p.published.Load(), "dropped", p.dropped.Load())
}

// pending counts the events and retained topics not yet sent.
func (p *Publisher) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queue.len() + len(p.dirty)
}

func (p *Publisher) queueLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queue.len()
}

// Stats returns the counters; the app exposes them on /metrics (see Collector).
func (p *Publisher) Stats() Stats {
	return Stats{
		Published: p.published.Load(),
		Queued:    uint64(p.queueLen()),
		Dropped:   p.dropped.Load(),
		Connected: p.client.IsConnectionOpen(),
		Connects:  p.connects.Load(),
	}
}

// Publish queues ev for <prefix>/<camera>/events (QoS 1, JSON as defs.Event marshals). A zone
// event also updates the zone's retained occupancy from ev.Occupancy (nil: the zone is empty).
func (p *Publisher) Publish(ev defs.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		// Only a NaN or infinite box gets here; losing the event beats a bad message.
		p.drop(1, "event not encodable", err)
		return
	}
	p.enqueue(message{topic: p.topics.events(ev.Camera), payload: b, qos: 1})
	if ev.Zone != "" && (ev.Type == defs.EventZoneEntered || ev.Type == defs.EventZoneLeft) {
		p.SetOccupancy(ev.Camera, ev.Zone, ev.Occupancy)
	}
}

func (p *Publisher) enqueue(m message) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.drop(1, "publisher closed", nil)
		return
	}
	dropped := p.queue.push(m)
	if dropped {
		p.attempts = 0 // the head changed
	}
	p.mu.Unlock()
	if dropped {
		p.drop(1, "queue full", nil)
	}
	p.signal()
}

// drop counts n lost events and warns, at most once per dropLogEvery.
func (p *Publisher) drop(n uint64, why string, err error) {
	total := p.dropped.Add(n)
	p.mu.Lock()
	now := time.Now()
	warn := now.Sub(p.lastDrop) >= dropLogEvery
	if warn {
		p.lastDrop = now
	}
	p.mu.Unlock()
	if warn {
		args := []any{"reason", why, "dropped_total", total, "queue_size", p.cfg.QueueSize}
		if err != nil {
			args = append(args, "err", err)
		}
		p.log.Warn("mqtt: events dropped", args...)
	}
}

// WantsDetections reports whether PublishDetections publishes anything
// (mqtt.detections_per_second > 0): without, the caller need not subscribe to the results.
func (p *Publisher) WantsDetections() bool { return p.detEvery > 0 }

// PublishDetections sends r on <prefix>/<camera>/detections (QoS 0, the /ws JSON) when
// mqtt.detections_per_second is set, at most that often per camera. While the broker is
// unreachable detections are skipped, not queued: they are stale by the time it is back.
func (p *Publisher) PublishDetections(r results.Result) {
	if p.detEvery == 0 || !p.client.IsConnectionOpen() {
		return
	}
	now := time.Now()
	p.mu.Lock()
	if p.closed || now.Sub(p.lastDet[r.Camera]) < p.detEvery {
		p.mu.Unlock()
		return
	}
	p.lastDet[r.Camera] = now
	p.mu.Unlock()
	b := results.AppendJSON(make([]byte, 0, 160+96*len(r.Detections)), &r)
	p.mu.Lock()
	p.detPending[r.Camera] = message{topic: p.topics.detections(r.Camera), payload: b}
	p.mu.Unlock()
	p.signal()
}

// SetAvailability sets the camera's retained availability, "online" or "offline". The Home
// Assistant entities of a camera are available while both it and the bridge are online.
func (p *Publisher) SetAvailability(camera string, online bool) {
	v := payloadOffline
	if online {
		v = payloadOnline
	}
	p.setState(p.topics.cameraAvailability(camera), []byte(v), prioAvailability)
}

// SetOccupancy sets the retained state of a zone, counts being the objects in it per label:
// {"total":N,"occupied":N>0,"counts":{label:N}}, the zone's configured classes included at 0.
// An unchanged state is not sent again.
func (p *Publisher) SetOccupancy(camera, zone string, counts map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setStateLocked(p.topics.zone(camera, zone), p.zoneStateLocked(camera, zone, counts), prioZone)
	p.signal()
}

func (p *Publisher) zoneStateLocked(camera, zone string, counts map[string]int) []byte {
	st := zoneState{Counts: make(map[string]int, len(counts))}
	for _, z := range p.cameras[camera].Zones {
		if z.Name == zone {
			for _, c := range z.Classes {
				st.Counts[c] = 0
			}
		}
	}
	for label, n := range counts {
		n = max(n, 0)
		st.Counts[label] = n
		st.Total += n
	}
	st.Occupied = st.Total > 0
	b, _ := json.Marshal(st) // ints and strings always marshal; map keys come out sorted
	return b
}

// SetCameras declares the cameras and their zones; call it at start and after every change
// to cameras or zones. With discovery on it publishes (retained) each zone's Home Assistant
// entities, and removes those of zones and cameras no longer listed, including ones a
// previous run left on the broker. A zone without state yet gets an empty one; a removed
// camera's availability and zone states are deleted from the broker.
func (p *Publisher) SetCameras(cams []CameraInfo) {
	want := make(map[string][]byte)
	if p.cfg.DiscoveryEnabled() {
		for _, c := range cams {
			cfgs, err := discoveryConfigs(p.topics, c, p.version)
			if err != nil {
				p.log.Warn("mqtt: discovery config skipped", "camera", c.ID, "err", err)
				continue
			}
			for t, b := range cfgs {
				want[t] = b
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]CameraInfo, len(cams))
	for _, c := range cams {
		next[c.ID] = c
	}
	// Retained state of cameras and zones that went away.
	for id, old := range p.cameras {
		nc, kept := next[id]
		if !kept {
			p.setStateLocked(p.topics.cameraAvailability(id), nil, prioAvailability)
		}
		for _, z := range old.Zones {
			if !kept || !hasZone(nc, z.Name) {
				p.setStateLocked(p.topics.zone(id, z.Name), nil, prioZone)
			}
		}
	}
	p.cameras = next
	// New zones start empty, and a zone whose classes changed gets its zeros right.
	for _, c := range cams {
		for _, z := range c.Zones {
			t := p.topics.zone(c.ID, z.Name)
			counts := map[string]int{}
			if e := p.state[t]; e != nil && len(e.payload) > 0 {
				var st zoneState
				if json.Unmarshal(e.payload, &st) == nil {
					counts = st.Counts
				}
			}
			p.setStateLocked(t, p.zoneStateLocked(c.ID, z.Name, counts), prioZone)
		}
	}
	// Discovery: publish what is wanted, delete what is no longer.
	for t := range p.configs {
		if _, ok := want[t]; !ok {
			p.setStateLocked(t, nil, prioDiscovery)
		}
	}
	for t := range p.seen {
		if _, ok := want[t]; !ok {
			p.setStateLocked(t, nil, prioDiscovery)
		}
	}
	p.seen = make(map[string]struct{})
	p.configs = make(map[string]struct{}, len(want))
	for t, b := range want {
		p.configs[t] = struct{}{}
		p.setStateLocked(t, b, prioDiscovery)
	}
	p.camerasSet = true
	p.signal()
}

func hasZone(c CameraInfo, name string) bool {
	for _, z := range c.Zones {
		if z.Name == name {
			return true
		}
	}
	return false
}

func (p *Publisher) setState(topic string, payload []byte, prio int) {
	p.mu.Lock()
	p.setStateLocked(topic, payload, prio)
	p.signal()
	p.mu.Unlock()
}

// setStateLocked records the retained payload of topic (nil: delete it on the broker) and
// marks it to send, unless it is unchanged.
func (p *Publisher) setStateLocked(topic string, payload []byte, prio int) {
	e := p.state[topic]
	if e == nil {
		// A deletion of a topic this run never published still goes out: an earlier run
		// may have left it.
		e = &retained{prio: prio}
		p.state[topic] = e
	} else if string(e.payload) == string(payload) {
		return
	}
	e.payload = payload
	e.prio = prio
	e.version++
	p.dirty[topic] = struct{}{}
}

// signal wakes the sender without blocking; it takes no lock.
func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
