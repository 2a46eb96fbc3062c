package config

import "strings"

// RedactURL hides the password of a URL:
// "rtsp://user:pass@host:554/p" becomes "rtsp://user:***@host:554/p". A URL
// without a password is returned unchanged; everything but the password is
// kept byte for byte. It works on the text, not on a parsed URL, so that
// malformed input cannot leak either: when it is unclear where the
// credentials end (an unescaped '/', '?' or '#' before the last '@'),
// everything from the first ':' after "//" up to the last '@' is hidden,
// unless the URL plainly has no credentials ("rtsp://host/stream@1").
func RedactURL(raw string) string {
	start := 0
	if i := strings.Index(raw, "//"); i >= 0 && !strings.Contains(raw[:i], "@") {
		start = i + 2
	}
	rest := raw[start:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw
	}
	sep := strings.IndexAny(rest, "/?#")
	if sep < 0 || at < sep {
		// The usual case: every '@' lies within the authority.
		userinfo := rest[:at]
		colon := strings.IndexByte(userinfo, ':')
		if colon < 0 {
			return raw // a user name alone
		}
		return raw[:start] + userinfo[:colon] + ":" + RedactedSecret + rest[at:]
	}
	// An '@' after a '/', '?' or '#'. When the authority is a plain host
	// (no port: "user:1234/5@host" would look like host:port) and no ':'
	// comes before that '@', the '@' belongs to the path or query.
	if isPlainHost(rest[:sep]) && !strings.Contains(rest[sep:at], ":") {
		return raw
	}
	// Otherwise the password may itself hold '/', '?', '#' or '@'.
	if colon := strings.IndexByte(rest, ':'); colon >= 0 && colon < sep && !strings.Contains(rest[:colon], "@") {
		return raw[:start] + rest[:colon] + ":" + RedactedSecret + rest[at:]
	}
	return raw[:start] + RedactedSecret + rest[at:]
}

// isPlainHost reports whether s is a host name or IPv4 address without a
// port, or a bracketed IPv6 address with or without one.
func isPlainHost(s string) bool {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 2 || strings.Trim(s[1:end], "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:.%-_") != "" {
			return false
		}
		port := s[end+1:]
		return port == "" || (len(port) > 1 && port[0] == ':' && strings.Trim(port[1:], "0123456789") == "")
	}
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// RedactString hides the passwords of the URLs found in free text, such as
// a GStreamer error message that embeds a camera's location. A URL is taken
// to start at "scheme://" and to run to the next whitespace, quote or angle
// bracket; each goes through RedactURL. Any scheme is covered, rtsp, rtsps,
// rtspt, http and so on.
func RedactString(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		// A scheme starts with a letter.
		for start < i && !isLetter(s[start]) {
			start++
		}
		end := i + 3
		for end < len(s) && !isURLEnd(s[end]) {
			end++
		}
		b.WriteString(s[:start])
		b.WriteString(RedactURL(s[start:end]))
		s = s[end:]
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isSchemeByte reports whether c may appear in a URL scheme.
func isSchemeByte(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

func isURLEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}
