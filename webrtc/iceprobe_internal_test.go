package webrtc

import "testing"

// TestRedactURL: what the ICE server warnings show of a URL.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"stun:stun.example.net:3478":                            "stun:stun.example.net:3478",
		"turn:turn.example.net:3478?transport=udp":              "turn:turn.example.net:3478?transport=udp",
		"turns:user:secret@turn.example.net?transport=tcp":      "turns:turn.example.net?transport=tcp",
		"turn:turn.example.net?credential=secret&transport=udp": "turn:turn.example.net?transport=udp",
		"turn:turn.example.net?credential=secret":               "turn:turn.example.net",
		"no scheme": "[unparsable ICE URL]",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
