package whepclient

import (
	"slices"
	"strings"
)

// dropCodec removes the payload types of codec name (e.g. "H265") from an SDP's video m-line,
// with their retransmission types and attribute lines. The peer connection keeps its own
// local description: the server only ever sees the offer without them.
func dropCodec(sdp, name string) string {
	lines := strings.Split(sdp, "\r\n")
	drop := map[string]bool{}
	for _, l := range lines {
		if pt, enc, ok := strings.Cut(strings.TrimPrefix(l, "a=rtpmap:"), " "); ok && l != pt &&
			strings.HasPrefix(strings.ToUpper(enc), strings.ToUpper(name)+"/") {
			drop[pt] = true
		}
	}
	for _, l := range lines { // rtx of a dropped type: a=fmtp:N apt=PT
		if pt, params, ok := strings.Cut(strings.TrimPrefix(l, "a=fmtp:"), " "); ok && l != pt &&
			strings.HasPrefix(params, "apt=") && drop[strings.TrimPrefix(params, "apt=")] {
			drop[pt] = true
		}
	}
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "m=video ") {
			f := strings.Fields(l) // m=video PORT PROTO PT...
			if len(f) > 3 {
				l = strings.Join(append(f[:3:3], slices.DeleteFunc(f[3:], func(s string) bool { return drop[s] })...), " ")
			}
		}
		dropped := false
		for _, p := range []string{"a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"} {
			if rest, ok := strings.CutPrefix(l, p); ok {
				pt, _, _ := strings.Cut(rest, " ")
				dropped = drop[pt]
			}
		}
		if !dropped {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n")
}
