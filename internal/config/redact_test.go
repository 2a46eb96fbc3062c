package config

import "testing"

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rtsp://user:pass@host:554/p", "rtsp://user:***@host:554/p"},
		{"rtsps://admin:hunter2@10.0.0.5/Streaming/Channels/101?transport=tcp", "rtsps://admin:***@10.0.0.5/Streaming/Channels/101?transport=tcp"},
		{"rtsp://user@host/p", "rtsp://user@host/p"},
		{"rtsp://host:554/p", "rtsp://host:554/p"},
		{"rtsp://:pass@host/p", "rtsp://:***@host/p"},
		{"rtsp://user:@host/p", "rtsp://user:***@host/p"},
		{"rtsp://user:p%40ss@host/p", "rtsp://user:***@host/p"},
		{"rtsp://user:p@ss@host/p", "rtsp://user:***@host/p"},
		{"rtsp://user:p:a:ss@[::1]:8554/p", "rtsp://user:***@[::1]:8554/p"},
		// Unparsable: the password holds '/', '?' or '#'.
		{"rtsp://admin:pa/ss@host:554/p", "rtsp://admin:***@host:554/p"},
		{"rtsp://admin:pa?ss@host/p", "rtsp://admin:***@host/p"},
		{"rtsp://admin:pa#ss@host/p", "rtsp://admin:***@host/p"},
		{"rtsp://admin:a/b@c/d@host/p", "rtsp://admin:***@host/p"},
		{"rtsp://a/b:c@host", "rtsp://***@host"},
		// '@' in the path of a URL without credentials is left alone.
		{"rtsp://host/stream@1", "rtsp://host/stream@1"},
		{"rtsp://[::1]:554/a?x=b@c", "rtsp://[::1]:554/a?x=b@c"},
		// With a port, "host:554/a@b" cannot be told from "user:554/pass@b".
		{"rtsp://host:554/a?x=b@c", "rtsp://host:***@c"},
		{"rtsp://user:1234/56@host/p", "rtsp://user:***@host/p"},
		{"rtsp://host/x:y@z", "rtsp://***@z"},
		{"rtsp://[fe80::1%25eth0]:554/a@b", "rtsp://[fe80::1%25eth0]:554/a@b"},
		// Credentials and an '@' in the path: hidden, host included (safe side).
		{"rtsp://u:p@host/a@b", "rtsp://u:***@b"},
		// No scheme, odd shapes.
		{"user:pass@host:554", "user:***@host:554"},
		{"user:pass@host//x", "user:***@host//x"},
		{"rtsp:user:pass@host", "rtsp:***@host"},
		{"", ""},
		{"not a url", "not a url"},
		{"mailto:someone@example.com", "mailto:***@example.com"},
		{"http://example.com", "http://example.com"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no urls here", "no urls here"},
		{"Could not open resource for reading: rtsp://admin:hunter2@10.0.0.5:554/live (Generic error)",
			"Could not open resource for reading: rtsp://admin:***@10.0.0.5:554/live (Generic error)"},
		{`location="rtsps://u:p@cam/x" latency=200`, `location="rtsps://u:***@cam/x" latency=200`},
		{"two: rtsp://a:b@h1/x, rtsp://c:d@h2/y.", "two: rtsp://a:***@h1/x, rtsp://c:***@h2/y."},
		{"RTSP://A:B@H/x", "RTSP://A:***@H/x"},
		{"rtspt://u:pw@h/x and http://u:pw@h/", "rtspt://u:***@h/x and http://u:***@h/"},
		{"<rtsp://u:pw@h/x>", "<rtsp://u:***@h/x>"},
		{"uri=rtsp://u:pw@h/x\nnext line", "uri=rtsp://u:***@h/x\nnext line"},
		{"'rtsp://u:pa/ss@h:554/x'", "'rtsp://u:***@h:554/x'"},
		{"weird ://u:pw@h", "weird ://u:***@h"},
		{"9rtsp://u:pw@h", "9rtsp://u:***@h"},
		{"rtsp://user@host/x", "rtsp://user@host/x"},
	}
	for _, tt := range tests {
		if got := RedactString(tt.in); got != tt.want {
			t.Errorf("RedactString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
