package doctor

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/gstvision/gstvision/internal/config"
)

// mqttDialTimeout bounds the broker check.
const mqttDialTimeout = 3 * time.Second

// mqttCheck tries a TCP connection to the configured MQTT broker. An unreachable broker is a
// warning, not a failure: serve starts anyway, queues events (bounded) and keeps retrying.
func mqttCheck(m config.MQTT) (name string, st Status, detail, fix string) {
	name = "MQTT broker"
	u, err := url.Parse(m.URL)
	if err != nil || u.Hostname() == "" {
		return name, Warn, "mqtt.url is not a valid mqtt:// or mqtts:// URL", "see README, MQTT and Home Assistant"
	}
	port := "1883"
	if u.Scheme == "mqtts" {
		port = "8883"
	}
	if p := u.Port(); p != "" {
		port = p
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	c, err := net.DialTimeout("tcp", addr, mqttDialTimeout)
	if err != nil {
		return name, Warn, fmt.Sprintf("%s (%s) does not answer: %v; serve will queue events and keep retrying", config.RedactURL(m.URL), addr, err),
			"start the broker, or fix mqtt.url (host, port, mqtts for TLS)"
	}
	c.Close()
	return name, OK, fmt.Sprintf("%s accepts connections (%s)", config.RedactURL(m.URL), addr), ""
}
