package config

import (
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// Defaults of the mqtt section, resolved by (MQTT).Effective rather than written into the
// config: a saved file keeps only what the user wrote (a default client ID holds the host name,
// which must not travel with the file to another machine).
const (
	DefaultMQTTTopicPrefix     = "gstvision"
	DefaultMQTTDiscoveryPrefix = "homeassistant"
	DefaultMQTTQueueSize       = 1000
	// MaxMQTTDetectionsPerSecond bounds mqtt.detections_per_second (per camera).
	MaxMQTTDetectionsPerSecond = 30
)

// MQTT configures publishing to an MQTT broker: events, optional detections, availability and
// zone occupancy, and Home Assistant discovery. An empty URL turns MQTT off. Zero values mean
// the defaults: see Effective.
type MQTT struct {
	// URL is mqtt://host[:port] (default port 1883) or mqtts://host[:port] (8883). It carries no
	// credentials: use Username and Password.
	URL string `json:"url,omitempty"`
	// ClientID identifies the connection to the broker; default "gstvision-<hostname>".
	ClientID string `json:"client_id,omitempty"`
	// TopicPrefix starts every topic gstvision publishes; default "gstvision".
	TopicPrefix string `json:"topic_prefix,omitempty"`
	// Username and Password authenticate to the broker. Password is a secret: Redacted,
	// String and LogValue hide it.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// TLS configures mqtts:// connections.
	TLS MQTTTLS `json:"tls,omitzero"`
	// DetectionsPerSecond publishes each camera's detections on <prefix>/<camera>/detections
	// at most this often (QoS 0); 0, the default, publishes none.
	DetectionsPerSecond float64 `json:"detections_per_second,omitempty"`
	// Discovery publishes Home Assistant MQTT discovery configs; nil (absent) means true.
	Discovery *bool `json:"discovery,omitempty"`
	// DiscoveryPrefix is Home Assistant's discovery prefix; default "homeassistant".
	DiscoveryPrefix string `json:"discovery_prefix,omitempty"`
	// QueueSize bounds the events held while the broker is unreachable; the oldest are
	// dropped (and counted) beyond it. 0 means 1000.
	QueueSize int `json:"queue_size,omitempty"`
}

// MQTTTLS holds the TLS settings of an mqtts:// connection. Relative paths are taken from the
// working directory.
type MQTTTLS struct {
	// CAFile is a PEM bundle of the CAs trusted to sign the broker's certificate; empty means
	// the system's roots.
	CAFile string `json:"ca_file,omitempty"`
	// CertFile and KeyFile are a PEM client certificate and its key, both or neither.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// InsecureSkipVerify accepts any broker certificate (testing only).
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// Enabled reports whether MQTT is on (a URL is set).
func (m MQTT) Enabled() bool { return m.URL != "" }

// DiscoveryEnabled reports whether Home Assistant discovery is on; nil Discovery means true.
func (m MQTT) DiscoveryEnabled() bool { return m.Discovery == nil || *m.Discovery }

// Effective returns m with every default filled in: ClientID "gstvision-<hostname>" (hostname
// as given, or os.Hostname when empty), TopicPrefix, DiscoveryPrefix, QueueSize and Discovery.
func (m MQTT) Effective(hostname string) MQTT {
	if m.ClientID == "" {
		if hostname == "" {
			hostname, _ = os.Hostname()
		}
		m.ClientID = "gstvision-" + clientIDPart(hostname)
	}
	setIfEmpty(&m.TopicPrefix, DefaultMQTTTopicPrefix)
	setIfEmpty(&m.DiscoveryPrefix, DefaultMQTTDiscoveryPrefix)
	if m.QueueSize == 0 {
		m.QueueSize = DefaultMQTTQueueSize
	}
	d := m.DiscoveryEnabled()
	m.Discovery = &d
	return m
}

// clientIDPart keeps the letters, digits, '-' and '_' of a host name (at most 40), so that the
// default client ID is one every broker accepts.
func clientIDPart(host string) string {
	var b strings.Builder
	for _, r := range host {
		if b.Len() >= 40 {
			break
		}
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "host"
	}
	return b.String()
}

// Clone returns a copy of m that shares no pointers with it.
func (m MQTT) Clone() MQTT {
	m.Discovery = clonePtr(m.Discovery)
	return m
}

// Redacted returns a copy fit to show or log: the password replaced by "***" when set and the
// URL passed through RedactURL.
func (m MQTT) Redacted() MQTT {
	m = m.Clone()
	if m.Password != "" {
		m.Password = RedactedSecret
	}
	m.URL = RedactURL(m.URL)
	return m
}

// mqttPlain is MQTT without its methods, so that String can format it without recursing.
type mqttPlain MQTT

// String formats m with the password redacted, so that %v and %+v never print it.
func (m MQTT) String() string { return fmt.Sprintf("%+v", mqttPlain(m.Redacted())) }

// GoString is String for %#v.
func (m MQTT) GoString() string { return "config.MQTT" + m.String() }

// LogValue makes slog log m with the password redacted.
func (m MQTT) LogValue() slog.Value {
	r := m.Redacted()
	return slog.GroupValue(
		slog.String("url", r.URL),
		slog.String("client_id", r.ClientID),
		slog.String("topic_prefix", r.TopicPrefix),
		slog.String("username", r.Username),
		slog.String("password", r.Password),
		slog.Bool("tls", r.TLS != MQTTTLS{}),
		slog.Float64("detections_per_second", r.DetectionsPerSecond),
		slog.Bool("discovery", r.DiscoveryEnabled()),
		slog.String("discovery_prefix", r.DiscoveryPrefix),
		slog.Int("queue_size", r.QueueSize),
	)
}

// ValidateMQTT checks an mqtt section alone, with the messages and paths ("mqtt.url: ...")
// Validate gives. It returns a *ValidationError or nil.
func ValidateMQTT(m MQTT) error {
	v := &validator{}
	v.mqtt("mqtt", m)
	return v.err()
}

// mqtt validates the section at path. Nothing is required while URL is empty (MQTT off), but
// the fields that are set are still checked, so a typo shows before MQTT is switched on.
func (v *validator) mqtt(path string, m MQTT) {
	pre := path + "."
	if m.URL != "" {
		if msg := mqttURLProblem(m.URL); msg != "" {
			v.add(pre+"url", "%s", msg)
		}
	}
	if m.ClientID != "" {
		switch {
		case len(m.ClientID) > 128:
			v.add(pre+"client_id", "must be at most 128 bytes, got %d", len(m.ClientID))
		case hasSpaceOrControl(m.ClientID):
			v.add(pre+"client_id", "must not contain whitespace or control characters")
		}
	}
	v.topicPrefix(pre+"topic_prefix", m.TopicPrefix)
	v.topicPrefix(pre+"discovery_prefix", m.DiscoveryPrefix)
	if hasControl(m.Username) {
		v.add(pre+"username", "must not contain control characters")
	}
	if m.Password != "" && m.Username == "" {
		// MQTT 3.1.1 (3.1.2.9): no password without a user name.
		v.add(pre+"password", "needs mqtt.username")
	}
	t := m.TLS
	if t != (MQTTTLS{}) && m.URL != "" && !strings.HasPrefix(strings.ToLower(m.URL), "mqtts:") {
		v.add(pre+"tls", "applies to mqtts:// URLs only, got scheme %s", quote(urlScheme(m.URL)))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		if t.CertFile == "" {
			v.add(pre+"tls.cert_file", "required with mqtt.tls.key_file")
		} else {
			v.add(pre+"tls.key_file", "required with mqtt.tls.cert_file")
		}
	}
	if d := m.DetectionsPerSecond; math.IsNaN(d) || d < 0 || d > MaxMQTTDetectionsPerSecond {
		v.add(pre+"detections_per_second", "must be between 0 (off) and %d, got %s",
			MaxMQTTDetectionsPerSecond, strconv.FormatFloat(d, 'g', -1, 64))
	}
	v.between(pre+"queue_size", int64(m.QueueSize), 0, 1_000_000)
}

// topicPrefix checks a topic prefix: levels separated by '/', none empty, no wildcards, not
// starting with '$' (reserved for the broker).
func (v *validator) topicPrefix(path, p string) {
	switch {
	case p == "":
		// The default.
	case len(p) > 200:
		v.add(path, "must be at most 200 bytes, got %d", len(p))
	case hasSpaceOrControl(p):
		v.add(path, "must not contain whitespace or control characters")
	case strings.ContainsAny(p, "+#"):
		v.add(path, "must not contain the MQTT wildcards '+' or '#', got %s", quote(p))
	case strings.HasPrefix(p, "$"):
		v.add(path, "must not start with '$' (reserved for the broker), got %s", quote(p))
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		v.add(path, "must be topic levels separated by single '/', without a leading or trailing '/', got %s", quote(p))
	}
}

// mqttURLProblem says what is wrong with a broker URL, or returns "". Messages never show a
// password.
func mqttURLProblem(raw string) string {
	if hasSpaceOrControl(raw) {
		return "must not contain whitespace or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL: " + quote(RedactURL(raw))
	}
	switch {
	case u.Scheme != "mqtt" && u.Scheme != "mqtts":
		return "scheme must be mqtt or mqtts, got " + quote(u.Scheme)
	case u.User != nil:
		return "must not carry credentials: use mqtt.username and mqtt.password"
	case u.Hostname() == "":
		return "must have a host, as in mqtt://broker.lan:1883"
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "must be mqtt[s]://host[:port] without a path, query or fragment, got " + quote(RedactURL(raw))
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "port must be between 1 and 65535, got " + quote(port)
		}
	}
	return ""
}

// urlScheme is the text before the first ':' of raw, lower-cased.
func urlScheme(raw string) string {
	s, _, _ := strings.Cut(raw, ":")
	return strings.ToLower(s)
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }
