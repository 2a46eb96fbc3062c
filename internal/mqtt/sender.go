package mqtt

// The connection's callbacks (connect, loss, Home Assistant's birth message, our stale
// discovery configs) and the sender: one goroutine that publishes the queue in order.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gstvision/gstvision/internal/config"
)

// onConnect runs on the library's goroutine after each connection: it subscribes to Home
// Assistant's birth message and to our own discovery configs (to find stale ones), and has
// the sender re-send all retained state, since the broker may have lost it.
func (p *Publisher) onConnect(c paho.Client) {
	n := p.connects.Add(1)
	p.log.Info("mqtt: connected", "broker", config.RedactURL(p.cfg.URL), "connects", n)
	if p.cfg.DiscoveryEnabled() {
		// Tokens are not waited for: handlers must not block the library.
		c.Subscribe(p.topics.discoveryStatus(), 1, p.onHAStatus)
		for _, comp := range []string{componentBinarySensor, componentSensor} {
			c.Subscribe(p.topics.discovery+"/"+comp+"/+/+/config", 1, p.onDiscoveryConfig)
		}
	}
	p.connGen.Add(1)
	p.connChanged()
}

// onConnectionNotification reports failed connection attempts (refused credentials, broker
// down): at warning level once per reason, since the library retries for ever.
func (p *Publisher) onConnectionNotification(_ paho.Client, n paho.ConnectionNotification) {
	switch n := n.(type) {
	case paho.ConnectionNotificationFailed:
		reason := "unknown"
		if n.Reason != nil {
			reason = config.RedactString(n.Reason.Error())
		}
		p.mu.Lock()
		repeated := reason == p.lastFail
		p.lastFail = reason
		p.mu.Unlock()
		level := slog.LevelWarn
		if repeated {
			level = slog.LevelDebug
		}
		p.log.Log(context.Background(), level, "mqtt: cannot connect, retrying",
			"broker", config.RedactURL(p.cfg.URL), "err", reason)
	case paho.ConnectionNotificationConnected:
		p.mu.Lock()
		p.lastFail = ""
		p.mu.Unlock()
	}
}

func (p *Publisher) onConnectionLost(_ paho.Client, err error) {
	p.log.Warn("mqtt: connection lost, reconnecting", "broker", config.RedactURL(p.cfg.URL),
		"err", config.RedactString(err.Error()))
	p.connChanged()
}

// connChanged wakes everything waiting for the connection to go up or down.
func (p *Publisher) connChanged() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.signal()
}

func (p *Publisher) changedCh() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// onHAStatus re-sends all retained state when Home Assistant comes online (its birth
// message), as its discovery documentation asks.
func (p *Publisher) onHAStatus(_ paho.Client, m paho.Message) {
	if string(m.Payload()) != payloadOnline {
		return
	}
	p.log.Debug("mqtt: Home Assistant online, re-sending discovery")
	p.resync()
	p.signal()
}

// onDiscoveryConfig sees the retained discovery configs on the broker: one of ours (its node
// carries our prefix) that the current cameras do not want is deleted.
func (p *Publisher) onDiscoveryConfig(_ paho.Client, m paho.Message) {
	if len(m.Payload()) == 0 {
		return
	}
	t := m.Topic()
	parts := strings.Split(t, "/")
	if len(parts) < 4 {
		return
	}
	node := parts[len(parts)-3]
	if !strings.HasPrefix(node, idPart(strings.ReplaceAll(p.topics.prefix, "/", "_"))+"-") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.camerasSet {
		p.seen[t] = struct{}{}
		return
	}
	if _, ok := p.configs[t]; !ok {
		p.setStateLocked(t, nil, prioDiscovery)
		p.signal()
	}
}

// resync marks every retained topic to send again.
func (p *Publisher) resync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.state {
		p.dirty[t] = struct{}{}
	}
}

// job is one message the sender took, with what it needs to settle it.
type job struct {
	kind    int // jobState, jobEvent or jobDetections
	msg     message
	version uint64 // jobState: of the payload sent
	seq     uint64 // jobEvent: of the queued message
}

const (
	jobState = iota
	jobEvent
	jobDetections
)

// run is the sender: one message at a time, retained state first, then events in order, then
// detections. A QoS 1 message that is not acknowledged stays at the head and goes again after
// the reconnection, so events keep their order.
func (p *Publisher) run() {
	defer close(p.loopDone)
	var gen uint64
	for {
		changed := p.changedCh()
		select {
		case <-p.stop:
			return
		default:
		}
		if !p.client.IsConnectionOpen() {
			select {
			case <-changed:
			case <-p.stop:
				return
			}
			continue
		}
		if g := p.connGen.Load(); g != gen {
			gen = g
			p.resync()
		}
		j, ok := p.next()
		if !ok {
			select {
			case <-p.wake:
			case <-changed:
			case <-p.stop:
				return
			}
			continue
		}
		sent := p.send(j.msg, changed)
		p.settle(j, sent)
		if !sent {
			// Lost connection (wait for the next one) or a refusal: do not spin.
			select {
			case <-changed:
			case <-time.After(200 * time.Millisecond):
			case <-p.stop:
				return
			}
		}
	}
}

// next picks the next message to send.
func (p *Publisher) next() (job, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.dirty) > 0 {
		var best string
		var be *retained
		for t := range p.dirty {
			e := p.state[t]
			if be == nil || e.prio < be.prio || (e.prio == be.prio && t < best) {
				best, be = t, e
			}
		}
		return job{kind: jobState, version: be.version,
			msg: message{topic: best, payload: be.payload, qos: 1, retain: true}}, true
	}
	if q, ok := p.queue.front(); ok {
		return job{kind: jobEvent, msg: q.msg, seq: q.seq}, true
	}
	for cam, m := range p.detPending {
		delete(p.detPending, cam)
		return job{kind: jobDetections, msg: m}, true
	}
	return job{}, false
}

// send publishes m and waits for the library (QoS 0: written; QoS 1: acknowledged), giving up
// when the connection changes or after PublishTimeout.
func (p *Publisher) send(m message, changed <-chan struct{}) bool {
	tok := p.client.Publish(m.topic, m.qos, m.retain, m.payload)
	timer := time.NewTimer(p.opts.PublishTimeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			p.log.Debug("mqtt: publish failed", "topic", m.topic, "err", err)
			return false
		}
		p.published.Add(1)
		return true
	case <-changed:
	case <-timer.C:
		p.log.Debug("mqtt: publish not acknowledged in time", "topic", m.topic, "timeout", p.opts.PublishTimeout)
	case <-p.stop:
	}
	return false
}

// settle records the outcome of a send.
func (p *Publisher) settle(j job, sent bool) {
	p.mu.Lock()
	switch j.kind {
	case jobState:
		e := p.state[j.msg.topic]
		if sent && e != nil && e.version == j.version {
			delete(p.dirty, j.msg.topic)
			if len(e.payload) == 0 {
				delete(p.state, j.msg.topic) // deleted on the broker: nothing left to re-send
			}
		}
	case jobEvent:
		if sent {
			if p.queue.popIf(j.seq) {
				p.attempts = 0
			}
			break
		}
		if !p.client.IsConnectionOpen() {
			break // the connection failed, not the message
		}
		p.attempts++
		if p.attempts < maxAttempts {
			break
		}
		if p.queue.popIf(j.seq) {
			p.attempts = 0
			p.mu.Unlock()
			p.drop(1, fmt.Sprintf("not accepted by the broker after %d attempts", maxAttempts), nil)
			return
		}
	}
	p.mu.Unlock()
}
