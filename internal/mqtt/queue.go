package mqtt

// message is one MQTT publication.
type message struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
}

// queue is a bounded FIFO of messages (a ring). When full, push drops the oldest message: after
// an outage the most recent events are the ones worth delivering. It is not safe for concurrent
// use; the Publisher guards it with its mutex.
type queue struct {
	buf   []queued
	head  int // index of the oldest message
	n     int
	nextS uint64
}

// queued is a message with its sequence number, which tells the sender whether the message it
// is sending is still the head when the broker acknowledges it.
type queued struct {
	seq uint64
	msg message
}

func newQueue(size int) *queue { return &queue{buf: make([]queued, max(size, 1))} }

// push appends m and reports whether the oldest message was dropped to make room.
func (q *queue) push(m message) (dropped bool) {
	if q.n == len(q.buf) {
		q.buf[q.head] = queued{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		dropped = true
	}
	q.nextS++
	q.buf[(q.head+q.n)%len(q.buf)] = queued{seq: q.nextS, msg: m}
	q.n++
	return dropped
}

// front returns the oldest message without removing it.
func (q *queue) front() (queued, bool) {
	if q.n == 0 {
		return queued{}, false
	}
	return q.buf[q.head], true
}

// popIf removes the oldest message if it is the one numbered seq (it may have been dropped
// meanwhile) and reports whether it did.
func (q *queue) popIf(seq uint64) bool {
	if q.n == 0 || q.buf[q.head].seq != seq {
		return false
	}
	q.buf[q.head] = queued{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return true
}

func (q *queue) len() int { return q.n }
