package config

import (
	"errors"
	"reflect"
	"testing"
)

func TestCameraLookup(t *testing.T) {
	c := mustParse(t, `{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/a"}, {"id": "b", "url": "rtsp://h/b"}]}`)
	cam, i := c.Camera("b")
	if cam == nil || i != 1 || cam.URL != "rtsp://h/b" {
		t.Fatalf("Camera(b) = %v, %d", cam, i)
	}
	cam.Name = "renamed" // aliases the slice
	if c.Cameras[1].Name != "renamed" {
		t.Error("Camera does not point into Cameras")
	}
	if cam, i := c.Camera("zz"); cam != nil || i != -1 {
		t.Errorf("Camera(zz) = %v, %d", cam, i)
	}
}

func TestApplyCameraDefaults(t *testing.T) {
	f, l := false, 0
	tests := []struct {
		name string
		in   Camera
		want Camera
	}{
		{"empty", Camera{ID: "x", URL: "rtsp://h"},
			Camera{ID: "x", Name: "x", URL: "rtsp://h", Enabled: ptr(true), Transport: "tcp", LatencyMS: ptr(200)}},
		{"explicit values kept", Camera{ID: "x", Name: "X", Enabled: &f, Transport: "udp", LatencyMS: &l},
			Camera{ID: "x", Name: "X", Enabled: ptr(false), Transport: "udp", LatencyMS: ptr(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cam := tt.in
			ApplyCameraDefaults(&cam)
			if !reflect.DeepEqual(cam, tt.want) {
				t.Errorf("got %+v, want %+v", cam, tt.want)
			}
		})
	}
	ApplyCameraDefaults(nil) // must not panic
}

func ptr[T any](v T) *T { return &v }

func TestValidateCamera(t *testing.T) {
	others := []Camera{{ID: "cam1", URL: "rtsp://h/1"}, {ID: "cam2", URL: "rtsp://h/2"}}
	for i := range others {
		ApplyCameraDefaults(&others[i])
	}
	good := Camera{ID: "cam3", URL: "rtsp://u:p@h/3"}
	ApplyCameraDefaults(&good)
	tests := []struct {
		name  string
		cam   Camera
		index int
		want  string
	}{
		{"addition", good, 2, ""},
		{"replace itself", others[1], 1, ""},
		{"duplicate on add", Camera{ID: "cam2", URL: "rtsp://h/x", Transport: "tcp"}, 2,
			`cameras[2].id: duplicate of cameras[1].id "cam2"`},
		{"duplicate on replace", Camera{ID: "cam1", URL: "rtsp://h/x", Transport: "tcp"}, 1,
			`cameras[1].id: duplicate of cameras[0].id "cam1"`},
		{"all problems", Camera{ID: "-x", URL: "rtsp://admin:secret@:554/x", Transport: "", LatencyMS: ptr(-5)}, 7,
			`cameras[7].id: must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, got "-x"` + "\n" +
				`cameras[7].url: must have a host` + "\n" +
				`cameras[7].transport: must be one of tcp|udp|auto, got ""` + "\n" +
				`cameras[7].latency_ms: must be between 0 and 10000, got -5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCamera(tt.cam, tt.index, others)
			if tt.want == "" {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("errors.Is(err, ErrInvalid) = false")
			}
		})
	}
}

func TestParseCamera(t *testing.T) {
	cam, err := ParseCamera([]byte(`{"id": "gate", "url": "rtsp://h/g", "latency_ms": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Camera{ID: "gate", Name: "gate", URL: "rtsp://h/g", Enabled: ptr(true), Transport: "tcp", LatencyMS: ptr(0)}
	if !reflect.DeepEqual(cam, want) {
		t.Errorf("got %+v, want %+v", cam, want)
	}
	_, err = ParseCamera([]byte(`{"id": "gate", "uri": "rtsp://h/g", "enabled": 1}`))
	wantErr := `uri: unknown field (did you mean "url"?) (line 1, column 16)` + "\n" +
		`enabled: expected true or false, got number (line 1, column 48)`
	if err == nil || err.Error() != wantErr {
		t.Errorf("error:\n%v\nwant:\n%s", err, wantErr)
	}
	if _, err := ParseCamera([]byte(`{"id": `)); !errors.Is(err, ErrSyntax) {
		t.Errorf("error %v, want ErrSyntax", err)
	}
}

func TestCloneAndRedacted(t *testing.T) {
	c := mustParse(t, `{"server": {"token": "tok", "cors_origins": ["*"]}, "inference": {"model": "m"},
		"webrtc": {"ice_servers": [{"urls": ["turn:t"], "username": "u", "credential": "cred"}]},
		"cameras": [{"id": "a", "url": "rtsp://admin:hunter2@h/a", "latency_ms": 5}]}`)
	cl := c.Clone()
	if !reflect.DeepEqual(c, cl) {
		t.Fatal("Clone differs")
	}
	*cl.Cameras[0].LatencyMS = 9
	*cl.Cameras[0].Enabled = false
	cl.Server.CORSOrigins[0] = "http://x"
	cl.WebRTC.ICEServers[0].URLs[0] = "stun:x"
	if *c.Cameras[0].LatencyMS != 5 || !*c.Cameras[0].Enabled || c.Server.CORSOrigins[0] != "*" || c.WebRTC.ICEServers[0].URLs[0] != "turn:t" {
		t.Error("Clone shares memory with the original")
	}

	r := c.Redacted()
	checkFields(t, []fieldCheck{
		{"Token", r.Server.Token, "***"},
		{"Credential", r.WebRTC.ICEServers[0].Credential, "***"},
		{"Username", r.WebRTC.ICEServers[0].Username, "u"},
		{"URL", r.Cameras[0].URL, "rtsp://admin:***@h/a"},
		{"original token", c.Server.Token, "tok"},
		{"original URL", c.Cameras[0].URL, "rtsp://admin:hunter2@h/a"},
	})
	var nilCfg *Config
	if nilCfg.Clone() != nil || nilCfg.Redacted() != nil {
		t.Error("nil Clone/Redacted not nil")
	}
}
