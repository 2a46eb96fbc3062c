//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/test"
)

// TestServeMQTT: gstvision serve with an mqtt section publishes, to a real Mosquitto, the
// scripted scene's events on gstvision/cam1/events (QoS 1, the /api/events JSON), the
// camera's retained availability, the zone's retained occupancy and Home Assistant discovery
// for the zone; /metrics counts what went out.
func TestServeMQTT(t *testing.T) {
	broker := startMosquitto(t)
	sub := subscribeAll(t, broker)

	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: 1, Listen: "127.0.0.1:0", Script: simulate.EventsScript()})
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := eventsConfig(t, false, 1, sim.URL(1))
	cfg.MQTT.URL = "mqtt://" + broker
	_, base, stop := runApp(t, cfg, testLogger(t))

	zone := groundtruth.EventsZones()[0].Name
	var crossed, entered defs.Event
	test.WaitUntil(t, 90*time.Second, "a line_crossed and a zone_entered event over MQTT", func() bool {
		for _, m := range sub.on("gstvision/cam1/events") {
			var ev defs.Event
			if err := json.Unmarshal(m.payload, &ev); err != nil {
				t.Fatalf("event %s: %v", m.payload, err)
			}
			if m.qos != 1 {
				t.Fatalf("event at QoS %d, want 1", m.qos)
			}
			switch ev.Type {
			case defs.EventLineCrossed:
				crossed = ev
			case defs.EventZoneEntered:
				entered = ev
			}
		}
		return crossed.ID != 0 && entered.ID != 0
	})
	// Event latency (BENCHMARKS.md; not asserted): from the frame's analysis (the event's ts)
	// to the subscriber.
	var lat []time.Duration
	for _, m := range sub.on("gstvision/cam1/events") {
		var ev defs.Event
		if json.Unmarshal(m.payload, &ev) == nil {
			lat = append(lat, m.at.Sub(ev.Time))
		}
	}
	slices.Sort(lat)
	t.Logf("event latency, analysis to MQTT subscriber, %d events: p50 %v, p95 %v, max %v", len(lat),
		lat[len(lat)/2], lat[len(lat)*95/100], lat[len(lat)-1])
	if crossed.Camera != "cam1" || crossed.TrackID == 0 || crossed.Line == "" || crossed.Direction == "" {
		t.Errorf("line_crossed event %+v lacks camera, track, line or direction", crossed)
	}
	if entered.Zone != zone || entered.Occupancy == nil {
		t.Errorf("zone_entered event %+v: want zone %q with its occupancy", entered, zone)
	}
	// The same event, by ID, is in /api/events.
	resp, err := http.Get(fmt.Sprintf("%s/api/events?camera=cam1&type=line_crossed&limit=1000", base))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), fmt.Sprintf(`"id":%d,`, crossed.ID)) {
		t.Errorf("/api/events lacks the MQTT event %d: %.300s", crossed.ID, body)
	}

	// Retained messages reach a subscriber that arrives later, flagged retained (a live
	// subscriber sees them unflagged).
	late := subscribeAll(t, broker)
	// The broker sends the retained messages in no set order: wait for all three kinds
	// before judging any of them.
	var avail, state *mqttMessage
	var disc struct {
		Name, UniqueID, StateTopic, DeviceClass string
		Device                                  struct{ Identifiers []string }
	}
	found := false
	retainedArrived := func() bool {
		avail, state = late.last("gstvision/cam1/availability"), late.last("gstvision/cam1/zones/"+zone)
		found = false
		for _, m := range late.all() {
			if !strings.HasPrefix(m.topic, "homeassistant/binary_sensor/") || !strings.HasSuffix(m.topic, "/config") || len(m.payload) == 0 {
				continue
			}
			var raw map[string]any
			if err := json.Unmarshal(m.payload, &raw); err != nil {
				t.Fatalf("discovery %s: %v", m.topic, err)
			}
			b, _ := json.Marshal(map[string]any{"Name": raw["name"], "UniqueID": raw["unique_id"], "StateTopic": raw["state_topic"],
				"DeviceClass": raw["device_class"], "Device": raw["device"]})
			_ = json.Unmarshal(b, &disc)
			found = m.retained && disc.DeviceClass == "occupancy" && disc.UniqueID != "" &&
				strings.HasPrefix(disc.StateTopic, "gstvision/cam1/zones/") && len(disc.Device.Identifiers) > 0
			if found {
				break
			}
		}
		return avail != nil && state != nil && found
	}
	for deadline := time.Now().Add(10 * time.Second); !retainedArrived() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if avail == nil || string(avail.payload) != "online" || !avail.retained {
		t.Errorf("cam1 availability: %+v, want a retained online", avail)
	}
	if state == nil || !state.retained || !strings.Contains(string(state.payload), `"occupied"`) {
		t.Errorf("zone %s state: %+v, want retained occupancy", zone, state)
	}
	if !found {
		t.Errorf("no retained Home Assistant occupancy binary_sensor for cam1's zone (last one read: %+v)", disc)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "gstvision_mqtt_published_total") {
		t.Error("/metrics has no gstvision_mqtt_published_total")
	}

	stop()
	test.WaitUntil(t, 10*time.Second, "the bridge's offline at shutdown", func() bool {
		m := sub.last("gstvision/availability")
		return m != nil && string(m.payload) == "offline"
	})
}

// mqttMessage is one message the test's subscriber got.
type mqttMessage struct {
	topic    string
	payload  []byte
	qos      byte
	retained bool
	at       time.Time // arrival
}

type mqttRecorder struct {
	mu   sync.Mutex
	msgs []mqttMessage
}

func (r *mqttRecorder) all() []mqttMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mqttMessage(nil), r.msgs...)
}

func (r *mqttRecorder) on(topic string) []mqttMessage {
	var out []mqttMessage
	for _, m := range r.all() {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

func (r *mqttRecorder) last(topic string) *mqttMessage {
	ms := r.on(topic)
	if len(ms) == 0 {
		return nil
	}
	return &ms[len(ms)-1]
}

// subscribeAll records every message on the broker at host:port (QoS 2 subscription, so each
// arrives at the QoS it was published with).
func subscribeAll(t *testing.T, broker string) *mqttRecorder {
	t.Helper()
	r := &mqttRecorder{}
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(fmt.Sprintf("e2e-sub-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe("#", 2, func(_ paho.Client, m paho.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, mqttMessage{topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), qos: m.Qos(),
			retained: m.Retained(), at: time.Now()})
		r.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return r
}

// startMosquitto runs Debian's mosquitto (make test installs it) on a free loopback port and
// returns host:port.
func startMosquitto(t *testing.T) string {
	t.Helper()
	if os.Getenv("GSTVISION_SKIP_MQTT") == "1" {
		t.Skip("GSTVISION_SKIP_MQTT=1")
	}
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Fatalf("mosquitto not found (make test installs it: scripts/install-deps.sh --with-browser): %v", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &test.LogBuffer{}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("mosquitto: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	test.WaitUntil(t, 20*time.Second, "mosquitto listening", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}
