package mqtt

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gstvision/gstvision/internal/test"
)

// Generous deadlines: the tests run on loaded 2-core machines. Nothing asserts on speed.
const (
	waitLong  = 30 * time.Second
	waitShort = 10 * time.Second
)

// findTool returns the path of a mosquitto program. Missing, the test fails with how to get
// it (make test installs it), unless GSTVISION_SKIP_MQTT=1 asks to skip the broker tests.
func findTool(t *testing.T, name string) string {
	t.Helper()
	if os.Getenv("GSTVISION_SKIP_MQTT") == "1" {
		t.Skip("GSTVISION_SKIP_MQTT=1: MQTT broker tests skipped")
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	t.Fatalf("%s not found: the MQTT tests run a real broker. Install it with "+
		"`scripts/install-deps.sh --with-browser` (what make test runs) or `apt-get install mosquitto`, "+
		"or set GSTVISION_SKIP_MQTT=1 to skip these tests", name)
	return ""
}

// broker is a mosquitto process on a loopback port, for one test.
type broker struct {
	t       *testing.T
	bin     string
	dir     string
	conf    string
	port    int
	tlsPort int
	log     *test.LogBuffer

	mu  sync.Mutex
	cmd *exec.Cmd
}

// brokerOpts configure startBroker.
type brokerOpts struct {
	user, password string // non-empty: anonymous clients are refused
	persist        bool   // sessions and retained messages survive a restart
	tls            *pki   // also listen with TLS (tlsPort), client certificates required
}

// startBroker runs mosquitto until the test ends.
func startBroker(t *testing.T, o brokerOpts) *broker {
	t.Helper()
	b := &broker{t: t, bin: findTool(t, "mosquitto"), dir: t.TempDir(), port: freePort(t), log: &test.LogBuffer{}}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n", b.port)
	if o.tls != nil {
		b.tlsPort = freePort(t)
		conf += fmt.Sprintf("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n",
			b.tlsPort, o.tls.caFile, o.tls.serverCert, o.tls.serverKey)
	}
	if os.Geteuid() == 0 {
		conf += "user root\n" // run as root, mosquitto would become "mosquitto", who cannot read the temp dir
	}
	if o.user != "" {
		pw := filepath.Join(b.dir, "passwd")
		out, err := exec.Command(findTool(t, "mosquitto_passwd"), "-b", "-c", pw, o.user, o.password).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
		conf += "allow_anonymous false\npassword_file " + pw + "\n"
	} else {
		conf += "allow_anonymous true\n"
	}
	if o.persist {
		conf += "persistence true\npersistence_location " + b.dir + "/\nautosave_interval 1\n"
	} else {
		conf += "persistence false\n"
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (b *broker) url() string { return "mqtt://127.0.0.1:" + strconv.Itoa(b.port) }

func (b *broker) addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

// start runs mosquitto and waits until it accepts connections.
func (b *broker) start() {
	b.t.Helper()
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.mu.Lock()
	b.cmd = cmd
	b.mu.Unlock()
	deadline := time.Now().Add(waitLong)
	for {
		select {
		case <-exited:
			b.t.Fatalf("mosquitto exited at start:\n%s", b.log)
		default:
		}
		if c, err := net.DialTimeout("tcp", b.addr(), time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto not listening on %s after %v:\n%s", b.addr(), waitLong, b.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends mosquitto (SIGTERM: it saves its persistence file) and waits until the port is
// closed.
func (b *broker) stop() {
	b.mu.Lock()
	cmd := b.cmd
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		// Signal 0 fails once the process has been reaped by the Wait goroutine.
		if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
}

// received is one message a subscriber got.
type received struct {
	topic    string
	payload  []byte
	qos      byte
	retained bool
}

// subscriber records every message on a topic filter.
type subscriber struct {
	client paho.Client
	mu     sync.Mutex
	msgs   []received
}

// subscribe connects a client and subscribes to filter at QoS 2 (so each message arrives at
// the QoS it was published with). persistent keeps its session at the broker across
// reconnections (messages for it are queued while it is away).
func subscribe(t *testing.T, b *broker, filter string, persistent bool, user, password string) *subscriber {
	t.Helper()
	s := &subscriber{}
	o := paho.NewClientOptions().AddBroker("tcp://" + b.addr()).
		SetClientID(fmt.Sprintf("test-sub-%d", time.Now().UnixNano())).
		SetCleanSession(!persistent).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).
		SetOrderMatters(true)
	if user != "" {
		o.SetUsername(user).SetPassword(password)
	}
	handler := func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, received{topic: m.Topic(), payload: bytes.Clone(m.Payload()), qos: m.Qos(), retained: m.Retained()})
		s.mu.Unlock()
	}
	var connects atomic.Int32
	o.SetOnConnectHandler(func(c paho.Client) {
		// Reconnections renew the subscription (a clean session loses it; for a persistent one
		// it is harmless). The first one is made below, and waited for.
		if connects.Add(1) > 1 {
			c.Subscribe(filter, 2, handler)
		}
	})
	s.client = paho.NewClient(o)
	tok := s.client.Connect()
	if !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("test subscriber: connect: %v", tok.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	st := s.client.Subscribe(filter, 2, handler)
	if !st.WaitTimeout(waitLong) || st.Error() != nil {
		t.Fatalf("test subscriber: subscribe %s: %v", filter, st.Error())
	}
	return s
}

// all returns a copy of what was received.
func (s *subscriber) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// on returns what was received on topic, in order.
func (s *subscriber) on(topic string) []received {
	var out []received
	for _, m := range s.all() {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// last returns the newest message on topic.
func (s *subscriber) last(topic string) (received, bool) {
	m := s.on(topic)
	if len(m) == 0 {
		return received{}, false
	}
	return m[len(m)-1], true
}

// proxy forwards TCP connections to the broker; cut breaks them all at once, as a crash or a
// network failure would, without the MQTT DISCONNECT a clean close sends.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			px.mu.Lock()
			px.conns = append(px.conns, c, u)
			px.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(func() { l.Close(); px.cut() })
	return px
}

func (px *proxy) addr() string { return px.l.Addr().String() }

func (px *proxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not an orderly close
		}
		c.Close()
	}
	px.conns = nil
}
