package whepclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
)

// New creates a client that keeps the access units it receives and waits for want of them,
// with its complete offer. The peer connection closes when the test ends.
func New(t testing.TB, want int) *Client {
	t.Helper()
	return newTesting(t, want, false)
}

// NewDetections is New with a data channel labelled "detections" in the offer, whose messages
// the client keeps (Messages).
func NewDetections(t testing.TB, want int) *Client {
	t.Helper()
	return newTesting(t, want, true)
}

// WithoutH265 takes H.265 out of the client's offer, as a browser that does not play it
// offers: call it before Post.
func (c *Client) WithoutH265() *Client {
	c.Offer = dropCodec(c.Offer, "H265")
	return c
}

func newTesting(t testing.TB, want int, detections bool) *Client {
	t.Helper()
	c, err := newClient(context.Background(), nil, true, want, detections)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.release)
	return c
}

// Post POSTs the client's offer to the WHEP endpoint url (which must answer 201) and applies
// the answer.
func (c *Client) Post(t testing.TB, url string) {
	t.Helper()
	if err := c.post(context.Background(), url); err != nil {
		t.Fatal(err)
	}
}

// openDetections adds the "detections" data channel to the offer; its messages are kept.
func (c *Client) openDetections() error {
	dc, err := c.PC.CreateDataChannel("detections", nil)
	if err != nil {
		return fmt.Errorf("whepclient: data channel: %w", err)
	}
	dc.OnMessage(func(m pion.DataChannelMessage) {
		c.mu.Lock()
		c.msgs = append(c.msgs, append([]byte(nil), m.Data...))
		c.mu.Unlock()
	})
	return nil
}

// Messages returns a copy of the detections channel's messages so far.
func (c *Client) Messages() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.msgs...)
}

// Timestamps returns the RTP timestamp of each kept access unit, in AccessUnits' order.
func (c *Client) Timestamps() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint32(nil), c.stamps...)
}

// ArrivalTimes returns when each kept access unit was complete, in AccessUnits' order.
func (c *Client) ArrivalTimes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.keptAt...)
}

// Dial creates a client as New does, POSTs its offer to the WHEP endpoint url (which must
// answer 201) and applies the answer.
func Dial(t testing.TB, url string, want int) *Client {
	t.Helper()
	c := New(t, want)
	if err := c.post(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	return c
}

// Wait waits for the client's want access units.
func (c *Client) Wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.got:
	case <-time.After(timeout):
		c.mu.Lock()
		n := len(c.kept)
		c.mu.Unlock()
		t.Fatalf("received %d access units in %v, want %d (connection %v)", n, timeout, c.want, c.PC.ConnectionState())
	}
}

// AccessUnits returns a copy of the list of access units kept so far.
func (c *Client) AccessUnits() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.kept...)
}

// SendPLI sends a picture loss indication for the received track.
func (c *Client) SendPLI() error {
	c.mu.Lock()
	ssrc := c.ssrc
	c.mu.Unlock()
	return c.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// WaitState waits until the connection reaches one of states and returns it.
func (c *Client) WaitState(t testing.TB, timeout time.Duration, states ...pion.PeerConnectionState) pion.PeerConnectionState {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, s := range states {
			if c.PC.ConnectionState() == s {
				return s
			}
		}
		select {
		case <-c.state:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("connection state %v after %v, want one of %v", c.PC.ConnectionState(), timeout, states)
		}
	}
}

// HangUp DELETEs the session at url (200 expected), then closes the peer connection and lets
// go of it and of the access units received: the test's cleanup keeps the client until the
// test ends, and a soak test hangs up hundreds of clients. PC is nil afterwards.
func (c *Client) HangUp(t testing.TB, url string) {
	t.Helper()
	if err := deleteSession(url); errors.Is(err, ErrStatus) {
		t.Error(err)
	} else if err != nil {
		t.Fatal(err)
	}
	c.release()
}
