package webrtc

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"
)

// h264Profile is an H.264 profile as WebRTC negotiates it (the profile classes of libwebrtc's
// h264_profile_level_id): profile_idc and constraint flags together.
type h264Profile int

const (
	profileUnknown h264Profile = iota
	profileConstrainedBaseline
	profileBaseline
	profileMain
	profileConstrainedHigh
	profileHigh
	profilePredictiveHigh444
)

var profileNames = map[h264Profile]string{
	profileUnknown: "unknown", profileConstrainedBaseline: "constrained baseline",
	profileBaseline: "baseline", profileMain: "main", profileConstrainedHigh: "constrained high",
	profileHigh: "high", profilePredictiveHigh444: "high 4:4:4 predictive",
}

func (p h264Profile) String() string { return profileNames[p] }

// decodes reports whether a decoder of profile p decodes every stream of profile q (H.264
// A.2): each profile decodes itself; a baseline, main or high decoder decodes constrained
// baseline; a high decoder decodes main and constrained high; a high 4:4:4 predictive decoder
// decodes everything but baseline, whose FMO and ASO make it no subset of main. (Chromium
// without proprietary codecs offers high 4:4:4 predictive and no high.)
func (p h264Profile) decodes(q h264Profile) bool {
	if p == q {
		return p != profileUnknown
	}
	switch q {
	case profileConstrainedBaseline:
		return p != profileUnknown
	case profileMain, profileConstrainedHigh:
		return p == profileHigh || p == profilePredictiveHigh444
	case profileHigh:
		return p == profilePredictiveHigh444
	}
	return false
}

// rank orders profiles by how much they decode, for an offer entry chosen without the camera's
// SPS: high decodes the most.
func (p h264Profile) rank() int {
	switch p {
	case profilePredictiveHigh444:
		return 6
	case profileHigh:
		return 5
	case profileMain:
		return 4
	case profileConstrainedHigh:
		return 3
	case profileBaseline:
		return 2
	case profileConstrainedBaseline:
		return 1
	}
	return 0
}

// profileLevelID is the three bytes of profile-level-id (RFC 6184 8.1), which are also bytes 1
// to 3 of an SPS NAL unit: profile_idc, the constraint_set flags, level_idc.
type profileLevelID [3]byte

// parseProfileLevelID parses the six hex digits of an fmtp profile-level-id.
func parseProfileLevelID(s string) (profileLevelID, bool) {
	var id profileLevelID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 3 {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// spsProfileLevelID is the profile-level-id of an SPS NAL unit (header byte first).
func spsProfileLevelID(sps []byte) (profileLevelID, bool) {
	var id profileLevelID
	if len(sps) < 4 || sps[0]&0x1f != nalSPS {
		return id, false
	}
	copy(id[:], sps[1:4])
	return id, true
}

func (id profileLevelID) String() string { return hex.EncodeToString(id[:]) }

// profile classifies id as libwebrtc does (profile_idc, then a pattern of the constraint
// flags, the two reserved bits zero); Extended (0x58), High 10, High 4:2:2 and other profiles
// are unknown.
func (id profileLevelID) profile() h264Profile {
	c := id[1]
	if c&0x03 != 0 {
		return profileUnknown
	}
	bit := func(n int) bool { return c&(0x80>>n) != 0 } // constraint_set<n>_flag
	switch id[0] {
	case 0x42:
		if bit(1) {
			return profileConstrainedBaseline
		}
		return profileBaseline
	case 0x4d:
		if bit(0) {
			return profileConstrainedBaseline
		}
		if !bit(2) {
			return profileMain
		}
	case 0x64:
		switch c {
		case 0x00:
			return profileHigh
		case 0x0c:
			return profileConstrainedHigh
		}
	case 0xf4:
		if c == 0x00 {
			return profilePredictiveHigh444
		}
	}
	return profileUnknown
}

// offerCodec is one H.264 or H.265 payload type of an offer's video m-line.
type offerCodec struct {
	pt        uint8
	fmtp      string
	id        profileLevelID // H.264
	mode1     bool           // H.264: packetization-mode=1
	asymmetry bool           // H.264: level-asymmetry-allowed=1
	h265      bool
	ptl       h265PTL // H.265: profile-id, tier-flag, level-id
}

// offerCodecs lists the payload types of codec (H.264 or H.265) of the first video m-line of
// offer, in the offer's order (the browser's preference; a browser lists H.265 only when it
// can decode it). H.264 entries without a profile-level-id are left out.
func offerCodecs(offer string, codec Codec) ([]offerCodec, error) {
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	for _, md := range parsed.MediaDescriptions {
		if md.MediaName.Media != "video" || md.MediaName.Port.Value == 0 {
			continue
		}
		return mediaCodecs(md, string(codec)), nil
	}
	return nil, nil
}

// mediaCodecs lists the payload types of one m-line whose encoding is name (H264 or H265).
// H.264 entries without a profile-level-id are left out.
func mediaCodecs(md *sdp.MediaDescription, name string) []offerCodec {
	match := map[uint8]bool{}
	fmtps := map[uint8]string{}
	for _, a := range md.Attributes {
		pt, rest, ok := strings.Cut(a.Value, " ")
		n, err := strconv.ParseUint(pt, 10, 8)
		if !ok || err != nil {
			continue
		}
		switch a.Key {
		case "rtpmap":
			enc, _, _ := strings.Cut(rest, "/")
			match[uint8(n)] = strings.EqualFold(enc, name)
		case "fmtp":
			fmtps[uint8(n)] = rest
		}
	}
	var out []offerCodec
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil || !match[uint8(n)] {
			continue
		}
		c := offerCodec{pt: uint8(n), fmtp: fmtps[uint8(n)], h265: name == "H265"}
		params := fmtpParams(c.fmtp)
		if c.h265 {
			// RFC 7798 7.1: absent, profile-id is 1 (Main), tier-flag 0, level-id 93 (3.1).
			c.ptl = h265PTL{profile: atoiOr(params["profile-id"], 1), tier: atoiOr(params["tier-flag"], 0),
				level: atoiOr(params["level-id"], 93)}
			out = append(out, c)
			continue
		}
		id, ok := parseProfileLevelID(params["profile-level-id"])
		if !ok {
			continue
		}
		c.id = id
		c.mode1 = params["packetization-mode"] == "1"
		c.asymmetry = params["level-asymmetry-allowed"] == "1"
		out = append(out, c)
	}
	return out
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// H.265 general_profile_idc values (H.265 A.3).
const (
	h265Main   = 1
	h265Main10 = 2
)

// choosePassthroughH265 picks the payload type of offer for an H.265 camera whose SPS states
// cam (known false: no SPS yet, the first entry then). An entry qualifies when its profile
// decodes the camera's (its own, or Main 10 for a Main camera: H.265 A.3.3) at the camera's
// tier or above; an entry of the camera's own profile comes first. Levels are not compared: WebRTC matches H.265 without level-id, which states
// what the receiver decodes best, not a limit the sender must meet. The answer states the
// entry as offered.
func choosePassthroughH265(offer []offerCodec, cam h265PTL, known bool) (passthroughCodec, bool) {
	if !known && len(offer) > 0 {
		return passthroughCodec{offerCodec: offer[0]}, true
	}
	// The camera's own profile first, then one that decodes it; the offer's order breaks ties.
	for _, own := range []bool{true, false} {
		for _, c := range offer {
			decodes := c.ptl.profile == cam.profile || !own && c.ptl.profile == h265Main10 && cam.profile == h265Main
			if decodes && c.ptl.tier >= cam.tier {
				return passthroughCodec{offerCodec: c}, true
			}
		}
	}
	return passthroughCodec{}, false
}

// fmtpParams splits "a=1;b=2" into its parameters, names lower-cased.
func fmtpParams(fmtp string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		out[strings.ToLower(k)] = v
	}
	return out
}

// passthroughCodec is the offer's payload type a passthrough session sends the camera's H.264
// with, and the profile-level-id its answer states.
type passthroughCodec struct {
	offerCodec
	answerID profileLevelID
}

// choosePassthroughCodec picks the payload type of offer for a camera whose SPS has profile-
// level-id cam (ok false: no SPS yet). Only packetization-mode=1 entries qualify: the camera's
// access units go out as FU-A and STAP-A packets, which mode 0 does not allow. The rules, in
// order:
//
//  1. an entry of the camera's own profile: the answer states the camera's profile-level-id,
//     its level too when the entry allows level asymmetry (else the offer's level: RFC 6184
//     lets an answer without asymmetry state no higher level than the offer);
//  2. an entry whose profile decodes the camera's (high for a main camera, say), the one that
//     decodes the least, as the offer states it;
//  3. without an SPS, the entry that decodes the most (high first), as the offer states it.
//
// The offer's order breaks ties. ok is false when no entry decodes the camera's stream, and
// always for a camera of a profile outside the classes above (High 10, say).
func choosePassthroughCodec(offer []offerCodec, cam profileLevelID, known bool) (passthroughCodec, bool) {
	var best *offerCodec
	want := cam.profile()
	better := func(c *offerCodec) bool {
		if best == nil {
			return true
		}
		if known {
			return c.id.profile().rank() < best.id.profile().rank()
		}
		return c.id.profile().rank() > best.id.profile().rank()
	}
	for i := range offer {
		c := &offer[i]
		if !c.mode1 {
			continue
		}
		if known && want != profileUnknown && c.id.profile() == want {
			return passthroughCodec{offerCodec: *c, answerID: answerLevel(*c, cam)}, true
		}
		if known && !c.id.profile().decodes(want) {
			continue
		}
		if c.id.profile() != profileUnknown && better(c) {
			best = c
		}
	}
	if best == nil {
		return passthroughCodec{}, false
	}
	return passthroughCodec{offerCodec: *best, answerID: best.id}, true
}

// answerLevel is the profile-level-id an answer states for an entry of the camera's own
// profile: the camera's, with the offer's level unless the entry allows level asymmetry.
func answerLevel(c offerCodec, cam profileLevelID) profileLevelID {
	id := cam
	if !c.asymmetry {
		id[2] = c.id[2]
	}
	return id
}

// capability is the codec a passthrough session's media engine registers: the offer's entry
// itself, so that pion negotiates exactly it.
func (c passthroughCodec) capability() pion.RTPCodecParameters {
	return pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{
			MimeType: c.mimeType(), ClockRate: 90000, SDPFmtpLine: c.fmtp, RTCPFeedback: h264Feedback,
		},
		PayloadType: pion.PayloadType(c.pt),
	}
}

func (c passthroughCodec) mimeType() string {
	if c.h265 {
		return pion.MimeTypeH265
	}
	return pion.MimeTypeH264
}

// rewriteAnswer replaces the profile-level-id of the chosen payload type's fmtp line in an
// answer by answerID (pion answers with the offer's line).
func (c passthroughCodec) rewriteAnswer(answer string) string {
	if c.answerID == c.id {
		return answer
	}
	prefix := fmt.Sprintf("a=fmtp:%d ", c.pt)
	lines := strings.Split(answer, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = replaceParam(l, "profile-level-id", c.answerID.String())
		}
	}
	return strings.Join(lines, "\r\n")
}

// replaceParam sets the value of fmtp parameter key in an a=fmtp line.
func replaceParam(line, key, value string) string {
	head, params, _ := strings.Cut(line, " ")
	kvs := strings.Split(params, ";")
	for i, kv := range kvs {
		if k, _, _ := strings.Cut(strings.TrimSpace(kv), "="); strings.EqualFold(k, key) {
			kvs[i] = key + "=" + value
		}
	}
	return head + " " + strings.Join(kvs, ";")
}
