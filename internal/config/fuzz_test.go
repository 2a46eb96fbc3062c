package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, fails only with ErrSyntax or ErrInvalid,
// and a config that parses re-marshals to a document that parses back equal.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"inference": {"model": "m"}}`,
		`{"inference": {"model": "./a/../m.onnx", "labels": "l", "onnxruntime_library": "/x/../lib.so"}}`,
		`{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://u:p@h:554/x", "enabled": false, "latency_ms": 0}]}`,
		`{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h"}, {"id": "a", "url": "rtsp://h"}]}`,
		`{"inference": {"model": "m", "confidence": 1e-300}, "server": {"cors_origins": []}}`,
		`{"inference": {"model": "m"}, "webrtc": {"ice_servers": [{"urls": ["turn:x"], "username": "u", "credential": "c"}]}}`,
		`{"inference": {"model": "m"}, "server": {"token": "\u00e9<&>"}}`,
		`{"log_level": null, "inference": {"model": "m"}, "cameras": null}`,
		`{"inference": {"model": "m"}, "Inference": {}}`,
		`{"inference": {"model": "m"}, "tracking": {}, "cameras": [{"id": "a", "url": "rtsp://h", "zones": [], "lines": [{"name": "l", "points": [[0, 0], [1, 1]], "classes": [], "directions": []}]}]}`,
		`{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h", "zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [0, 1]], "classes": []}]}]}`,
		`{"inference": {"model": "m"}} {}`,
		`[1, {"a": [}]`,
		`{"inference": {"model": 1e999}}`,
		"\ufeff{}",
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, testBase)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error matches neither ErrSyntax nor ErrInvalid: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse(out, testBase)
		if err != nil {
			t.Fatalf("re-parse of saved form failed: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("re-parsed config differs:\n%+v\n%+v\n%s", c, again, out)
		}
		out2, err := Marshal(again)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("second Marshal differs (%v):\n%s\n%s", err, out, out2)
		}
	})
}

// FuzzRedactURL: a password never survives RedactURL, nor RedactString when
// the URL sits in a sentence.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"hunter2", "p@ss", "pa/ss", "a?b#c", "x@y/z@w", "::::", "%40%3A", "rtsp://x", "pa ss"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		raw := "rtsp://admin:" + pw + "@cam.local:554/stream"
		redacted := RedactURL(raw)
		if len(pw) >= 3 && !strings.Contains("rtsp://admin:***@cam.local:554/stream", pw) && strings.Contains(redacted, pw) {
			t.Fatalf("RedactURL(%q) = %q leaks the password", raw, redacted)
		}
		if strings.ContainsAny(pw, " \t\n\r\v\f\"'`<>") {
			return // would end the URL inside free text
		}
		msg := "error: " + raw + " failed"
		redacted = RedactString(msg)
		if len(pw) >= 3 && !strings.Contains("error: rtsp://admin:***@cam.local:554/stream failed", pw) && strings.Contains(redacted, pw) {
			t.Fatalf("RedactString(%q) = %q leaks the password", msg, redacted)
		}
	})
}
