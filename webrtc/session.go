package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// session is one WHEP viewer: a peer connection with one sending H.264 track.
//
// Goroutines: run (writes the viewer's frames, and tears the session down) and readRTCP (PLI
// and FIR, and it keeps pion's interceptors going). Both end when the session closes.
type session struct {
	id, etag string
	b        *Broadcaster
	log      *slog.Logger
	pc       *pion.PeerConnection
	track    *pion.TrackLocalStaticRTP
	sender   *pion.RTPSender
	queue    chan *frame
	backlog  chan []*frame // the GOP cache's frames, sent before the queue's (passthrough)
	created  time.Time
	remote   remoteICE // the offer's ICE credentials and m= sections, for PATCH

	active    atomic.Bool // connected: WriteAccessUnit queues frames for it
	started   atomic.Bool // activated once, at the first connection
	stopFeed  context.CancelFunc
	feedCtx   context.Context // ends at teardown: the detections feed
	done      chan struct{}
	closed    chan struct{} // closed when teardown has finished
	closeOnce sync.Once
	reason    atomic.Pointer[string]
	timer     *time.Timer // ConnectTimeout

	// RTP state, owned by run.
	seq      uint16
	tsOffset uint32
	pkt      rtp.Packet
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// newSession creates the peer connection for offer and starts the session. It returns the
// answer once ICE gathering has completed or Options.GatherTimeout has passed. A passthrough
// session (codec not nil) answers with codec, the offer's entry that fits the camera's stream;
// an annotated one with the encoder's constrained baseline.
func (m *Manager) newSession(b *Broadcaster, offer, remote string, codec *passthroughCodec) (*session, string, error) {
	api := m.api
	if codec != nil {
		var err error
		if api, err = newAPI(&m.opts, []pion.RTPCodecParameters{codec.capability()}); err != nil {
			return nil, "", err
		}
	}
	// Only the ICE servers that answer: an unreachable one would hold the answer for the whole
	// GatherTimeout.
	pc, err := api.NewPeerConnection(pion.Configuration{ICEServers: m.probe.usable()})
	if err != nil {
		return nil, "", fmt.Errorf("creating peer connection: %w", err)
	}
	s := &session{
		id:       randomHex(16),
		etag:     `"` + randomHex(8) + `"`,
		b:        b,
		pc:       pc,
		queue:    make(chan *frame, m.opts.ViewerQueueFrames),
		backlog:  make(chan []*frame, 1),
		created:  time.Now(),
		done:     make(chan struct{}),
		closed:   make(chan struct{}),
		seq:      uint16(randomUint32()),
		tsOffset: randomUint32(),
	}
	s.feedCtx, s.stopFeed = context.WithCancel(context.Background())
	s.log = m.opts.Logger.With("camera", b.camera, "view", string(b.view), "session", s.id)
	s.pkt.Header.Version = 2
	// Armed before negotiation so that onState never sees it unset.
	s.timer = time.AfterFunc(m.opts.ConnectTimeout, func() {
		if !s.active.Load() {
			s.close("not connected within " + m.opts.ConnectTimeout.String())
		}
	})

	send := CodecH264
	if codec != nil && codec.h265 {
		send = CodecH265
	}
	answer, err := s.negotiate(offer, send)
	if err == nil {
		err = b.addSession(s)
	}
	if err != nil {
		s.timer.Stop()
		s.stopFeed()
		_ = pc.Close()
		return nil, "", err
	}
	if codec != nil {
		answer = codec.rewriteAnswer(answer)
	}
	m.wg.Add(2)
	go func() { defer m.wg.Done(); s.run() }()
	go func() { defer m.wg.Done(); s.readRTCP() }()
	s.log.Info("viewer joined", "remote", remote, "viewers", b.Viewers())
	return s, answer, nil
}

// negotiate applies the offer and returns the answer with the server's candidates in it (the
// server does not trickle its own).
func (s *session) negotiate(offer string, send Codec) (string, error) {
	mime := pion.MimeTypeH264
	if send == CodecH265 {
		mime = pion.MimeTypeH265
	}
	track, err := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: mime, ClockRate: 90000},
		"video", "gstvision-"+s.b.camera)
	if err != nil {
		return "", fmt.Errorf("creating track: %w", err)
	}
	s.track = track
	if s.sender, err = s.pc.AddTrack(track); err != nil {
		return "", fmt.Errorf("adding track: %w", err)
	}
	s.pc.OnConnectionStateChange(s.onState)
	s.pc.OnDataChannel(s.onDataChannel)

	if err := s.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	remote, err := parseRemoteICE(offer)
	if err != nil {
		return "", err
	}
	s.remote = remote
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if checkOffer(answer.SDP, send) != nil {
		if send == CodecH265 {
			return "", fmt.Errorf("%w: no H.265 profile in common with the camera's", ErrNoVideo)
		}
		return "", fmt.Errorf("%w: no H.264 profile in common (the annotated view sends constrained "+
			"baseline, packetization-mode=1)", ErrNoVideo)
	}
	gathered := pion.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("setting local description: %w", err)
	}
	t := time.NewTimer(s.b.m.opts.GatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		// Answer with what we have: host candidates come first and are often enough. A server
		// that answered its last probe has gone quiet: probe again to leave it out.
		s.log.Warn("ICE gathering timed out; answering with the candidates so far",
			"timeout", s.b.m.opts.GatherTimeout)
		s.b.m.probe.probeSoon()
	}
	ld := s.pc.LocalDescription()
	if ld == nil {
		return "", errors.New("no local description after gathering")
	}
	return ld.SDP, nil
}

func (s *session) onState(st pion.PeerConnectionState) {
	s.log.Debug("peer connection state", "state", st.String())
	switch st {
	case pion.PeerConnectionStateConnected:
		s.timer.Stop()
		if !s.started.Swap(true) {
			s.b.activate(s)
			s.log.Info("viewer connected", "after", time.Since(s.created).Round(time.Millisecond))
			// Without a cached GOP the viewer waits for an IDR; ask for one now rather than at
			// the offer, when it could have gone out before DTLS was up. (A passthrough
			// broadcaster has nobody to ask: its camera sends keyframes at its own pace.)
			s.b.RequestKeyframe()
		}
	case pion.PeerConnectionStateFailed:
		s.close("connection failed")
	case pion.PeerConnectionStateClosed:
		s.close("connection closed")
	}
}

// close asks the session to end; run does the teardown. Safe from any goroutine, including
// pion's callbacks (which must not wait for PeerConnection.Close).
func (s *session) close(reason string) {
	s.closeOnce.Do(func() {
		s.reason.Store(&reason)
		close(s.done)
	})
}

// closeAndWait closes the session and waits until its peer connection is closed.
func (s *session) closeAndWait(reason string) {
	s.close(reason)
	<-s.closed
}

// run sends queued frames until the session closes, then tears it down.
func (s *session) run() {
	defer s.teardown()
	var next uint64
	waitKey := true
	for {
		select {
		case <-s.done:
			return
		case backlog := <-s.backlog:
			// Sent before any live frame: activate queued it before the first of them.
			next, waitKey = s.sendBacklog(backlog, next, waitKey)
		case f := <-s.queue:
			select {
			case backlog := <-s.backlog: // queued before f: send it first
				next, waitKey = s.sendBacklog(backlog, next, waitKey)
			default:
			}
			next, waitKey = s.sendInOrder(f, next, waitKey)
		}
	}
}

// BacklogRate bounds how fast a joining viewer is sent the cached GOP, in bytes per second
// (40 Mbit/s): a GOP sent at once would overflow socket buffers on the way and lose packets.
// The first frame, the IDR, goes at once; live frames queue meanwhile (ViewerQueueFrames).
const BacklogRate = 5 << 20

// sendBacklog sends the cached GOP paced at BacklogRate; it returns early when the session
// closes.
func (s *session) sendBacklog(frames []*frame, next uint64, waitKey bool) (uint64, bool) {
	start, sent := time.Now(), 0
	for _, f := range frames {
		if wait := time.Duration(sent)*time.Second/BacklogRate - time.Since(start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-s.done:
				t.Stop()
				return next, waitKey
			case <-t.C:
			}
		}
		next, waitKey = s.sendInOrder(f, next, waitKey)
		for _, p := range f.payloads {
			sent += len(p)
		}
	}
	return next, waitKey
}

// sendInOrder sends f unless the session waits for a keyframe, and returns the next expected
// frame number and whether it waits for a keyframe: after a gap (frames dropped for this
// viewer, whose decoder lost its references) it waits and asks for one.
func (s *session) sendInOrder(f *frame, next uint64, waitKey bool) (uint64, bool) {
	if next != 0 && f.seq != next && !waitKey {
		waitKey = true
		s.b.RequestKeyframe()
	}
	next = f.seq + 1
	if waitKey {
		if !f.key {
			return next, true
		}
		waitKey = false
	}
	s.send(f)
	return next, waitKey
}

func (s *session) send(f *frame) {
	s.pkt.Timestamp = f.ts + s.tsOffset
	for i, p := range f.payloads {
		s.pkt.Marker = i == len(f.payloads)-1
		s.pkt.SequenceNumber = s.seq
		s.pkt.Payload = p
		s.seq++
		// TrackLocalStaticRTP copies the header per binding and fills in SSRC and payload type;
		// before DTLS is up or after close it drops the packet without blocking.
		if err := s.track.WriteRTP(&s.pkt); err != nil {
			if errors.Is(err, io.ErrClosedPipe) {
				s.close("transport closed")
				return
			}
			s.log.Debug("writing RTP", "err", err)
		}
	}
}

// readRTCP forwards PLI and FIR to the encoder. Reading RTCP is also what drives pion's
// interceptors (NACK responder, receiver reports).
func (s *session) readRTCP() {
	for {
		pkts, _, err := s.sender.ReadRTCP()
		if err != nil {
			return // io.EOF once the peer connection is closed
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.b.RequestKeyframe()
			}
		}
	}
}

// teardown removes the session from its broadcaster and closes the peer connection.
func (s *session) teardown() {
	defer close(s.closed)
	s.timer.Stop()
	s.stopFeed()
	s.active.Store(false)
	s.b.removeSession(s)
	if err := s.pc.Close(); err != nil {
		s.log.Debug("closing peer connection", "err", err)
	}
	reason := ""
	if r := s.reason.Load(); r != nil {
		reason = *r
	}
	s.log.Info("viewer left", "reason", reason, "duration", time.Since(s.created).Round(time.Second),
		"viewers", s.b.Viewers())
}
