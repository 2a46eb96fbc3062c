package webrtc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"
)

// sdpFragType is the media type of a WHEP PATCH body (RFC 8840).
const sdpFragType = "application/trickle-ice-sdpfrag"

// sdpFrag is a trickle ICE SDP fragment (RFC 8840) as WHEP clients PATCH it:
//
//	a=ice-ufrag:EsAw
//	a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
//	m=video 9 UDP/TLS/RTP/SAVPF 96
//	a=mid:0
//	a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0
//	a=end-of-candidates
//
// The credentials may also come inside the m= section; other lines are ignored.
type sdpFrag struct {
	ufrag, pwd string
	candidates []fragCandidate
	end        bool // a=end-of-candidates: the client has no more candidates
}

// fragCandidate is one a=candidate line and the a=mid of its m= section.
type fragCandidate struct {
	mid, value string // value without "a=candidate:"
}

// fragParser holds the state of parseSDPFrag between lines.
type fragParser struct {
	frag    sdpFrag
	inMedia bool   // after an m= line
	mid     string // the current m= section's a=mid
	pending []int  // indexes in frag.candidates of the current section's candidates
}

// parseSDPFrag parses a trickle ICE fragment. Its errors wrap ErrBadFragment and name the
// offending line.
func parseSDPFrag(body string) (*sdpFrag, error) {
	if strings.TrimSpace(body) == "" {
		return nil, fmt.Errorf("%w: empty body", ErrBadFragment)
	}
	var p fragParser
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if err := p.line(line); err != nil {
			return nil, fmt.Errorf("%w: line %d %q: %w", ErrBadFragment, i+1, line, err)
		}
	}
	if err := p.endSection(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFragment, err)
	}
	return &p.frag, nil
}

func (p *fragParser) line(line string) error {
	if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
		return errors.New("not an SDP line (want x=value)")
	}
	switch line[0] {
	case 'm':
		if err := p.endSection(); err != nil {
			return err
		}
		if strings.TrimSpace(line[2:]) == "" {
			return errors.New("empty m= line")
		}
		p.inMedia = true
		return nil
	case 'a':
		key, value, _ := strings.Cut(line[2:], ":")
		return p.attribute(key, value)
	}
	return nil // v=, o=, c= and the like say nothing about ICE
}

func (p *fragParser) attribute(key, value string) error {
	switch key {
	case "ice-ufrag":
		return setOnce(&p.frag.ufrag, value, key)
	case "ice-pwd":
		return setOnce(&p.frag.pwd, value, key)
	case "mid":
		if !p.inMedia {
			return errors.New("a=mid outside an m= section")
		}
		return setOnce(&p.mid, value, key)
	case "candidate":
		if !p.inMedia {
			return errors.New("a=candidate outside an m= section")
		}
		if err := checkCandidate(value); err != nil {
			return err
		}
		p.pending = append(p.pending, len(p.frag.candidates))
		p.frag.candidates = append(p.frag.candidates, fragCandidate{value: value})
	case "end-of-candidates":
		p.frag.end = true
	}
	return nil
}

// endSection gives the candidates of the m= section that ends their a=mid.
func (p *fragParser) endSection() error {
	if len(p.pending) > 0 && p.mid == "" {
		return errors.New("an m= section with candidates has no a=mid")
	}
	for _, i := range p.pending {
		p.frag.candidates[i].mid = p.mid
	}
	p.inMedia, p.mid, p.pending = false, "", nil
	return nil
}

// setOnce sets *dst to v, refusing an empty value or a second, different one.
func setOnce(dst *string, v, key string) error {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return fmt.Errorf("empty a=%s", key)
	case *dst != "" && *dst != v:
		return fmt.Errorf("a second, different a=%s", key)
	}
	*dst = v
	return nil
}

// checkCandidate parses a candidate the way pion will, so that a bad one fails the whole PATCH
// before any candidate is added. Candidates pion only discards (unknown type or network) pass.
func checkCandidate(value string) error {
	_, err := ice.UnmarshalCandidate(value)
	if err == nil || errors.Is(err, ice.ErrUnknownCandidateTyp) || errors.Is(err, ice.ErrDetermineNetworkType) {
		return nil
	}
	return fmt.Errorf("bad candidate: %w", err)
}

// matchETag reports whether an If-Match field value (RFC 9110 section 13.1.1: "*" or a list of
// entity tags, compared strongly) matches etag.
func matchETag(ifMatch, etag string) bool {
	for _, tag := range strings.Split(ifMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// remoteICE is what a session keeps of the offer to check and place trickled candidates.
type remoteICE struct {
	ufrag, pwd string
	mids       []string // a=mid of each m= section, by index
}

// parseRemoteICE reads the ICE credentials (session level, else the first m= section's) and the
// a=mid of every m= section of an offer that pion has accepted.
func parseRemoteICE(offer string) (remoteICE, error) {
	parsed, err := (&pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}).Unmarshal()
	if err != nil {
		return remoteICE{}, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	var r remoteICE
	r.ufrag, _ = parsed.Attribute("ice-ufrag")
	r.pwd, _ = parsed.Attribute("ice-pwd")
	for _, md := range parsed.MediaDescriptions {
		if r.ufrag == "" {
			r.ufrag, _ = md.Attribute("ice-ufrag")
			r.pwd, _ = md.Attribute("ice-pwd")
		}
		mid, _ := md.Attribute("mid")
		r.mids = append(r.mids, mid)
	}
	return r, nil
}

// check refuses a fragment that restarts ICE or names an m= section the offer does not have.
func (r remoteICE) check(f *sdpFrag) error {
	if f.ufrag != "" && f.ufrag != r.ufrag {
		return fmt.Errorf("%w (the fragment's a=ice-ufrag differs from the offer's)", ErrICERestart)
	}
	if f.pwd != "" && f.pwd != r.pwd {
		if f.ufrag == "" {
			return fmt.Errorf("%w (the fragment's a=ice-pwd differs from the offer's)", ErrICERestart)
		}
		return fmt.Errorf("%w: a=ice-pwd differs from the offer's for the same a=ice-ufrag", ErrBadFragment)
	}
	for _, c := range f.candidates {
		if r.index(c.mid) < 0 {
			return fmt.Errorf("%w: a=mid:%s names no m= section of the offer", ErrBadFragment, c.mid)
		}
	}
	return nil
}

// index returns the m-line index of mid, or -1.
func (r remoteICE) index(mid string) int {
	for i, m := range r.mids {
		if m == mid {
			return i
		}
	}
	return -1
}

// addCandidates applies a PATCH's fragment to the session: each candidate to the peer
// connection, then the end of candidates. It wraps ErrSessionNotFound once the session has
// closed.
func (s *session) addCandidates(f *sdpFrag) error {
	if err := s.remote.check(f); err != nil {
		return err
	}
	for _, c := range f.candidates {
		mid, index := c.mid, uint16(s.remote.index(c.mid))
		err := s.pc.AddICECandidate(pion.ICECandidateInit{
			Candidate: "candidate:" + c.value, SDPMid: &mid, SDPMLineIndex: &index,
		})
		if err != nil {
			return s.candidateErr(err)
		}
	}
	if f.end {
		// An empty candidate is the end of candidates (pion needs nothing more today).
		if err := s.pc.AddICECandidate(pion.ICECandidateInit{}); err != nil {
			return s.candidateErr(err)
		}
	}
	s.log.Debug("trickled ICE candidates", "candidates", len(f.candidates), "end", f.end)
	return nil
}

// candidateErr explains a failure of AddICECandidate: a closed session is gone (404), anything
// else is the candidate's fault.
func (s *session) candidateErr(err error) error {
	select {
	case <-s.done:
		return fmt.Errorf("%w: %s (closed)", ErrSessionNotFound, s.id)
	default:
		return fmt.Errorf("%w: adding candidate: %w", ErrBadFragment, err)
	}
}
