package whepclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
)

// New creates a client that keeps the access units it receives and waits for want of them,
// with its complete offer. The peer connection closes when the test ends.
func New(t testing.TB, want int) *Client {
	t.Helper()
	c, err := newClient(context.Background(), nil, true, want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.release)
	return c
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
