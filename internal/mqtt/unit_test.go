package mqtt

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gstvision/gstvision/internal/config"
)

func TestQueueDropsOldest(t *testing.T) {
	q := newQueue(3)
	for i := range 5 {
		dropped := q.push(message{topic: string(rune('a' + i))})
		if want := i >= 3; dropped != want {
			t.Errorf("push %d: dropped = %v, want %v", i, dropped, want)
		}
	}
	head, _ := q.front()
	if q.len() != 3 || head.msg.topic != "c" {
		t.Fatalf("len %d, head %q; want 3, c", q.len(), head.msg.topic)
	}
	if q.popIf(head.seq + 1) {
		t.Error("popIf of another seq popped")
	}
	var got []string
	for {
		h, ok := q.front()
		if !ok {
			break
		}
		got = append(got, h.msg.topic)
		q.popIf(h.seq)
	}
	if strings.Join(got, "") != "cde" {
		t.Errorf("order %v, want c d e", got)
	}
}

func TestTopicNames(t *testing.T) {
	for in, want := range map[string]string{"porch": "porch", "a/b+c#d": "a_b_c_d", "": "_", "café": "café"} {
		if got := segment(in); got != want {
			t.Errorf("segment(%q) = %q, want %q", in, got, want)
		}
	}
	if idPart("porch_1") != "porch_1" {
		t.Error("a safe id changed")
	}
	a, b := idPart("drive way"), idPart("drive_way")
	if a == b || !strings.HasPrefix(a, "drive_way_") || strings.ContainsAny(a, " -") {
		t.Errorf("idPart: %q vs %q", a, b)
	}
	tp := topics{prefix: "home/gv", discovery: "homeassistant"}
	if got := tp.nodeID("door"); got != "home_gv-door" {
		t.Errorf("nodeID = %q", got)
	}
	if got := tp.zone("door", "a/b"); got != "home/gv/door/zones/a_b" {
		t.Errorf("zone topic = %q", got)
	}
	if got := jinjaString(`it's "x"`); got != `"it's \"x\""` {
		t.Errorf("jinjaString = %s", got)
	}
	if u, err := brokerURL("mqtts://[::1]"); err != nil || u != "ssl://[::1]:8883" {
		t.Errorf("brokerURL = %q, %v", u, err)
	}
	if u, _ := brokerURL("mqtt://b:1884"); u != "tcp://b:1884" {
		t.Errorf("brokerURL = %q", u)
	}
}

func TestCollector(t *testing.T) {
	p, err := New(config.MQTT{URL: "mqtt://127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(event(1, "object_appeared", "door"))
	reg := prometheus.NewRegistry()
	if err := reg.Register(p.Collector()); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		m := f.GetMetric()[0]
		got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	want := map[string]float64{"gstvision_mqtt_published_total": 0, "gstvision_mqtt_dropped_total": 0,
		"gstvision_mqtt_queued": 1, "gstvision_mqtt_connected": 0, "gstvision_mqtt_connects_total": 0}
	if len(got) != len(want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
