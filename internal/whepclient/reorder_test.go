package whepclient

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func pkt(seq uint16) *rtp.Packet { return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq}} }

// TestReorder: a retransmitted packet fills its gap and the held ones follow in order; a gap
// never filled is given up after reorderMaxWait, counted lost; what comes after that is late;
// sequence numbers wrap.
func TestReorder(t *testing.T) {
	var r reorder
	var got []uint16
	lostAt := map[uint16]int{}
	emit := func(p *rtp.Packet, lost int) {
		got = append(got, p.SequenceNumber)
		if lost > 0 {
			lostAt[p.SequenceNumber] = lost
		}
	}
	t0 := time.Unix(0, 0)
	for _, s := range []uint16{65534, 65535, 1, 2, 0} { // 0 comes late: a retransmission
		if r.push(pkt(s), t0, emit) {
			t.Fatalf("packet %d reported late", s)
		}
	}
	if want := []uint16{65534, 65535, 0, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	got = nil
	r.push(pkt(5), t0, emit) // 3 and 4 missing
	r.push(pkt(6), t0.Add(reorderMaxWait/2), emit)
	if len(got) != 0 {
		t.Fatalf("emitted %v while waiting for 3 and 4", got)
	}
	r.push(pkt(7), t0.Add(reorderMaxWait), emit) // the wait is over: 3 and 4 are lost
	if want := []uint16{5, 6, 7}; !slices.Equal(got, want) || lostAt[5] != 2 {
		t.Fatalf("after giving up: %v, lost %v; want %v with 2 lost before 5", got, lostAt, want)
	}
	if !r.push(pkt(3), t0.Add(reorderMaxWait), emit) {
		t.Error("a packet of a gap given up is not late")
	}
	if !r.push(pkt(7), t0.Add(reorderMaxWait), emit) {
		t.Error("a duplicate is not late")
	}
}
