package whepclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// whepServer is a minimal WHEP endpoint: it answers one offer with a sendonly H.264 track,
// sends an access unit of two packets every 10 ms once connected, dropping the packet after
// the tenth access unit's first (a gap), and records the DELETEs it gets.
type whepServer struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	deletes []string
}

func newWHEPServer(t *testing.T) *whepServer {
	ws := &whepServer{t: t}
	ws.srv = httptest.NewServer(http.HandlerFunc(ws.serve))
	t.Cleanup(ws.srv.Close)
	return ws
}

func (ws *whepServer) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodDelete:
		ws.mu.Lock()
		ws.deletes = append(ws.deletes, r.URL.Path)
		ws.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && r.URL.Path == "/whep/cam1":
		offer, _ := io.ReadAll(r.Body)
		answer, err := ws.answer(string(offer))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Location", "/whep/cam1/s1")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, answer)
	default:
		http.NotFound(w, r)
	}
}

func (ws *whepServer) answer(offer string) (string, error) {
	api, err := loopbackAPI()
	if err != nil {
		return "", err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return "", err
	}
	ws.t.Cleanup(func() { pc.Close() })
	track, err := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000}, "video", "cam1")
	if err != nil {
		return "", err
	}
	if _, err := pc.AddTrack(track); err != nil {
		return "", err
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	<-gathered
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			go send(track)
		}
	})
	return pc.LocalDescription().SDP, nil
}

// send writes access units of two single-NAL packets: 0x65 0xAA, then 0x41 0xBB with the marker.
func send(track *pion.TrackLocalStaticRTP) {
	seq := uint16(0)
	for au := range 200 {
		for i, payload := range [][]byte{{0x65, 0xaa}, {0x41, 0xbb}} {
			seq++
			if au == 10 && i == 0 {
				continue // lost
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(au * 3000),
				Marker: i == 1}, Payload: payload}
			if err := track.WriteRTP(pkt); err != nil {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectReceivesAndCloses(t *testing.T) {
	ws := newWHEPServer(t)
	type au struct {
		data    []byte
		damaged bool
	}
	got := make(chan au, 256)
	c, err := Connect(context.Background(), ws.srv.URL+"/whep/cam1", func(b []byte, _ time.Time, damaged bool) {
		got <- au{b, damaged}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.First():
	case <-time.After(10 * time.Second):
		t.Fatalf("no access unit within 10 s (connection %s)", c.PC.ConnectionState())
	}
	want := []byte{0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x41, 0xbb}
	damaged := 0
	for range 15 {
		select {
		case a := <-got:
			if a.damaged {
				damaged++
			} else if !bytes.Equal(a.data, want) {
				t.Fatalf("access unit %x, want %x", a.data, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("fewer than 15 access units")
		}
	}
	if st := c.Stats(); st.AccessUnits < 15 || st.Lost != 1 || damaged != 1 || st.Bytes < 4*14 {
		t.Errorf("stats %+v with %d damaged access units; want ≥ 15 access units, 1 packet lost, 1 damaged", st, damaged)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.deletes) != 1 || ws.deletes[0] != "/whep/cam1/s1" {
		t.Errorf("DELETEs %v, want one of /whep/cam1/s1", ws.deletes)
	}
	if c.PC != nil {
		t.Error("the peer connection is kept after Close")
	}
}

func TestConnectRefused(t *testing.T) {
	ws := newWHEPServer(t)
	_, err := Connect(context.Background(), ws.srv.URL+"/whep/nope", nil)
	if !errors.Is(err, ErrStatus) {
		t.Fatalf("Connect to a missing camera: %v, want ErrStatus", err)
	}
}

func TestSessionURL(t *testing.T) {
	c := &Client{postURL: "http://127.0.0.1:8080/whep/cam1?token=x", Location: "/whep/cam1/abc"}
	if got, want := c.sessionURL(), "http://127.0.0.1:8080/whep/cam1/abc"; got != want {
		t.Errorf("sessionURL = %q, want %q", got, want)
	}
}
