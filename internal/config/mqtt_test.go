package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMQTT(t *testing.T) {
	c := mustParse(t, `{"inference": {"model": "m"}, "mqtt": {
		"url": "mqtts://broker.lan:8883", "client_id": "gv1", "topic_prefix": "home/gv",
		"username": "gv", "password": "pw", "detections_per_second": 2.5, "discovery": false,
		"discovery_prefix": "ha", "queue_size": 50,
		"tls": {"ca_file": "/etc/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem", "insecure_skip_verify": true}}}`)
	want := MQTT{URL: "mqtts://broker.lan:8883", ClientID: "gv1", TopicPrefix: "home/gv", Username: "gv", Password: "pw",
		DetectionsPerSecond: 2.5, Discovery: c.MQTT.Discovery, DiscoveryPrefix: "ha", QueueSize: 50,
		TLS: MQTTTLS{CAFile: "/etc/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", InsecureSkipVerify: true}}
	if c.MQTT != want || c.MQTT.DiscoveryEnabled() {
		t.Errorf("mqtt = %#v", c.MQTT)
	}

	// Absent: MQTT off, every default resolved by Effective, not stored.
	c = mustParse(t, `{"inference": {"model": "m"}}`)
	if c.MQTT.Enabled() || !c.MQTT.DiscoveryEnabled() || c.MQTT != (MQTT{}) {
		t.Errorf("absent mqtt = %#v", c.MQTT)
	}
	e := MQTT{URL: "mqtt://b"}.Effective("my.host:name")
	if e.ClientID != "gstvision-myhostname" || e.TopicPrefix != "gstvision" || e.DiscoveryPrefix != "homeassistant" ||
		e.QueueSize != DefaultMQTTQueueSize || e.Discovery == nil || !*e.Discovery {
		t.Errorf("Effective = %#v", e)
	}
}

func TestParseMQTTInvalid(t *testing.T) {
	tests := []struct{ mqtt, want string }{
		{`{"url": "http://broker"}`, `mqtt.url: scheme must be mqtt or mqtts, got "http"`},
		{`{"url": "mqtt://"}`, `mqtt.url: must have a host, as in mqtt://broker.lan:1883`},
		{`{"url": "broker:1883"}`, `mqtt.url: scheme must be mqtt or mqtts, got "broker"`},
		{`{"url": "mqtt://broker:0"}`, `mqtt.url: port must be between 1 and 65535, got "0"`},
		{`{"url": "mqtt://broker:"}`, `mqtt.url: port must be between 1 and 65535, got ""`},
		{`{"url": "mqtt://broker/x"}`, `mqtt.url: must be mqtt[s]://host[:port] without a path, query or fragment, got "mqtt://broker/x"`},
		{`{"url": "mqtt://u:topsecret@broker"}`, `mqtt.url: must not carry credentials: use mqtt.username and mqtt.password`},
		{`{"url": "mqtt://b r"}`, `mqtt.url: must not contain whitespace or control characters`},
		{`{"url": "mqtt://b", "client_id": "a b"}`, `mqtt.client_id: must not contain whitespace or control characters`},
		{`{"url": "mqtt://b", "topic_prefix": "a/+/b"}`, `mqtt.topic_prefix: must not contain the MQTT wildcards '+' or '#', got "a/+/b"`},
		{`{"url": "mqtt://b", "topic_prefix": "/a"}`, `mqtt.topic_prefix: must be topic levels separated by single '/', without a leading or trailing '/', got "/a"`},
		{`{"url": "mqtt://b", "discovery_prefix": "$SYS"}`, `mqtt.discovery_prefix: must not start with '$' (reserved for the broker), got "$SYS"`},
		{`{"url": "mqtt://b", "password": "topsecret"}`, `mqtt.password: needs mqtt.username`},
		{`{"url": "mqtt://b", "tls": {"insecure_skip_verify": true}}`, `mqtt.tls: applies to mqtts:// URLs only, got scheme "mqtt"`},
		{`{"url": "mqtts://b", "tls": {"key_file": "k"}}`, `mqtt.tls.cert_file: required with mqtt.tls.key_file`},
		{`{"url": "mqtt://b", "detections_per_second": -1}`, `mqtt.detections_per_second: must be between 0 (off) and 30, got -1`},
		{`{"url": "mqtt://b", "queue_size": -1}`, `mqtt.queue_size: must be between 0 and 1000000, got -1`},
		{`{"url": "mqtt://b", "qos": 1}`, `mqtt.qos: unknown field`},
		{`{"url": 1883}`, `mqtt.url: expected a string, got number`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(`{"inference": {"model": "m"}, "mqtt": `+tt.mqtt+`}`), testBase)
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("mqtt %s:\n got %v\nwant %s", tt.mqtt, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "topsecret") {
			t.Errorf("mqtt %s: the error shows the password: %v", tt.mqtt, err)
		}
	}
	// The same checks, on the section alone.
	if err := ValidateMQTT(MQTT{URL: "tcp://b"}); !errors.Is(err, ErrInvalid) ||
		err.Error() != `mqtt.url: scheme must be mqtt or mqtts, got "tcp"` {
		t.Errorf("ValidateMQTT = %v", err)
	}
	if err := ValidateMQTT(MQTT{}); err != nil {
		t.Errorf("ValidateMQTT(off) = %v", err)
	}
}

func TestMQTTPasswordRedacted(t *testing.T) {
	const secret = "topsecret-pw"
	c := mustParse(t, `{"inference": {"model": "m"}, "mqtt": {"url": "mqtt://b", "username": "u", "password": "`+secret+`"}}`)
	r := c.Redacted()
	if r.MQTT.Password != RedactedSecret || c.MQTT.Password != secret {
		t.Errorf("Redacted: %q (original %q)", r.MQTT.Password, c.MQTT.Password)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "mqtt", c.MQTT)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "mqtt", c.MQTT)
	for _, s := range []string{fmt.Sprint(c.MQTT), fmt.Sprintf("%+v", c.MQTT), fmt.Sprintf("%#v", c.MQTT), fmt.Sprintf("%v", *c), logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("password shown: %s", s)
		}
	}
	if !strings.Contains(logs.String(), "mqtt.password=***") || !strings.Contains(logs.String(), "mqtt.username=u") {
		t.Errorf("log line: %s", logs.String())
	}
	// Clone shares no pointer.
	d := true
	m := MQTT{Discovery: &d}
	cl := m.Clone()
	*cl.Discovery = false
	if !*m.Discovery {
		t.Error("Clone shares Discovery")
	}
}

func TestSaveMQTT(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	// A file without mqtt is saved without it.
	if err := os.WriteFile(path, []byte(`{"inference": {"model": "m.onnx"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("mqtt")) {
		t.Errorf("saved file gained an mqtt section:\n%s", data)
	}
	// One with mqtt keeps what was written (the password included) and nothing more.
	c.MQTT = MQTT{URL: "mqtt://b", Username: "u", Password: "pw"}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if !bytes.Contains(data, []byte(`"mqtt": {
    "url": "mqtt://b",
    "username": "u",
    "password": "pw"
  }`)) {
		t.Errorf("saved mqtt section:\n%s", data)
	}
	back, err := Load(path)
	if err != nil || back.MQTT != c.MQTT {
		t.Errorf("reloaded %#v, %v", back.MQTT, err)
	}
}
