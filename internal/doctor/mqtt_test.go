package doctor

import (
	"net"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/config"
)

// TestMQTTCheck: a listening broker is ok; a closed port is a warning that names the broker
// without its password.
func TestMQTTCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if _, st, detail, _ := mqttCheck(config.MQTT{URL: "mqtt://" + addr}); st != OK {
		t.Errorf("listening broker: %s %s", st, detail)
	}
	l.Close()
	_, st, detail, fix := mqttCheck(config.MQTT{URL: "mqtt://user:s3cret@" + addr})
	if st != Warn || !strings.Contains(detail, addr) || strings.Contains(detail, "s3cret") || fix == "" {
		t.Errorf("closed port: %s %q (fix %q), want a warning naming %s without the password", st, detail, fix, addr)
	}
	if _, st, _, _ := mqttCheck(config.MQTT{URL: "mqtt://"}); st != Warn {
		t.Errorf("no host: %s, want a warning", st)
	}
}
