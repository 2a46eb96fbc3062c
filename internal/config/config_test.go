package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const testBase = "/srv/gstvision"

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc), testBase)
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return c
}

type fieldCheck struct {
	name      string
	got, want any
}

// deref is *p, or nil when p is nil: for comparing optional fields with plain values.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func checkFields(t *testing.T, checks []fieldCheck) {
	t.Helper()
	for _, fc := range checks {
		if !reflect.DeepEqual(fc.got, fc.want) {
			t.Errorf("%s = %#v, want %#v", fc.name, fc.got, fc.want)
		}
	}
}

func TestParseMinimalAppliesDefaults(t *testing.T) {
	c := mustParse(t, `{"inference": {"model": "models/blocks.onnx"}}`)
	checkFields(t, []fieldCheck{
		{"LogLevel", c.LogLevel, "info"},
		{"LogFormat", c.LogFormat, "text"},
		{"Device", c.Device, "cpu"},
		{"Server.Listen", c.Server.Listen, ":8080"},
		{"Server.Token", c.Server.Token, ""},
		{"Server.CORSOrigins", c.Server.CORSOrigins, []string{}}, // the server's own origin only
		{"Server.MaxBodyBytes", c.Server.MaxBodyBytes, int64(1048576)},
		{"Inference.Model", c.Inference.Model, "/srv/gstvision/models/blocks.onnx"},
		{"Inference.Labels", c.Inference.Labels, ""},
		{"Inference.Confidence", c.Inference.Confidence, 0.25},
		{"Inference.NMSIoU", c.Inference.NMSIoU, 0.45},
		{"Inference.EveryNFrames", c.Inference.EveryNFrames, 1},
		{"Inference.ONNXRuntimeLibrary", c.Inference.ONNXRuntimeLibrary, ""},
		{"Processing.EnableDecoupledPipeline", c.Processing.EnableDecoupledPipeline, (*bool)(nil)},
		{"Processing.MaxBatch", c.Processing.MaxBatch, (*int)(nil)},
		{"Processing.CUDAGraph", c.Processing.CUDAGraph, (*bool)(nil)},
		{"Processing.MaxWaitMS", c.Processing.MaxWaitMS, 10},
		{"Processing.QueueFrames", c.Processing.QueueFrames, 4},
		{"Processing.StatsEveryFrames", c.Processing.StatsEveryFrames, 100},
		{"Processing.GPUMemoryWarnMB", c.Processing.GPUMemoryWarnMB, 0},
		{"WebRTC.MaxWidth", c.WebRTC.MaxWidth, 1280},
		{"WebRTC.Encoder", c.WebRTC.Encoder, "auto"},
		{"WebRTC.BitrateKbps", c.WebRTC.BitrateKbps, 2000},
		{"WebRTC.ICEServers", c.WebRTC.ICEServers, []ICEServer{}},
		{"WebRTC.UDPPortMin", c.WebRTC.UDPPortMin, 0},
		{"WebRTC.UDPPortMax", c.WebRTC.UDPPortMax, 0},
		{"Debug.GSTDebug", c.Debug.GSTDebug, ""},
		{"Debug.DumpDotDir", c.Debug.DumpDotDir, ""},
		{"Debug.Pprof", c.Debug.Pprof, false},
		{"Cameras", c.Cameras, []Camera{}},
		{"DecoupledMode", c.DecoupledMode(), "unified"},
		{"Path", c.Path(), ""},
		{"EnvOverrides", c.EnvOverrides(), []EnvOverride(nil)},
	})
}

func TestParseCameraDefaults(t *testing.T) {
	c := mustParse(t, `{"inference": {"model": "m.onnx"}, "cameras": [
		{"id": "cam1", "url": "rtsp://127.0.0.1:8554/cam1"},
		{"id": "cam2", "name": "", "url": "rtsp://h/x", "enabled": null, "transport": "", "latency_ms": null},
		{"id": "cam3", "name": "Gate", "url": "rtsps://h/x", "enabled": false, "transport": "auto", "latency_ms": 0}
	]}`)
	checkFields(t, []fieldCheck{
		{"cam1.Name", c.Cameras[0].Name, "cam1"},
		{"cam1.Enabled", *c.Cameras[0].Enabled, true},
		{"cam1.Transport", c.Cameras[0].Transport, "tcp"},
		{"cam1.LatencyMS", *c.Cameras[0].LatencyMS, 200},
		{"cam1.IsEnabled", c.Cameras[0].IsEnabled(), true},
		{"cam1.Latency", c.Cameras[0].Latency().String(), "200ms"},
		{"cam2.Name", c.Cameras[1].Name, "cam2"},
		{"cam2.Enabled", *c.Cameras[1].Enabled, true},
		{"cam2.Transport", c.Cameras[1].Transport, "tcp"},
		{"cam2.LatencyMS", *c.Cameras[1].LatencyMS, 200},
		{"cam3.Name", c.Cameras[2].Name, "Gate"},
		{"cam3.Enabled", *c.Cameras[2].Enabled, false},
		{"cam3.IsEnabled", c.Cameras[2].IsEnabled(), false},
		{"cam3.Transport", c.Cameras[2].Transport, "auto"},
		{"cam3.LatencyMS", *c.Cameras[2].LatencyMS, 0},
		{"cam3.Latency", c.Cameras[2].Latency().String(), "0s"},
	})
}

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, testBase)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	f, tr := false, true
	zero, five := 0, 500
	checkFields(t, []fieldCheck{
		{"LogLevel", c.LogLevel, "debug"},
		{"LogFormat", c.LogFormat, "json"},
		{"Device", c.Device, "cuda"},
		{"Server", c.Server, Server{Listen: "127.0.0.1:9090", Token: "s3cret-token",
			CORSOrigins: []string{"https://ops.example.com", "http://localhost:5173"}, MaxBodyBytes: 2097152}},
		{"Inference", c.Inference, Inference{
			Model:              "/srv/gstvision/models/blocks.onnx",
			Labels:             "/srv/gstvision/models/blocks.labels",
			Confidence:         0.4,
			NMSIoU:             0.5,
			EveryNFrames:       2,
			ONNXRuntimeLibrary: "/opt/onnxruntime/lib/libonnxruntime.so.1",
		}},
		{"Processing", c.Processing, Processing{EnableDecoupledPipeline: ptr(true), MaxBatch: ptr(16), MaxWaitMS: 0,
			QueueFrames: 8, StatsEveryFrames: 250, GPUMemoryWarnMB: 6144}},
		{"WebRTC", c.WebRTC, WebRTC{MaxWidth: 1920, Encoder: "nvh264enc", BitrateKbps: 4000, View: "annotated",
			ICEServers: []ICEServer{
				{URLs: []string{"stun:stun.l.google.com:19302"}},
				{URLs: []string{"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"},
					Username: "viewer", Credential: "turn-pass"},
			},
			UDPPortMin: 50000, UDPPortMax: 50100}},
		{"Debug", c.Debug, Debug{GSTDebug: "rtspsrc:4,*:2", DumpDotDir: "/tmp/gstvision-dot", Pprof: true}},
		{"Cameras", c.Cameras, []Camera{
			{ID: "cam1", Name: "Loading dock", URL: "rtsp://admin:hunter2@192.168.1.10:554/Streaming/Channels/101",
				Enabled: &tr, Transport: "tcp", LatencyMS: &zero},
			{ID: "yard_2", Name: "yard_2", URL: "rtsps://cam.example.com/live?channel=1&subtype=0",
				Enabled: &f, Transport: "udp", LatencyMS: &five},
		}},
		{"DecoupledMode", c.DecoupledMode(), "decoupled"},
	})

	// full.json is in canonical form: Marshal gives it back byte for byte,
	// relative paths as written, '&' not escaped.
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(data) {
		t.Errorf("Marshal(Parse(full.json)) differs from full.json:\n%s", out)
	}
}

func TestParseZeroCamerasAndNulls(t *testing.T) {
	c := mustParse(t, `{"log_level": null, "server": {"cors_origins": null, "max_body_bytes": null},
		"inference": {"model": "/abs/m.onnx"}, "webrtc": {"ice_servers": null}, "cameras": null}`)
	checkFields(t, []fieldCheck{
		{"LogLevel", c.LogLevel, "info"},
		{"CORSOrigins", c.Server.CORSOrigins, []string{}},
		{"MaxBodyBytes", c.Server.MaxBodyBytes, int64(1 << 20)},
		{"Model", c.Inference.Model, "/abs/m.onnx"},
		{"ICEServers", c.WebRTC.ICEServers, []ICEServer{}},
		{"Cameras", c.Cameras, []Camera{}},
	})
	// An explicit empty list of origins is kept: the server's own origin only.
	c = mustParse(t, `{"server": {"cors_origins": []}, "inference": {"model": "m"}, "cameras": []}`)
	checkFields(t, []fieldCheck{{"CORSOrigins", c.Server.CORSOrigins, []string{}}})
	// Empty strings mean the default.
	c = mustParse(t, `{"log_level": "", "device": "", "server": {"listen": ""}, "webrtc": {"encoder": ""}, "inference": {"model": "m"}}`)
	checkFields(t, []fieldCheck{
		{"LogLevel", c.LogLevel, "info"},
		{"Device", c.Device, "cpu"},
		{"Listen", c.Server.Listen, ":8080"},
		{"Encoder", c.WebRTC.Encoder, "auto"},
	})
}

func TestParseAcceptsEdgeValues(t *testing.T) {
	for _, doc := range []string{
		`{"inference": {"model": "m", "confidence": 1, "nms_iou": 1e-9}}`,
		`{"inference": {"model": "m"}, "processing": {"max_batch": 1, "max_wait_ms": 0, "queue_frames": 1}}`,
		`{"inference": {"model": "m"}, "processing": {"max_batch": 256, "max_wait_ms": 1000, "queue_frames": 64}}`,
		`{"inference": {"model": "m"}, "processing": {"batch_sets": 16}}`,
		`{"device": "cuda", "inference": {"model": "m"}, "processing": {"ENABLE_DECOUPLED_PIPELINE": true, "cuda_graph": true}}`,
		`{"inference": {"model": "m"}, "server": {"listen": "[::1]:0", "max_body_bytes": 1024}}`,
		`{"inference": {"model": "m"}, "server": {"listen": "0.0.0.0:65535", "max_body_bytes": 67108864}}`,
		`{"inference": {"model": "m"}, "webrtc": {"max_width": 160, "bitrate_kbps": 100, "udp_port_min": 1, "udp_port_max": 1}}`,
		`{"inference": {"model": "m"}, "webrtc": {"max_width": 7680, "bitrate_kbps": 50000, "udp_port_min": 1, "udp_port_max": 65535}}`,
		`{"inference": {"model": "m"}, "cameras": [{"id": "A", "url": "rtsp://[::1]:8554/x", "latency_ms": 10000}]}`,
		`{"inference": {"model": "m"}, "cameras": [{"id": "` + strings.Repeat("a", 64) + `", "url": "RTSP://h"}]}`,
		"\ufeff" + `{"inference": {"model": "m"}}`,
	} {
		if _, err := Parse([]byte(doc), testBase); err != nil {
			t.Errorf("Parse(%s): %v", doc, err)
		}
	}
}

// Each bad config with the exact, complete message.
func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"log level", `{"log_level": "verbose", "inference": {"model": "m"}}`,
			`log_level: must be one of debug|info|warn|error, got "verbose"`},
		{"log format", `{"log_format": "xml", "inference": {"model": "m"}}`,
			`log_format: must be one of text|json, got "xml"`},
		{"device", `{"device": "gpu", "inference": {"model": "m"}}`,
			`device: must be one of cpu|cuda, got "gpu"`},
		{"listen no port", `{"server": {"listen": "8080"}, "inference": {"model": "m"}}`,
			`server.listen: must be host:port (e.g. ":8080" or "127.0.0.1:8080"), got "8080"`},
		{"listen port range", `{"server": {"listen": ":99999"}, "inference": {"model": "m"}}`,
			`server.listen: port must be a number between 0 and 65535, got "99999"`},
		{"listen port name", `{"server": {"listen": "localhost:http"}, "inference": {"model": "m"}}`,
			`server.listen: port must be a number between 0 and 65535, got "http"`},
		{"token whitespace", `{"server": {"token": "ab cd"}, "inference": {"model": "m"}}`,
			`server.token: must not contain whitespace or control characters`},
		{"cors", `{"server": {"cors_origins": ["*", "ftp://x", "http://x/", "https://x:8443", "http://u@x", "", "x.com", "http://x:0", "https://u:pw@x"]}, "inference": {"model": "m"}}`,
			`server.cors_origins[1]: must be "*" or an http(s)://host[:port] origin, got "ftp://x"` + "\n" +
				`server.cors_origins[2]: must be "*" or an http(s)://host[:port] origin, got "http://x/"` + "\n" +
				`server.cors_origins[4]: must be "*" or an http(s)://host[:port] origin, got "http://u@x"` + "\n" +
				`server.cors_origins[5]: must be "*" or an http(s)://host[:port] origin, got ""` + "\n" +
				`server.cors_origins[6]: must be "*" or an http(s)://host[:port] origin, got "x.com"` + "\n" +
				`server.cors_origins[7]: must be "*" or an http(s)://host[:port] origin, got "http://x:0"` + "\n" +
				`server.cors_origins[8]: must be "*" or an http(s)://host[:port] origin, got "https://u:***@x"`},
		{"max body small", `{"server": {"max_body_bytes": 1023}, "inference": {"model": "m"}}`,
			`server.max_body_bytes: must be between 1024 and 67108864, got 1023`},
		{"max body large", `{"server": {"max_body_bytes": 67108865}, "inference": {"model": "m"}}`,
			`server.max_body_bytes: must be between 1024 and 67108864, got 67108865`},
		{"model absent", `{}`, `inference.model: required`},
		{"model empty", `{"inference": {"model": " "}}`, `inference.model: required`},
		{"confidence zero", `{"inference": {"model": "m", "confidence": 0}}`,
			`inference.confidence: must be in (0, 1], got 0`},
		{"confidence big", `{"inference": {"model": "m", "confidence": 1.5}}`,
			`inference.confidence: must be in (0, 1], got 1.5`},
		{"nms negative", `{"inference": {"model": "m", "nms_iou": -0.1}}`,
			`inference.nms_iou: must be in (0, 1], got -0.1`},
		{"every n", `{"inference": {"model": "m", "every_n_frames": 0}}`,
			`inference.every_n_frames: must be at least 1, got 0`},
		{"max batch zero", `{"inference": {"model": "m"}, "processing": {"max_batch": 0}}`,
			`processing.max_batch: must be between 1 and 256, got 0`},
		{"max batch big", `{"inference": {"model": "m"}, "processing": {"max_batch": 257}}`,
			`processing.max_batch: must be between 1 and 256, got 257`},
		{"max wait", `{"inference": {"model": "m"}, "processing": {"max_wait_ms": -1}}`,
			`processing.max_wait_ms: must be between 0 and 1000, got -1`},
		{"queue frames", `{"inference": {"model": "m"}, "processing": {"queue_frames": 65}}`,
			`processing.queue_frames: must be between 1 and 64, got 65`},
		{"batch sets", `{"inference": {"model": "m"}, "processing": {"batch_sets": -1}}`,
			`processing.batch_sets: must be between 0 and 16, got -1`},
		{"cuda graph", `{"inference": {"model": "m"}, "processing": {"cuda_graph": true}}`,
			`processing.cuda_graph: needs "device": "cuda", got "cpu"`},
		{"cuda graph in unified mode", `{"device": "cuda", "inference": {"model": "m"}, "processing": {"cuda_graph": true, "ENABLE_DECOUPLED_PIPELINE": false}}`,
			`processing.cuda_graph: applies to the decoupled stage only: set processing.ENABLE_DECOUPLED_PIPELINE to true, or leave it out`},
		{"gpus on cpu", `{"gpus": [0], "inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/x", "gpu": 0}]}`,
			`gpus: needs "device": "cuda", got "cpu"` + "\n" +
				`cameras[0].gpu: needs "device": "cuda", got "cpu"`},
		{"gpus repeated or negative", `{"device": "cuda", "gpus": [0, -1, 0], "inference": {"model": "m"}}`,
			`gpus[1]: must be a CUDA device ordinal (0 or more), got -1` + "\n" +
				`gpus[2]: GPU 0 is listed twice`},
		{"camera gpu not in gpus", `{"device": "cuda", "gpus": [0, 1], "inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/x", "gpu": 2}, {"id": "b", "url": "rtsp://h/y", "gpu": -1}]}`,
			`cameras[0].gpu: GPU 2 is not in gpus [0 1]` + "\n" +
				`cameras[1].gpu: must be at least 0, got -1`},
		{"stats every", `{"inference": {"model": "m"}, "processing": {"stats_every_frames": 0}}`,
			`processing.stats_every_frames: must be at least 1, got 0`},
		{"gpu warn", `{"inference": {"model": "m"}, "processing": {"gpu_memory_warn_mb": -1}}`,
			`processing.gpu_memory_warn_mb: must be at least 0, got -1`},
		{"max width", `{"inference": {"model": "m"}, "webrtc": {"max_width": 159}}`,
			`webrtc.max_width: must be between 160 and 7680, got 159`},
		{"encoder", `{"inference": {"model": "m"}, "webrtc": {"encoder": "vaapih264enc"}}`,
			`webrtc.encoder: must be one of auto|nvh264enc|x264enc, got "vaapih264enc"`},
		{"view", `{"inference": {"model": "m"}, "webrtc": {"view": "raw"}}`,
			`webrtc.view: must be one of passthrough|annotated, got "raw"`},
		{"bitrate", `{"inference": {"model": "m"}, "webrtc": {"bitrate_kbps": 50001}}`,
			`webrtc.bitrate_kbps: must be between 100 and 50000, got 50001`},
		{"ice servers", `{"inference": {"model": "m"}, "webrtc": {"ice_servers": [
				{"urls": []},
				{"urls": ["stun:ok.example.com", "http://x", "stun:", "STUN:x", "stun:a b", "http://u:pw@x"]},
				{"urls": ["turn:t.example.com"], "username": "u"}]}}`,
			`webrtc.ice_servers[0].urls: must list at least one URL` + "\n" +
				`webrtc.ice_servers[1].urls[1]: must start with stun:, stuns:, turn: or turns:, got "http://x"` + "\n" +
				`webrtc.ice_servers[1].urls[2]: must name a host after the scheme, got "stun:"` + "\n" +
				`webrtc.ice_servers[1].urls[3]: must start with stun:, stuns:, turn: or turns:, got "STUN:x"` + "\n" +
				`webrtc.ice_servers[1].urls[4]: must not contain whitespace or control characters` + "\n" +
				`webrtc.ice_servers[1].urls[5]: must start with stun:, stuns:, turn: or turns:, got "http://u:***@x"` + "\n" +
				`webrtc.ice_servers[2]: turn: and turns: URLs need a username and a credential`},
		{"udp only min", `{"inference": {"model": "m"}, "webrtc": {"udp_port_min": 5000}}`,
			`webrtc.udp_port_max: must be set when webrtc.udp_port_min is set`},
		{"udp only max", `{"inference": {"model": "m"}, "webrtc": {"udp_port_max": 5000}}`,
			`webrtc.udp_port_min: must be set when webrtc.udp_port_max is set`},
		{"udp order", `{"inference": {"model": "m"}, "webrtc": {"udp_port_min": 50000, "udp_port_max": 40000}}`,
			`webrtc.udp_port_max: must be at least webrtc.udp_port_min (50000), got 40000`},
		{"udp range", `{"inference": {"model": "m"}, "webrtc": {"udp_port_min": -1, "udp_port_max": 70000}}`,
			`webrtc.udp_port_min: must be between 1 and 65535, or 0 for any, got -1` + "\n" +
				`webrtc.udp_port_max: must be between 1 and 65535, or 0 for any, got 70000`},
		{"camera id missing", `{"inference": {"model": "m"}, "cameras": [{"url": "rtsp://h/x"}]}`,
			`cameras[0].id: required`},
		{"camera id bad", `{"inference": {"model": "m"}, "cameras": [{"id": "_cam", "url": "rtsp://h/x"}, {"id": "cam 2", "url": "rtsp://h/x"}, {"id": "` + strings.Repeat("a", 65) + `", "url": "rtsp://h/x"}]}`,
			`cameras[0].id: must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, got "_cam"` + "\n" +
				`cameras[1].id: must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, got "cam 2"` + "\n" +
				`cameras[2].id: must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, got "` + strings.Repeat("a", 64) + `"...`},
		{"camera url missing", `{"inference": {"model": "m"}, "cameras": [{"id": "c"}]}`,
			`cameras[0].url: required`},
		{"camera url scheme", `{"inference": {"model": "m"}, "cameras": [{"id": "c0", "url": "rtsp://h/x"}, {"id": "c1", "url": "http://admin:pw@h/x"}]}`,
			`cameras[1].url: scheme must be rtsp or rtsps, got "http"`},
		{"camera url no scheme", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "cam.local/stream"}]}`,
			`cameras[0].url: scheme must be rtsp or rtsps, got ""`},
		{"camera url no host", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp:///stream"}, {"id": "d", "url": "rtsp://user:pw@:554/x"}]}`,
			`cameras[0].url: must have a host` + "\n" + `cameras[1].url: must have a host`},
		{"camera url port", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://u:pw@h:0/x"}, {"id": "d", "url": "rtsp://h:70000/x"}]}`,
			`cameras[0].url: port must be between 1 and 65535, got "0"` + "\n" +
				`cameras[1].url: port must be between 1 and 65535, got "70000"`},
		{"camera url unparsable hides password", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://admin:pa/ss@h:554/x"}, {"id": "d", "url": "rtsp://admin:p%zz@h/x"}]}`,
			`cameras[0].url: not a valid URL: "rtsp://admin:***@h:554/x"` + "\n" +
				`cameras[1].url: not a valid URL: "rtsp://admin:***@h/x"`},
		{"camera url whitespace", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://h/a b"}]}`,
			`cameras[0].url: must not contain whitespace or control characters`},
		{"camera transport", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://h/x", "transport": "quic"}]}`,
			`cameras[0].transport: must be one of tcp|udp|auto, got "quic"`},
		{"camera latency", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://h/x", "latency_ms": -1}, {"id": "d", "url": "rtsp://h/x", "latency_ms": 10001}]}`,
			`cameras[0].latency_ms: must be between 0 and 10000, got -1` + "\n" +
				`cameras[1].latency_ms: must be between 0 and 10000, got 10001`},
		{"duplicate ids", `{"inference": {"model": "m"}, "cameras": [
				{"id": "cam1", "url": "rtsp://h/1"}, {"id": "cam2", "url": "rtsp://h/2"},
				{"id": "cam1", "url": "rtsp://h/3"}, {"id": "cam2", "url": "rtsp://h/4"}, {"id": "cam1", "url": "rtsp://h/5"}]}`,
			`cameras[2].id: duplicate of cameras[0].id "cam1"` + "\n" +
				`cameras[3].id: duplicate of cameras[1].id "cam2"` + "\n" +
				`cameras[4].id: duplicate of cameras[0].id "cam1"`},
		{"many problems in field order", `{"device": "tpu", "log_level": "loud", "inference": {"confidence": 2}, "processing": {"max_batch": 0}, "cameras": [{"id": "a", "url": "http://h"}, {"id": "a", "url": "rtsp://h"}]}`,
			`log_level: must be one of debug|info|warn|error, got "loud"` + "\n" +
				`device: must be one of cpu|cuda, got "tpu"` + "\n" +
				`inference.model: required` + "\n" +
				`inference.confidence: must be in (0, 1], got 2` + "\n" +
				`processing.max_batch: must be between 1 and 256, got 0` + "\n" +
				`cameras[0].url: scheme must be rtsp or rtsps, got "http"` + "\n" +
				`cameras[1].id: duplicate of cameras[0].id "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), testBase)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with its error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrSyntax) {
				t.Errorf("errors.Is(err, ErrInvalid) = %v, errors.Is(err, ErrSyntax) = %v; want true, false",
					errors.Is(err, ErrInvalid), errors.Is(err, ErrSyntax))
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != strings.Count(tt.want, "\n")+1 {
				t.Errorf("errors.As(*ValidationError) = %v with %d errors", ve != nil, len(ve.Errors))
			}
			if msg := err.Error(); strings.Contains(msg, "pw") || strings.Contains(msg, "pa/ss") || strings.Contains(msg, "p%zz") {
				t.Errorf("error leaks a password: %v", err)
			}
		})
	}
}

// Decoding problems: unknown, duplicate and mistyped fields, with their
// positions, alongside the validation problems of the other fields.
func TestParseDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"unknown top-level field", `{"inference": {"model": "m"}, "logging": "x"}`,
			`logging: unknown field (line 1, column 31)`},
		{"unknown nested fields", "{\n  \"inference\": {\"model\": \"m\", \"treshold\": 0.5},\n  \"server\": {\"Listen\": \":80\"}\n}",
			"inference.treshold: unknown field (line 2, column 31)\n" +
				`server.Listen: unknown field (did you mean "listen"?) (line 3, column 14)`},
		{"unknown camera field", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://h", "latency": 5}]}`,
			`cameras[0].latency: unknown field (did you mean "latency_ms"?) (line 1, column 74)`},
		{"duplicate field", `{"log_level": "debug", "inference": {"model": "m"}, "log_level": "warn"}`,
			`log_level: duplicate field (line 1, column 53)`},
		{"wrong types", `{"inference": {"model": 5, "confidence": "high"}, "processing": {"max_batch": "8", "ENABLE_DECOUPLED_PIPELINE": "yes", "queue_frames": 2.5}}`,
			`inference.model: expected a string, got number (line 1, column 25)` + "\n" +
				`inference.confidence: expected a number, got string (line 1, column 42)` + "\n" +
				`processing.max_batch: expected an integer, got string (line 1, column 79)` + "\n" +
				`processing.ENABLE_DECOUPLED_PIPELINE: expected true or false, got string (line 1, column 113)` + "\n" +
				`processing.queue_frames: expected an integer, got 2.5 (line 1, column 136)`},
		{"wrong composite types", `{"inference": {"model": "m"}, "server": [], "cameras": {"id": "x"}, "webrtc": {"ice_servers": [{"urls": "stun:x"}]}}`,
			`server: expected an object, got array (line 1, column 41)` + "\n" +
				`cameras: expected an array, got object (line 1, column 56)` + "\n" +
				`webrtc.ice_servers[0].urls: expected an array, got string (line 1, column 105)`},
		{"bad camera element", `{"inference": {"model": "m"}, "cameras": [{"id": "c", "url": "rtsp://h"}, "rtsp://x", {"id": "d", "enabled": "no", "url": "rtsp://h"}]}`,
			`cameras[1]: expected an object, got string (line 1, column 75)` + "\n" +
				`cameras[2].enabled: expected true or false, got string (line 1, column 110)`},
		{"integer out of range", `{"inference": {"model": "m"}, "server": {"max_body_bytes": 1e3, "listen": ":1"}, "processing": {"max_batch": 99999999999999999999}}`,
			`server.max_body_bytes: expected an integer, got 1e3 (line 1, column 60)` + "\n" +
				`processing.max_batch: integer out of range, got 99999999999999999999 (line 1, column 110)`},
		{"float out of range", `{"inference": {"model": "m", "nms_iou": 1e999}}`,
			`inference.nms_iou: number out of range, got 1e999 (line 1, column 41)`},
		{"decode and validation problems together", "{\n  \"log_level\": \"loud\",\n  \"inference\": {\"modle\": \"m\"}\n}",
			"inference.modle: unknown field (did you mean \"model\"?) (line 3, column 17)\n" +
				`log_level: must be one of debug|info|warn|error, got "loud"` + "\n" +
				`inference.model: required`},
		{"columns count characters", `{"cameras": [{"name": "Café ☕", "bad": 1}], "inference": {"model": "m"}}`,
			`cameras[0].bad: unknown field (line 1, column 33)` + "\n" +
				`cameras[0].id: required` + "\n" + `cameras[0].url: required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), testBase)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false")
			}
		})
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		line, col int
		msg       string
	}{
		{"trailing comma", "{\n  \"log_level\": \"info\",\n}", 3, 1,
			"invalid character '}' looking for beginning of object key string"},
		{"missing comma", "{\n  \"log_level\": \"info\"\n  \"device\": \"cpu\"\n}", 3, 3,
			"invalid character '\"' after object key:value pair"},
		{"bad literal", "{\"server\": {\n\t\"listen\": tru\n}}", 2, 15,
			"invalid character '\\n' in literal true (expecting 'e')"},
		{"truncated", "{\n  \"inference\": {\"model\": \"m\"", 2, 29,
			"unexpected end of JSON input"},
		{"trailing data", "{\"inference\": {\"model\": \"m\"}}\n{}", 2, 1,
			"invalid character '{' after top-level value"},
		{"trailing garbage", `{"inference": {"model": "m"}} x`, 1, 31,
			"invalid character 'x' after top-level value"},
		{"top-level array", ` [{"inference": {"model": "m"}}]`, 1, 2,
			"expected a JSON object at the top level, got array"},
		{"top-level null", `null`, 1, 1, "expected a JSON object at the top level, got null"},
		{"empty", ``, 1, 1, "empty document, expected a JSON object"},
		{"blank", "\n\n  ", 3, 3, "empty document, expected a JSON object"},
		{"column in characters", `{"name": "ééé" x}`, 1, 16,
			"invalid character 'x' after object key:value pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), testBase)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want *SyntaxError", err, err)
			}
			if se.Line != tt.line || se.Column != tt.col || se.Msg != tt.msg {
				t.Errorf("got line %d, column %d, %q; want line %d, column %d, %q",
					se.Line, se.Column, se.Msg, tt.line, tt.col, tt.msg)
			}
			want := "line " + strconv.Itoa(tt.line) + ", column " + strconv.Itoa(tt.col) + ": " + tt.msg
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if !errors.Is(err, ErrSyntax) || errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is: ErrSyntax %v, ErrInvalid %v", errors.Is(err, ErrSyntax), errors.Is(err, ErrInvalid))
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	writeFile(t, path, `{"inference": {"model": "models/m.onnx", "labels": "../shared/labels.txt", "onnxruntime_library": "/usr/lib/libonnxruntime.so.1"}}`)
	c, err := LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, []fieldCheck{
		{"Model", c.Inference.Model, filepath.Join(dir, "models", "m.onnx")},
		{"Labels", c.Inference.Labels, filepath.Join(filepath.Dir(dir), "shared", "labels.txt")},
		{"ONNXRuntimeLibrary", c.Inference.ONNXRuntimeLibrary, "/usr/lib/libonnxruntime.so.1"},
		{"Path", c.Path(), path},
	})

	// Relative config path: paths resolve against its directory, not the
	// working directory.
	t.Chdir(dir)
	c, err = LoadWithEnv("config.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Inference.Model != filepath.Join(dir, "models", "m.onnx") {
		t.Errorf("Model = %q", c.Inference.Model)
	}

	// Parse with no base directory resolves against the working directory.
	c = mustParseBase(t, `{"inference": {"model": "m.onnx"}}`, "")
	if c.Inference.Model != filepath.Join(dir, "m.onnx") {
		t.Errorf("Model = %q", c.Inference.Model)
	}
}

func mustParseBase(t *testing.T, doc, base string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc), base)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadWithEnv(filepath.Join(dir, "missing.json"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}

	one := filepath.Join(dir, "one.json")
	writeFile(t, one, `{"inference": {"model": "m", "confidence": 1.5}}`)
	_, err = LoadWithEnv(one, nil)
	want := "config " + one + ": inference.confidence: must be in (0, 1], got 1.5"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}

	many := filepath.Join(dir, "many.json")
	writeFile(t, many, "{\n  \"devcie\": \"cuda\",\n  \"inference\": {\"model\": \"m\", \"confidence\": 1.5}\n}")
	_, err = LoadWithEnv(many, nil)
	want = "config " + many + ": 2 problems:\n" +
		"devcie: unknown field (did you mean \"device\"?) (line 2, column 3)\n" +
		"inference.confidence: must be in (0, 1], got 1.5"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Errorf("wrapped error does not match *ValidationError / ErrInvalid")
	}

	syntax := filepath.Join(dir, "syntax.json")
	writeFile(t, syntax, "{\n  \"device\": \"cuda\",,\n}")
	_, err = LoadWithEnv(syntax, nil)
	want = "config " + syntax + ": line 2, column 20: invalid character ',' looking for beginning of object key string"
	if err == nil || err.Error() != want || !errors.Is(err, ErrSyntax) {
		t.Errorf("error %v, want %s", err, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseTestdata(t *testing.T) {
	c, err := LoadWithEnv("testdata/minimal.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata/models/blocks.onnx")
	if c.Inference.Model != abs {
		t.Errorf("Model = %q, want %q", c.Inference.Model, abs)
	}
}
