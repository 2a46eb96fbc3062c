// Package whepclient is the tests' WHEP viewer: a recvonly pion peer connection on loopback
// that posts its offer to a WHEP endpoint and collects the H.264 access units it receives.
package whepclient

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"

	"github.com/gstvision/gstvision/internal/loopback"
)

// httpClient has no idle connections, so that its goroutines end with each request.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}

// Client is a recvonly peer connection that depacketizes the H.264 it receives into access
// units (Annex-B, one per RTP marker bit).
type Client struct {
	PC    *pion.PeerConnection
	Offer string // the complete offer (ICE gathering done)

	// Set by Dial: the POST's response (its body read into Answer) and its Location header.
	Response *http.Response
	Answer   string
	Location string

	mu    sync.Mutex
	aus   [][]byte
	cur   []byte
	ssrc  uint32
	want  int
	got   chan struct{} // closed when want access units have arrived
	state chan pion.PeerConnectionState
}

// New creates a client that waits for want access units, with its complete offer. The peer
// connection closes when the test ends.
func New(t testing.TB, want int) *Client {
	t.Helper()
	api, err := loopback.API()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{PC: pc, want: want, got: make(chan struct{}), state: make(chan pion.PeerConnectionState, 16)}
	t.Cleanup(c.release)
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo,
		pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		select {
		case c.state <- s:
		default:
		}
	})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) { c.read(tr) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	c.Offer = pc.LocalDescription().SDP
	return c
}

func (c *Client) read(tr *pion.TrackRemote) {
	c.mu.Lock()
	c.ssrc = uint32(tr.SSRC())
	c.mu.Unlock()
	var depack codecs.H264Packet
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		data, err := depack.Unmarshal(pkt.Payload)
		c.mu.Lock()
		if err == nil {
			c.cur = append(c.cur, data...)
		}
		if pkt.Marker && len(c.cur) > 0 {
			c.aus = append(c.aus, c.cur)
			c.cur = nil
			if len(c.aus) == c.want {
				close(c.got)
			}
		}
		c.mu.Unlock()
	}
}

// Dial creates a client, POSTs its offer to the WHEP endpoint url (which must answer 201) and
// applies the answer.
func Dial(t testing.TB, url string, want int) *Client {
	t.Helper()
	c := New(t, want)
	resp, err := httpClient.Post(url, "application/sdp", strings.NewReader(c.Offer))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the body: %v", url, err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, body)
	}
	c.Response, c.Answer, c.Location = resp, string(body), resp.Header.Get("Location")
	if err := c.PC.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: c.Answer}); err != nil {
		t.Fatalf("applying the answer: %v", err)
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
		n := len(c.aus)
		c.mu.Unlock()
		t.Fatalf("received %d access units in %v, want %d (connection %v)", n, timeout, c.want, c.PC.ConnectionState())
	}
}

// AccessUnits returns a copy of the list of access units received so far.
func (c *Client) AccessUnits() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.aus...)
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
	req, err := http.NewRequest(http.MethodDelete, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("DELETE %s: reading the body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("DELETE %s: %d %s", url, resp.StatusCode, body)
	}
	c.release()
}

// release closes the peer connection and drops what the client holds. Idempotent.
func (c *Client) release() {
	c.mu.Lock()
	pc := c.PC
	c.PC, c.aus, c.cur = nil, nil, nil
	c.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
}
