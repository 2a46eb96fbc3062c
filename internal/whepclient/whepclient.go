// Package whepclient is a WHEP viewer on loopback: a recvonly pion peer connection that posts
// its offer to a WHEP endpoint and receives the H.264 access units. The viewer benchmark
// watches with Connect; tests use the testing.TB helpers (New, Dial, Wait, HangUp).
package whepclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
)

// ErrStatus is returned (wrapped) when the WHEP endpoint answers with an unexpected status.
var ErrStatus = errors.New("whepclient: unexpected HTTP status")

// gatherTimeout bounds ICE gathering, which on loopback is immediate.
const gatherTimeout = 10 * time.Second

// httpClient has no idle connections, so that its goroutines end with each request.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}

// Client is a recvonly peer connection that depacketizes the H.264 or H.265 it receives into
// access units (Annex-B, one per RTP marker bit). Its offer lists pion's default codecs, H.264
// and H.265 among them, unless made with WithoutH265.
type Client struct {
	PC    *pion.PeerConnection
	Offer string // the complete offer (ICE gathering done)

	// Set by Connect and Dial: the POST's response (its body read into Answer) and its
	// Location header.
	Response *http.Response
	Answer   string
	Location string

	postURL string
	onAU    func(au []byte, at time.Time, damaged bool)
	keep    bool // keep the access units for AccessUnits (tests)

	aus, bytes, lost, late atomic.Uint64
	first                  chan struct{} // closed at the first access unit
	firstOnce              sync.Once
	firstAt                time.Time // when the first access unit was complete; set before first closes

	mu     sync.Mutex
	kept   [][]byte
	stamps []uint32    // the RTP timestamp of each kept access unit
	keptAt []time.Time // when each kept access unit was complete
	msgs   [][]byte    // messages of the detections data channel (NewDetections)
	ssrc   uint32
	want   int
	got    chan struct{} // closed when want access units are kept
	state  chan pion.PeerConnectionState
}

// Stats is what a client has received so far.
type Stats struct {
	AccessUnits uint64 // complete access units (RTP marker bits)
	Bytes       uint64 // RTP payload
	Lost        uint64 // packets missing from the sequence
	Late        uint64 // packets that came after their gap was given up as lost (or twice)
}

// Connect creates a client, POSTs its offer to the WHEP endpoint url (which must answer 201)
// and applies the answer. onAU, when set, receives each complete access unit (the callee owns
// it), when its last packet arrived, and whether packets were lost within it; it runs on the
// track's reading goroutine. Without onAU the client only counts what it receives.
func Connect(ctx context.Context, url string, onAU func(au []byte, at time.Time, damaged bool)) (*Client, error) {
	c, err := newClient(ctx, onAU, false, 0, false)
	if err != nil {
		return nil, err
	}
	if err := c.post(ctx, url); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// newClient makes the peer connection and its complete offer.
func newClient(ctx context.Context, onAU func([]byte, time.Time, bool), keep bool, want int, detections bool) (*Client, error) {
	api, err := loopbackAPI()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("whepclient: peer connection: %w", err)
	}
	c := &Client{PC: pc, onAU: onAU, keep: keep, want: want, first: make(chan struct{}), got: make(chan struct{}),
		state: make(chan pion.PeerConnectionState, 16)}
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo,
		pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		c.release()
		return nil, fmt.Errorf("whepclient: transceiver: %w", err)
	}
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		select {
		case c.state <- s:
		default:
		}
	})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) { c.read(tr) })
	if detections {
		if err := c.openDetections(); err != nil {
			c.release()
			return nil, err
		}
	}
	if err := c.gather(ctx); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// gather sets the local offer and waits for ICE gathering to complete.
func (c *Client) gather(ctx context.Context) error {
	offer, err := c.PC.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("whepclient: offer: %w", err)
	}
	gathered := pion.GatheringCompletePromise(c.PC)
	if err := c.PC.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("whepclient: local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		return fmt.Errorf("whepclient: ICE gathering took over %v", gatherTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	c.Offer = c.PC.LocalDescription().SDP
	return nil
}

// post sends the offer to the WHEP endpoint and applies its answer.
func (c *Client) post(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(c.Offer))
	if err != nil {
		return fmt.Errorf("whepclient: POST %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("whepclient: POST %s: %w", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("whepclient: POST %s: reading the answer: %w", url, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%w: POST %s: %d %s", ErrStatus, url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	c.postURL, c.Response, c.Answer, c.Location = url, resp, string(body), resp.Header.Get("Location")
	if err := c.PC.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: c.Answer}); err != nil {
		return fmt.Errorf("whepclient: applying the answer: %w", err)
	}
	return nil
}

// read receives the track until the connection closes.
func (c *Client) read(tr *pion.TrackRemote) {
	c.mu.Lock()
	c.ssrc = uint32(tr.SSRC())
	c.mu.Unlock()
	depacketize := c.keep || c.onAU != nil
	var depack interface{ Unmarshal([]byte) ([]byte, error) } = &codecs.H264Packet{}
	if strings.EqualFold(tr.Codec().MimeType, pion.MimeTypeH265) {
		depack = &codecs.H265Depacketizer{}
	}
	var cur []byte
	var ro reorder
	damaged := false
	emit := func(pkt *rtp.Packet, lost int) {
		if lost > 0 {
			c.lost.Add(uint64(lost))
			damaged = true
		}
		c.bytes.Add(uint64(len(pkt.Payload)))
		if depacketize {
			if data, err := depack.Unmarshal(pkt.Payload); err == nil {
				cur = append(cur, data...)
			}
		}
		if pkt.Marker {
			c.complete(cur, pkt.Timestamp, time.Now(), damaged)
			cur, damaged = nil, false
		}
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if ro.push(pkt, time.Now(), emit) {
			c.late.Add(1)
		}
	}
}

// complete counts an access unit and hands it on.
func (c *Client) complete(au []byte, ts uint32, at time.Time, damaged bool) {
	c.aus.Add(1)
	c.firstOnce.Do(func() {
		c.firstAt = at
		close(c.first)
	})
	if len(au) == 0 {
		return
	}
	if c.onAU != nil {
		c.onAU(au, at, damaged)
	}
	if c.keep {
		c.mu.Lock()
		c.kept = append(c.kept, au)
		c.stamps = append(c.stamps, ts)
		c.keptAt = append(c.keptAt, at)
		if len(c.kept) == c.want {
			close(c.got)
		}
		c.mu.Unlock()
	}
}

// Stats returns what the client has received so far.
func (c *Client) Stats() Stats {
	return Stats{AccessUnits: c.aus.Load(), Bytes: c.bytes.Load(), Lost: c.lost.Load(), Late: c.late.Load()}
}

// First is closed when the first access unit has arrived.
func (c *Client) First() <-chan struct{} { return c.first }

// FirstAt is when the first access unit was complete: valid once First is closed.
func (c *Client) FirstAt() time.Time {
	<-c.first
	return c.firstAt
}

// Close ends the session (DELETE at its Location, which must answer 200) and closes the peer
// connection.
func (c *Client) Close() error {
	var err error
	if c.Location != "" {
		err = deleteSession(c.sessionURL())
		c.Location = ""
	}
	c.release()
	return err
}

// sessionURL is the Location resolved against the URL the offer was posted to.
func (c *Client) sessionURL() string {
	base, err := url.Parse(c.postURL)
	if err != nil {
		return c.Location
	}
	loc, err := url.Parse(c.Location)
	if err != nil {
		return c.Location
	}
	return base.ResolveReference(loc).String()
}

// deleteSession DELETEs the session at url, which must answer 200.
func deleteSession(url string) error {
	req, err := http.NewRequest(http.MethodDelete, url, nil)
	if err != nil {
		return fmt.Errorf("whepclient: DELETE %s: %w", url, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("whepclient: DELETE %s: %w", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("whepclient: DELETE %s: reading the body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: DELETE %s: %d %s", ErrStatus, url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// release closes the peer connection and drops what the client holds. Idempotent.
func (c *Client) release() {
	c.mu.Lock()
	pc := c.PC
	c.PC, c.kept = nil, nil
	c.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
}
