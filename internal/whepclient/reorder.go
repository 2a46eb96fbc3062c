package whepclient

import (
	"time"

	"github.com/pion/rtp"
)

// Bounds of the reorder buffer: how many packets after a gap, and for how long, wait for the
// missing ones before they are counted lost. A NACK retransmission on loopback comes within a
// few milliseconds, even on a loaded machine.
const (
	reorderMaxHeld = 256
	reorderMaxWait = 250 * time.Millisecond
)

// reorder puts RTP packets back in sequence order. The client's NACK generator (pion's
// default interceptors) asks the server for packets missing from the sequence; the server's
// retransmissions arrive after later packets, which wait here for them. A gap not filled
// within the bounds is given up: its packets count as lost, and any that come later as late.
type reorder struct {
	started bool
	next    uint16                 // the sequence number due
	held    map[uint16]*rtp.Packet // packets after a gap
	since   time.Time              // when the gap began to be waited for
}

// push takes one packet and calls emit with each packet now in order; lost is the number of
// sequence numbers given up just before that packet. It reports whether p came too late (its
// gap given up, or a duplicate).
func (r *reorder) push(p *rtp.Packet, now time.Time, emit func(p *rtp.Packet, lost int)) (late bool) {
	if !r.started {
		r.started, r.next, r.held = true, p.SequenceNumber, map[uint16]*rtp.Packet{}
	}
	switch d := int16(p.SequenceNumber - r.next); {
	case d < 0:
		return true
	case d == 0:
		emit(p, 0)
		r.next++
		r.drain(now, emit, 0)
		return false
	}
	if _, dup := r.held[p.SequenceNumber]; dup {
		return true
	}
	if len(r.held) == 0 {
		r.since = now
	}
	r.held[p.SequenceNumber] = p
	if len(r.held) < reorderMaxHeld && now.Sub(r.since) < reorderMaxWait {
		return false
	}
	lost := 0 // give the gap up: on to the first packet held
	for r.held[r.next] == nil {
		r.next++
		lost++
	}
	r.drain(now, emit, lost)
	return false
}

// drain emits the held packets that are now in order.
func (r *reorder) drain(now time.Time, emit func(*rtp.Packet, int), lost int) {
	for {
		q := r.held[r.next]
		if q == nil {
			break
		}
		delete(r.held, r.next)
		emit(q, lost)
		lost = 0
		r.next++
	}
	if len(r.held) > 0 {
		r.since = now // a further gap: it gets its own wait
	}
}
