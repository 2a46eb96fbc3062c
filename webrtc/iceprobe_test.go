package webrtc_test

import (
	"encoding/binary"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/test"
	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

// stunServer is a STUN server on 127.0.0.1 that answers binding requests with a fixed mapped
// address, or, while silent, reads and drops them: a server that never answers.
type stunServer struct {
	conn     net.PacketConn
	silent   atomic.Bool
	requests atomic.Int64
}

// mappedIP and mappedPort are what the STUN server reports (TEST-NET-1, RFC 5737): they show
// up in the server's srflx candidate.
var mappedIP = [4]byte{192, 0, 2, 77}

const mappedPort = 41000

func startSTUN(t *testing.T, silent bool) *stunServer {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stunServer{conn: conn}
	s.silent.Store(silent)
	t.Cleanup(func() { _ = conn.Close() })
	go s.serve()
	return s
}

func (s *stunServer) addr() string { return s.conn.LocalAddr().String() }

func (s *stunServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		s.requests.Add(1)
		if resp := bindingSuccess(buf[:n]); resp != nil && !s.silent.Load() {
			_, _ = s.conn.WriteTo(resp, from)
		}
	}
}

// bindingSuccess answers a STUN binding request (RFC 8489) with XOR-MAPPED-ADDRESS
// mappedIP:mappedPort; nil for anything else.
func bindingSuccess(req []byte) []byte {
	const magic = 0x2112A442
	if len(req) < 20 || binary.BigEndian.Uint16(req[0:]) != 0x0001 || binary.BigEndian.Uint32(req[4:]) != magic {
		return nil
	}
	resp := make([]byte, 32)
	binary.BigEndian.PutUint16(resp[0:], 0x0101) // binding success
	binary.BigEndian.PutUint16(resp[2:], 12)     // attributes' length
	copy(resp[4:20], req[4:20])                  // magic cookie, transaction ID
	binary.BigEndian.PutUint16(resp[20:], 0x0020)
	binary.BigEndian.PutUint16(resp[22:], 8)
	resp[25] = 0x01 // IPv4
	binary.BigEndian.PutUint16(resp[26:], mappedPort^uint16(magic>>16))
	binary.BigEndian.PutUint32(resp[28:], binary.BigEndian.Uint32(mappedIP[:])^magic)
	return resp
}

// TestUnreachableICEServer: STUN and TURN servers that never answer do not hold WHEP answers
// for GatherTimeout: the POSTs are answered long before it, with host candidates, and play.
func TestUnreachableICEServer(t *testing.T) {
	aus := testClip(t)
	dead := startSTUN(t, true)
	const gatherTimeout = 20 * time.Second
	ts := newTestServer(t, webrtc.Options{
		GatherTimeout: gatherTimeout,
		ICEServers: []webrtc.ICEServer{
			{URLs: []string{"stun:" + dead.addr()}},
			{URLs: []string{"turn:" + dead.addr() + "?transport=udp"}, Username: "u", Credential: "p"},
		},
	}, "cam1")
	startFeeder(t, ts.m.Broadcaster("cam1"), aus)

	// The first viewer may come while the probes are still waiting; the second after.
	for i := range 2 {
		start := time.Now()
		c := dial(t, ts, "cam1", 10)
		if took := time.Since(start); took > gatherTimeout/4 {
			t.Errorf("viewer %d: POST answered after %v (GatherTimeout %v)", i+1, took, gatherTimeout)
		}
		if !strings.Contains(c.Answer, "typ host") {
			t.Errorf("viewer %d: the answer has no host candidate:\n%s", i+1, c.Answer)
		}
		c.Wait(t, 10*time.Second)
		c.HangUp(t, ts.srv.URL+c.Location)
	}
	if dead.requests.Load() == 0 {
		t.Error("the ICE server was never asked")
	}
}

// TestICEServerProbes: a reachable STUN server's srflx candidate is in the answers (for clients
// that do not trickle); once it stops answering, the server logs a warning naming it (never the
// credentials) and answers without it.
func TestICEServerProbes(t *testing.T) {
	aus := testClip(t)
	stun := startSTUN(t, false)
	dead := startSTUN(t, true)
	var logs test.LogBuffer
	ts := newTestServer(t, webrtc.Options{
		GatherTimeout: 2 * time.Second,
		ICEServers: []webrtc.ICEServer{
			{URLs: []string{"stun:" + stun.addr()}},
			{URLs: []string{"turn:" + dead.addr() + "?transport=udp"}, Username: "alice", Credential: "s3cret-credential"},
		},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}, "cam1")
	startFeeder(t, ts.m.Broadcaster("cam1"), aus)
	const srflx = "192.0.2.77 41000 typ srflx"

	// Viewers that come before the first probe has answered get host candidates only.
	var c *whepclient.Client
	eventually(t, 15*time.Second, "an answer with the STUN server's srflx candidate", func() bool {
		c = dial(t, ts, "cam1", 10)
		if strings.Contains(c.Answer, srflx) {
			return true
		}
		c.HangUp(t, ts.srv.URL+c.Location)
		return false
	})
	c.Wait(t, 10*time.Second)
	c.HangUp(t, ts.srv.URL+c.Location)

	// The next session waits for it in vain, which sets off a probe that leaves it out.
	stun.silent.Store(true)
	c = dial(t, ts, "cam1", 10)
	c.HangUp(t, ts.srv.URL+c.Location)
	if strings.Contains(c.Answer, "typ srflx") {
		t.Errorf("an answer has a srflx candidate from a silent STUN server:\n%s", c.Answer)
	}
	eventually(t, 15*time.Second, "warnings naming both servers", func() bool {
		s := logs.String()
		return strings.Contains(s, "url=stun:"+stun.addr()) && strings.Contains(s, "turn:"+dead.addr()+"?transport=udp")
	})
	if s := logs.String(); strings.Contains(s, "s3cret-credential") || strings.Contains(s, "alice") {
		t.Errorf("the log shows the TURN credentials:\n%s", s)
	}
}
