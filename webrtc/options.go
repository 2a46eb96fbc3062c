package webrtc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pion "github.com/pion/webrtc/v4"
)

// Defaults for zero Options fields.
const (
	DefaultGatherTimeout       = 3 * time.Second
	DefaultConnectTimeout      = 15 * time.Second
	DefaultKeyframeInterval    = 500 * time.Millisecond
	DefaultMaxOfferBytes       = 64 << 10
	DefaultViewerQueueFrames   = 60
	DefaultDisconnectedTimeout = 4 * time.Second
	DefaultFailedTimeout       = 6 * time.Second
)

// mtu is the largest RTP payload we produce, pion's own outbound MTU: small enough for every
// path that carries WebRTC, including TURN over TCP.
const mtu = 1200

// ICEServer is one STUN or TURN server, in the shape of the browser's RTCIceServer.
type ICEServer struct {
	URLs       []string // "stun:host:port", "turn:host:port?transport=udp", "turns:..."
	Username   string   // TURN only
	Credential string   // TURN only
}

// Options configures a [Manager]. Zero fields take the defaults above.
type Options struct {
	// ICEServers are announced to WHEP clients in Link headers (rel="ice-server") and used by
	// the server's own ICE agent as well: each URL is probed in the background (at start, every
	// 30 s, and when a session's gathering times out), and sessions gather only with the URLs
	// whose last probe gave a candidate within GatherTimeout, so that an unreachable server
	// does not delay every answer (answers in the round trip before the first probe's reply
	// have host candidates only). A warning names each URL left out, never its credentials;
	// stuns: URLs, from which pion gathers nothing, are only announced.
	ICEServers []ICEServer
	// UDPPortMin and UDPPortMax bound the UDP ports of ICE candidates; both 0 means any.
	UDPPortMin, UDPPortMax int
	// PublicIPs, when set, replace the host candidates' addresses: for a server behind a 1:1
	// NAT (a cloud VM with a public IP) without STUN.
	PublicIPs []string
	// LoopbackOnly gathers only an IPv4 loopback (127.0.0.1) candidate and accepts only loopback
	// remote candidates, with mDNS off: for a server that listens on loopback only, and for
	// tests. Browsers ignore loopback candidates unless told otherwise (Chromium:
	// --allow-loopback-in-peer-connection).
	LoopbackOnly bool
	// GatherTimeout bounds how long POST waits for ICE gathering to complete before it answers
	// with the candidates found so far (the server does not trickle its candidates), and how
	// long an ICE server probe waits for a candidate.
	GatherTimeout time.Duration
	// ConnectTimeout closes a session whose peer connection has not connected this long after
	// the offer.
	ConnectTimeout time.Duration
	// DisconnectedTimeout and FailedTimeout are ICE's: without traffic from the viewer for
	// DisconnectedTimeout the connection is disconnected, and after FailedTimeout more it has
	// failed and the session is closed.
	DisconnectedTimeout, FailedTimeout time.Duration
	// KeyframeInterval is the least time between two keyframe requests of one broadcaster;
	// requests in between are merged into one sent when the interval has passed.
	KeyframeInterval time.Duration
	// MaxOfferBytes bounds the size of an SDP offer (413 past it).
	MaxOfferBytes int64
	// ViewerQueueFrames bounds each viewer's queue of access units; a viewer that falls this
	// far behind loses frames and waits for the next keyframe.
	ViewerQueueFrames int
	// DefaultView is the view of a WHEP POST without ?view= (default ViewAnnotated, the
	// broadcaster that Manager.Broadcaster returns).
	DefaultView View
	// Detections, when set, feeds a session's "detections" data channel: it runs (on its own
	// goroutine) until ctx ends, calling send with each analysed frame of camera: its PTS and
	// its JSON object as /ws sends it. send never blocks and does not keep json.
	Detections func(ctx context.Context, camera string, send func(pts time.Duration, json []byte))
	// Logger receives session events (info) and pion's own log (debug; its errors as warnings).
	// Nil discards them.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.GatherTimeout, DefaultGatherTimeout)
	def(&o.ConnectTimeout, DefaultConnectTimeout)
	def(&o.KeyframeInterval, DefaultKeyframeInterval)
	def(&o.DisconnectedTimeout, DefaultDisconnectedTimeout)
	def(&o.FailedTimeout, DefaultFailedTimeout)
	if o.MaxOfferBytes <= 0 {
		o.MaxOfferBytes = DefaultMaxOfferBytes
	}
	if o.ViewerQueueFrames <= 0 {
		o.ViewerQueueFrames = DefaultViewerQueueFrames
	}
	if o.DefaultView == "" {
		o.DefaultView = ViewAnnotated
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate checks the fields pion would otherwise reject late, per peer connection.
func (o *Options) validate() error {
	if _, err := ParseView(string(o.DefaultView), ViewPassthrough); err != nil {
		return fmt.Errorf("%w: DefaultView: %w", ErrBadOptions, err)
	}
	if o.UDPPortMin < 0 || o.UDPPortMax > 65535 || o.UDPPortMin > o.UDPPortMax ||
		(o.UDPPortMin == 0) != (o.UDPPortMax == 0) {
		return fmt.Errorf("%w: UDP port range %d-%d", ErrBadOptions, o.UDPPortMin, o.UDPPortMax)
	}
	for _, ip := range o.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: public IP %q is not an IP address", ErrBadOptions, ip)
		}
	}
	for i, s := range o.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("%w: ice server %d has no URLs", ErrBadOptions, i)
		}
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") &&
				!strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return fmt.Errorf("%w: ice server URL %q must start with stun, stuns, turn or turns", ErrBadOptions, u)
			}
		}
	}
	return nil
}

// pionICEServers converts the ICE servers for pion's Configuration.
func (o *Options) pionICEServers() []pion.ICEServer {
	out := make([]pion.ICEServer, 0, len(o.ICEServers))
	for _, s := range o.ICEServers {
		ps := pion.ICEServer{URLs: append([]string(nil), s.URLs...)}
		if s.Username != "" || s.Credential != "" {
			ps.Username = s.Username
			ps.Credential = s.Credential
			ps.CredentialType = pion.ICECredentialTypePassword
		}
		out = append(out, ps)
	}
	return out
}

// h264Feedback is the RTCP feedback every H.264 codec of the server accepts.
var h264Feedback = []pion.RTCPFeedback{
	{Type: pion.TypeRTCPFBNACK, Parameter: "pli"},
	{Type: pion.TypeRTCPFBCCM, Parameter: "fir"},
}

// annotatedCodecs are the codecs of the annotated view. The encoder makes constrained baseline.
// Offering plain baseline too lets browsers that list only 42001f match; a constrained baseline
// stream is a valid baseline stream.
func annotatedCodecs() []pion.RTPCodecParameters {
	var out []pion.RTPCodecParameters
	for i, fmtp := range []string{
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
	} {
		out = append(out, pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{
				MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: h264Feedback,
			},
			PayloadType: pion.PayloadType(102 + 2*i),
		})
	}
	return out
}

// newAPI builds a pion API for peer connections sending codecs: pion's default interceptors
// (NACK, RTCP reports, TWCC), and the network settings of o. The manager's API sends the
// annotated codecs; a passthrough session gets one of its own, with the offer's entry that
// fits the camera (choosePassthroughCodec).
func newAPI(o *Options, codecs []pion.RTPCodecParameters) (*pion.API, error) {
	me := &pion.MediaEngine{}
	for _, c := range codecs {
		if err := me.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("registering H.264 %q: %w", c.SDPFmtpLine, err)
		}
	}

	var se pion.SettingEngine
	se.LoggerFactory = slogFactory{o.Logger}
	se.SetICETimeouts(o.DisconnectedTimeout, o.FailedTimeout, 2*time.Second)
	// pion's own STUN timeout a little past ours, so that a STUN server that stopped answering
	// always shows as a gathering timeout, which sets off a probe that leaves it out.
	se.SetSTUNGatherTimeout(o.GatherTimeout + time.Second)
	if o.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(uint16(o.UDPPortMin), uint16(o.UDPPortMax)); err != nil {
			return nil, fmt.Errorf("%w: UDP port range: %w", ErrBadOptions, err)
		}
	}
	if len(o.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(pion.ICEAddressRewriteRule{
			External:        append([]string(nil), o.PublicIPs...),
			AsCandidateType: pion.ICECandidateTypeHost,
			Mode:            pion.ICEAddressRewriteReplace,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: public IPs: %w", ErrBadOptions, err)
		}
	}
	if o.LoopbackOnly {
		isLoopback4 := func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil }
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(isLoopback4)
		se.SetRemoteIPFilter(isLoopback4)
		// mDNS would query the LAN for .local candidates.
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	// With only WithMediaEngine, NewAPI registers pion's default interceptors on our engine.
	return pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)), nil
}

// slogFactory routes pion's logging to slog: everything at debug, pion's errors (mostly peers
// going away) as warnings.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) logf(level slog.Level, format string, args []any) {
	// Formatting only when enabled: pion logs per packet at trace and debug.
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l slogLogger) Trace(string)                      {}
func (l slogLogger) Tracef(string, ...any)             {}
func (l slogLogger) Debug(msg string)                  { l.log.Debug(msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args) }
func (l slogLogger) Info(msg string)                   { l.log.Debug(msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l slogLogger) Warn(msg string)                   { l.log.Debug(msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l slogLogger) Error(msg string)                  { l.log.Warn(msg) }
func (l slogLogger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args) }
