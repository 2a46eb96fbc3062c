package mqtt

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector reads Stats at scrape time (pull-style, like internal/metrics).
type collector struct {
	p                                               *Publisher
	published, dropped, queued, connected, connects *prometheus.Desc
}

// Collector returns a Prometheus collector of the publisher's counters:
// gstvision_mqtt_published_total, gstvision_mqtt_dropped_total, gstvision_mqtt_queued,
// gstvision_mqtt_connected and gstvision_mqtt_connects_total.
func (p *Publisher) Collector() prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("gstvision", "mqtt", name), help, nil, nil)
	}
	return &collector{
		p:         p,
		published: d("published_total", "MQTT messages the broker took (QoS 1 acknowledged, QoS 0 written)."),
		dropped:   d("dropped_total", "Events not delivered to the MQTT broker: queue full while it was unreachable, refused, or after shutdown."),
		queued:    d("queued", "Events waiting for the MQTT broker."),
		connected: d("connected", "1 while connected to the MQTT broker."),
		connects:  d("connects_total", "Connections made to the MQTT broker, reconnections included."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.published, c.dropped, c.queued, c.connected, c.connects} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	conn := 0.0
	if s.Connected {
		conn = 1
	}
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v float64
	}{
		{c.published, prometheus.CounterValue, float64(s.Published)},
		{c.dropped, prometheus.CounterValue, float64(s.Dropped)},
		{c.queued, prometheus.GaugeValue, float64(s.Queued)},
		{c.connected, prometheus.GaugeValue, conn},
		{c.connects, prometheus.CounterValue, float64(s.Connects)},
	} {
		// NewConstMetric fails only on a label mismatch, impossible with these label-less descs.
		if metric, err := prometheus.NewConstMetric(m.d, m.t, m.v); err == nil {
			ch <- metric
		}
	}
}
