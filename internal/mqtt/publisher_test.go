package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/test"
)

// newPublisher starts a publisher on cfg with short retry intervals, logging into logs.
func newPublisher(t *testing.T, cfg config.MQTT, logs *test.LogBuffer) *Publisher {
	t.Helper()
	if logs == nil {
		logs = &test.LogBuffer{}
	}
	p, err := New(cfg, Options{
		Logger:               slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:              "1.2.3-test",
		Hostname:             "testhost",
		ConnectRetryInterval: 200 * time.Millisecond,
		MaxReconnectInterval: time.Second,
		PublishTimeout:       5 * time.Second,
		CloseTimeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func waitConnected(t *testing.T, p *Publisher) {
	t.Helper()
	test.WaitUntil(t, waitLong, "the publisher to connect", func() bool { return p.Stats().Connected })
}

func event(id uint64, typ defs.EventType, camera string) defs.Event {
	return defs.Event{ID: id, Type: typ, Camera: camera, TrackID: 7, Label: "person",
		Time: time.Date(2026, 12, 2, 8, 0, 0, int(id), time.UTC), Frame: 100 + id, Box: [4]float32{1, 2, 3, 4}}
}

// eventIDs decodes the events received on topic, checking each is QoS 1 JSON.
func eventIDs(t *testing.T, s *subscriber, topic string) []uint64 {
	t.Helper()
	var ids []uint64
	for _, m := range s.on(topic) {
		var ev defs.Event
		if err := json.Unmarshal(m.payload, &ev); err != nil {
			t.Fatalf("%s: not an event: %v: %s", topic, err, m.payload)
		}
		if m.qos != 1 {
			t.Errorf("%s: event %d arrived at QoS %d, want 1", topic, ev.ID, m.qos)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestPublishEventsAndOccupancy(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := subscribe(t, b, "gv/#", false, "", "")
	p := newPublisher(t, config.MQTT{URL: b.url(), TopicPrefix: "gv"}, nil)
	waitConnected(t, p)

	p.Publish(event(1, defs.EventObjectAppeared, "door"))
	entered := event(2, defs.EventZoneEntered, "door")
	entered.Zone, entered.Occupancy = "porch", map[string]int{"person": 2}
	p.Publish(entered)
	p.Publish(event(3, defs.EventObjectLost, "door"))

	test.WaitUntil(t, waitLong, "3 events on gv/door/events", func() bool { return len(sub.on("gv/door/events")) >= 3 })
	if ids := eventIDs(t, sub, "gv/door/events"); !slices.Equal(ids, []uint64{1, 2, 3}) {
		t.Fatalf("event IDs = %v, want [1 2 3]", ids)
	}
	var got defs.Event
	m, _ := sub.last("gv/door/events")
	if err := json.Unmarshal(sub.on("gv/door/events")[1].payload, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != defs.EventZoneEntered || got.Zone != "porch" || got.Camera != "door" || got.Occupancy["person"] != 2 {
		t.Errorf("zone event = %+v", got)
	}
	if m.retained {
		t.Error("events must not be retained")
	}

	// The zone event updated the zone's retained state.
	test.WaitUntil(t, waitLong, "the porch state", func() bool { _, ok := sub.last("gv/door/zones/porch"); return ok })
	zm, _ := sub.last("gv/door/zones/porch")
	var zs zoneState
	if err := json.Unmarshal(zm.payload, &zs); err != nil {
		t.Fatalf("zone state %s: %v", zm.payload, err)
	}
	if zs.Total != 2 || !zs.Occupied || zs.Counts["person"] != 2 {
		t.Errorf("zone state = %s", zm.payload)
	}
	p.SetOccupancy("door", "porch", map[string]int{"person": 0})
	test.WaitUntil(t, waitLong, "the porch to empty", func() bool {
		m, _ := sub.last("gv/door/zones/porch")
		return string(m.payload) == `{"total":0,"occupied":false,"counts":{"person":0}}`
	})

	st := p.Stats()
	if st.Dropped != 0 || st.Published < 5 || st.Connects != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestAvailabilityRetained(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	p := newPublisher(t, config.MQTT{URL: b.url()}, nil)
	waitConnected(t, p)
	p.SetAvailability("door", true)
	p.SetAvailability("yard", false)
	test.WaitUntil(t, waitLong, "the retained state to go out", func() bool { return p.pending() == 0 })

	// A client that subscribes afterwards gets them, retained.
	late := subscribe(t, b, "gstvision/#", false, "", "")
	want := map[string]string{
		"gstvision/availability":      "online",
		"gstvision/door/availability": "online",
		"gstvision/yard/availability": "offline",
	}
	test.WaitUntil(t, waitLong, "the retained availability", func() bool {
		for topic := range want {
			if _, ok := late.last(topic); !ok {
				return false
			}
		}
		return true
	})
	for topic, v := range want {
		m, _ := late.last(topic)
		if string(m.payload) != v || !m.retained || m.qos != 1 {
			t.Errorf("%s = %q retained=%v qos=%d, want %q retained at QoS 1", topic, m.payload, m.retained, m.qos, v)
		}
	}

	// A clean stop says offline itself.
	p.Close()
	test.WaitUntil(t, waitLong, "the bridge to go offline", func() bool {
		m, _ := late.last("gstvision/availability")
		return string(m.payload) == "offline"
	})
	p.Publish(event(1, defs.EventObjectAppeared, "door")) // after Close: counted, not sent
	if d := p.Stats().Dropped; d != 1 {
		t.Errorf("dropped after Close = %d, want 1", d)
	}
}

func TestLastWillOnCrash(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := subscribe(t, b, "gstvision/availability", false, "", "")
	px := startProxy(t, b.addr())
	p := newPublisher(t, config.MQTT{URL: "mqtt://" + px.addr()}, nil)
	waitConnected(t, p)
	test.WaitUntil(t, waitLong, "online", func() bool {
		m, _ := sub.last("gstvision/availability")
		return string(m.payload) == "online"
	})
	// A crash, as the broker sees it: the connection breaks without a DISCONNECT.
	px.cut()
	// The publisher may be back (and online) before this looks: find the offline in between.
	test.WaitUntil(t, waitLong, "the Will (offline)", func() bool {
		for _, m := range sub.on("gstvision/availability") {
			if string(m.payload) == "offline" {
				return true
			}
		}
		return false
	})
	// The publisher reconnects through the proxy and says online again.
	test.WaitUntil(t, waitLong, "online after the reconnection", func() bool {
		m, _ := sub.last("gstvision/availability")
		return string(m.payload) == "online" && p.Stats().Connects >= 2
	})
}

func TestDiscovery(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := subscribe(t, b, "homeassistant/#", false, "", "")
	p := newPublisher(t, config.MQTT{URL: b.url(), TopicPrefix: "gv"}, nil)
	waitConnected(t, p)
	p.SetCameras([]CameraInfo{
		{ID: "door", Name: "Front door", Zones: []ZoneInfo{
			{Name: "porch", Classes: []string{"person", "car"}},
			{Name: "drive way"},
		}},
		{ID: "yard"}, // no zones, no entities
	})
	occTopic := "homeassistant/binary_sensor/gv-door/zone-porch-occupancy/config"
	wantTopics := []string{
		occTopic,
		"homeassistant/sensor/gv-door/zone-porch-count/config",
		"homeassistant/sensor/gv-door/zone-porch-count-person/config",
		"homeassistant/sensor/gv-door/zone-porch-count-car/config",
	}
	test.WaitUntil(t, waitLong, "the discovery configs", func() bool {
		for _, topic := range wantTopics {
			if _, ok := sub.last(topic); !ok {
				return false
			}
		}
		return true
	})

	var e map[string]any
	m, _ := sub.last(occTopic)
	if err := json.Unmarshal(m.payload, &e); err != nil {
		t.Fatalf("%s: %v: %s", occTopic, err, m.payload)
	}
	if m.qos != 1 {
		t.Errorf("discovery QoS %d, want 1", m.qos)
	}
	for _, f := range []string{"name", "unique_id", "state_topic", "value_template", "device", "availability", "payload_on", "payload_off", "origin"} {
		if _, ok := e[f]; !ok {
			t.Errorf("%s lacks %q: %s", occTopic, f, m.payload)
		}
	}
	if e["device_class"] != "occupancy" || e["state_topic"] != "gv/door/zones/porch" || e["availability_mode"] != "all" ||
		e["unique_id"] != "gv-door-zone-porch-occupancy" || e["name"] != "porch occupancy" {
		t.Errorf("occupancy config: %s", m.payload)
	}
	dev, _ := e["device"].(map[string]any)
	if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "gv-door" ||
		dev["name"] != "Front door" || dev["manufacturer"] != "gstvision" || dev["sw_version"] != "1.2.3-test" || dev["model"] == "" {
		t.Errorf("device: %v", dev)
	}
	av, _ := e["availability"].([]any)
	var avTopics []string
	for _, a := range av {
		am, _ := a.(map[string]any)
		avTopics = append(avTopics, am["topic"].(string))
	}
	if !slices.Equal(avTopics, []string{"gv/availability", "gv/door/availability"}) {
		t.Errorf("availability topics %v", avTopics)
	}
	// The zone with a space in its name gets a safe, unique object id.
	var spaced []string
	for _, r := range sub.all() {
		if strings.Contains(r.topic, "zone-drive_way_") {
			spaced = append(spaced, r.topic)
		}
	}
	if len(spaced) != 2 {
		t.Errorf("discovery topics of zone %q: %v", "drive way", spaced)
	}
	for _, topic := range wantTopics[1:] {
		m, _ := sub.last(topic)
		var s map[string]any
		if err := json.Unmarshal(m.payload, &s); err != nil || s["state_topic"] != "gv/door/zones/porch" || s["state_class"] != "measurement" {
			t.Errorf("%s: %s", topic, m.payload)
		}
	}
	if m, _ := sub.last(wantTopics[2]); !strings.Contains(string(m.payload), `value_json.counts[\"person\"] | default(0)`) {
		t.Errorf("person count template: %s", m.payload)
	}

	// The porch goes: its configs are deleted (empty retained payload), the drive way's stay.
	p.SetCameras([]CameraInfo{{ID: "door", Name: "Front door", Zones: []ZoneInfo{{Name: "drive way"}}}})
	test.WaitUntil(t, waitLong, "the porch configs deleted", func() bool {
		for _, topic := range wantTopics {
			if m, _ := sub.last(topic); len(m.payload) != 0 {
				return false
			}
		}
		return true
	})
	for _, topic := range spaced {
		if m, _ := sub.last(topic); len(m.payload) == 0 {
			t.Errorf("%s deleted, want kept", topic)
		}
	}
	p.Close()

	// A later run that no longer has the drive way deletes what the earlier one left.
	p2 := newPublisher(t, config.MQTT{URL: b.url(), TopicPrefix: "gv"}, nil)
	p2.SetCameras([]CameraInfo{{ID: "door", Zones: []ZoneInfo{{Name: "garden"}}}})
	test.WaitUntil(t, waitLong, "the stale drive way configs deleted", func() bool {
		for _, topic := range spaced {
			if m, _ := sub.last(topic); len(m.payload) != 0 {
				return false
			}
		}
		_, ok := sub.last("homeassistant/binary_sensor/gv-door/zone-garden-occupancy/config")
		return ok
	})
}

func TestReconnectQueuesInOrder(t *testing.T) {
	b := startBroker(t, brokerOpts{persist: true})
	// A persistent session: the broker keeps what arrives for the subscriber while it is away.
	sub := subscribe(t, b, "gstvision/cam1/events", true, "", "")
	logs := &test.LogBuffer{}
	p := newPublisher(t, config.MQTT{URL: b.url(), QueueSize: 5}, logs)
	waitConnected(t, p)
	p.Publish(event(1, defs.EventObjectAppeared, "cam1"))
	test.WaitUntil(t, waitLong, "event 1", func() bool { return len(sub.on("gstvision/cam1/events")) >= 1 })

	b.stop()
	test.WaitUntil(t, waitLong, "the publisher to see the broker gone", func() bool { return !p.Stats().Connected })
	for id := uint64(2); id <= 9; id++ { // 8 events into a queue of 5: 3 dropped (the oldest)
		p.Publish(event(id, defs.EventObjectAppeared, "cam1"))
	}
	p.PublishDetections(results.Result{Camera: "cam1"}) // offline: skipped, no crash
	if st := p.Stats(); st.Queued != 5 || st.Dropped != 3 {
		t.Fatalf("while down: stats = %+v, want 5 queued, 3 dropped", st)
	}

	b.start()
	test.WaitUntil(t, waitLong, "events 5..9 after the reconnection", func() bool {
		ids := eventIDs(t, sub, "gstvision/cam1/events")
		return len(ids) > 0 && ids[len(ids)-1] == 9
	})
	ids := slices.Compact(eventIDs(t, sub, "gstvision/cam1/events")) // QoS 1 may repeat one
	if !slices.Equal(ids, []uint64{1, 5, 6, 7, 8, 9}) {
		t.Errorf("events received %v, want [1 5 6 7 8 9] in order", ids)
	}
	st := p.Stats()
	if st.Queued != 0 || st.Dropped != 3 || st.Connects < 2 || !st.Connected {
		t.Errorf("after reconnection: stats = %+v", st)
	}
	if !strings.Contains(logs.String(), "events dropped") || !strings.Contains(logs.String(), "connection lost") {
		t.Errorf("logs lack the drop or the lost connection:\n%s", logs)
	}
}

func TestRetainedStateResentAfterBrokerRestart(t *testing.T) {
	b := startBroker(t, brokerOpts{}) // no persistence: the restarted broker has lost everything
	p := newPublisher(t, config.MQTT{URL: b.url()}, nil)
	waitConnected(t, p)
	p.SetAvailability("door", true)
	p.SetCameras([]CameraInfo{{ID: "door", Zones: []ZoneInfo{{Name: "porch"}}}})
	test.WaitUntil(t, waitLong, "the state to go out", func() bool { return p.pending() == 0 })
	b.stop()
	test.WaitUntil(t, waitLong, "the publisher to see the broker gone", func() bool { return !p.Stats().Connected })
	p.SetOccupancy("door", "porch", map[string]int{"car": 1}) // changed while down
	b.start()
	test.WaitUntil(t, waitLong, "the reconnection", func() bool { return p.Stats().Connects >= 2 && p.pending() == 0 })
	late := subscribe(t, b, "#", false, "", "")
	test.WaitUntil(t, waitLong, "the retained state back on the broker", func() bool {
		a, ok1 := late.last("gstvision/door/availability")
		z, ok2 := late.last("gstvision/door/zones/porch")
		_, ok3 := late.last("homeassistant/binary_sensor/gstvision-door/zone-porch-occupancy/config")
		return ok1 && ok2 && ok3 && string(a.payload) == "online" && strings.Contains(string(z.payload), `"car":1`)
	})
}

func TestDetectionsRateLimited(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := subscribe(t, b, "gstvision/+/detections", false, "", "")
	p := newPublisher(t, config.MQTT{URL: b.url(), DetectionsPerSecond: 2}, nil)
	waitConnected(t, p)
	start := time.Now()
	for i := range 40 {
		p.PublishDetections(results.Result{Camera: "door", Frame: uint64(i), Time: time.Now(),
			Detections: []defs.Detection{{ClassID: 0, Label: "person", Score: 0.9, Box: [4]float32{1, 2, 3, 4}}}})
		time.Sleep(25 * time.Millisecond)
	}
	elapsed := time.Since(start)
	test.WaitUntil(t, waitLong, "detections", func() bool { return len(sub.on("gstvision/door/detections")) > 0 })
	time.Sleep(200 * time.Millisecond) // let any in flight arrive before counting
	got := sub.on("gstvision/door/detections")
	// At most one per half second of the time spent publishing, plus the first.
	if limit := int(elapsed.Seconds()*2) + 1; len(got) > limit {
		t.Errorf("%d detections in %v at 2/s, want at most %d", len(got), elapsed, limit)
	}
	var r results.Result
	if err := json.Unmarshal(got[0].payload, &r); err != nil || r.Camera != "door" || len(r.Detections) != 1 || got[0].qos != 0 {
		t.Errorf("detections message %s (qos %d): %v", got[0].payload, got[0].qos, err)
	}
}

func TestAuthAndRedaction(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	b := startBroker(t, brokerOpts{user: "gv", password: secret})

	// A wrong password: no connection, and neither password in the logs.
	logs := &test.LogBuffer{}
	bad := newPublisher(t, config.MQTT{URL: b.url(), Username: "gv", Password: "wrong-" + secret}, logs)
	time.Sleep(time.Second)
	if bad.Stats().Connected {
		t.Fatal("connected with a wrong password")
	}
	bad.Publish(event(1, defs.EventObjectAppeared, "door")) // queued, never blocks
	bad.Close()

	good := newPublisher(t, config.MQTT{URL: b.url(), Username: "gv", Password: secret}, logs)
	sub := subscribe(t, b, "gstvision/#", false, "gv", secret)
	waitConnected(t, good)
	good.Publish(event(2, defs.EventObjectAppeared, "door"))
	test.WaitUntil(t, waitLong, "the event", func() bool { return len(sub.on("gstvision/door/events")) == 1 })
	good.Close()
	if strings.Contains(logs.String(), secret) {
		t.Errorf("a password reached the logs:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "cannot connect") || !strings.Contains(logs.String(), "not Authorized") {
		t.Errorf("the refused login is not logged:\n%s", logs)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	const secret = "hunter2-secret"
	for _, tc := range []struct {
		cfg  config.MQTT
		want string
	}{
		{config.MQTT{URL: "http://broker:1883"}, `mqtt.url: scheme must be mqtt or mqtts, got "http"`},
		{config.MQTT{URL: "mqtt://"}, "mqtt.url: must have a host"},
		{config.MQTT{URL: "mqtt://user:" + secret + "@broker"}, "mqtt.url: must not carry credentials"},
		{config.MQTT{URL: "mqtt://broker:99999"}, "mqtt.url: port must be between 1 and 65535"},
		{config.MQTT{URL: "mqtt://broker", Password: secret}, "mqtt.password: needs mqtt.username"},
		{config.MQTT{URL: "mqtt://broker", TopicPrefix: "a/#"}, "mqtt.topic_prefix: must not contain the MQTT wildcards"},
		{config.MQTT{URL: "mqtt://broker", TLS: config.MQTTTLS{CAFile: "/ca.pem"}}, "mqtt.tls: applies to mqtts:// URLs only"},
		{config.MQTT{URL: "mqtts://broker", TLS: config.MQTTTLS{CAFile: "/nonexistent/ca.pem"}}, "mqtt.tls.ca_file:"},
		{config.MQTT{URL: "mqtts://broker", TLS: config.MQTTTLS{CertFile: "/c.pem"}}, "mqtt.tls.key_file: required"},
	} {
		_, err := New(tc.cfg, Options{})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v) = %v, want ErrConfig with %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if _, err := New(config.MQTT{}, Options{}); !errors.Is(err, ErrDisabled) {
		t.Errorf("New without URL = %v, want ErrDisabled", err)
	}
	_, err := New(config.MQTT{URL: "ftp://x"}, Options{})
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("a bad field: %v, want it to match config.ErrInvalid too", err)
	}
}

func TestNeverBlocksWithoutBroker(t *testing.T) {
	// A broker that is not there: every call returns, and Close ends.
	p := newPublisher(t, config.MQTT{URL: "mqtt://127.0.0.1:" + strconv.Itoa(freePort(t)), QueueSize: 10, DetectionsPerSecond: 5}, nil)
	p.SetCameras([]CameraInfo{{ID: "door", Zones: []ZoneInfo{{Name: "porch"}}}})
	for i := range 100 {
		p.Publish(event(uint64(i), defs.EventZoneEntered, "door"))
		p.PublishDetections(results.Result{Camera: "door"})
		p.SetAvailability("door", i%2 == 0)
		p.SetOccupancy("door", "porch", map[string]int{"person": i})
	}
	if st := p.Stats(); st.Queued != 10 || st.Dropped != 90 || st.Connected {
		t.Errorf("stats = %+v, want 10 queued, 90 dropped", st)
	}
	if err := p.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("Close did not return")
	}
	if st := p.Stats(); st.Queued != 0 || st.Dropped != 100 {
		t.Errorf("after Close: stats = %+v, want the 10 queued counted as dropped too", st)
	}
	if err := p.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestStartContextCloses(t *testing.T) {
	p, err := New(config.MQTT{URL: "mqtt://127.0.0.1:" + strconv.Itoa(freePort(t))},
		Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	test.WaitUntil(t, waitLong, "the publisher to close", func() bool {
		select {
		case <-p.loopDone:
			return true
		default:
			return false
		}
	})
}
