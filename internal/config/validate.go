package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// validator collects problems in field order.
type validator struct {
	c    *Config // for " (from VAR)" suffixes; may be nil
	errs []FieldError
}

func (v *validator) add(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v.c != nil {
		msg += v.c.envSuffix(path)
	}
	v.errs = append(v.errs, FieldError{Path: path, Message: msg})
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: v.errs}
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.add(path, "must be one of %s, got %s", strings.Join(allowed, "|"), quote(got))
}

func (v *validator) between(path string, got, lo, hi int64) {
	if got < lo || got > hi {
		v.add(path, "must be between %d and %d, got %d", lo, hi, got)
	}
}

func (v *validator) atLeast(path string, got, lo int64) {
	if got < lo {
		v.add(path, "must be at least %d, got %d", lo, got)
	}
}

func (v *validator) unitInterval(path string, got float64) {
	if !(got > 0 && got <= 1) || math.IsNaN(got) {
		v.add(path, "must be in (0, 1], got %s", strconv.FormatFloat(got, 'g', -1, 64))
	}
}

// Validate checks every field and returns a *ValidationError listing all
// problems, or nil. Run ApplyDefaults first on a config built in code.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.oneOf("log_level", c.LogLevel, LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError)
	v.oneOf("log_format", c.LogFormat, LogFormatText, LogFormatJSON)
	v.oneOf("device", c.Device, DeviceCPU, DeviceCUDA)
	v.gpus(c)

	v.listen("server.listen", c.Server.Listen)
	if hasSpaceOrControl(c.Server.Token) {
		v.add("server.token", "must not contain whitespace or control characters")
	}
	for i, o := range c.Server.CORSOrigins {
		if !validOrigin(o) {
			v.add(fmt.Sprintf("server.cors_origins[%d]", i),
				`must be "*" or an http(s)://host[:port] origin, got %s`, quote(RedactURL(o)))
		}
	}
	v.between("server.max_body_bytes", c.Server.MaxBodyBytes, 1<<10, 64<<20)

	if strings.TrimSpace(c.Inference.Model) == "" {
		v.add("inference.model", "required")
	}
	v.unitInterval("inference.confidence", c.Inference.Confidence)
	v.unitInterval("inference.nms_iou", c.Inference.NMSIoU)
	v.atLeast("inference.every_n_frames", int64(c.Inference.EveryNFrames), 1)

	p := c.Processing
	if p.MaxBatch != nil {
		v.between("processing.max_batch", int64(*p.MaxBatch), 1, 256)
	}
	v.between("processing.max_wait_ms", int64(p.MaxWaitMS), 0, 1000)
	v.between("processing.batch_sets", int64(p.BatchSets), 0, 16)
	if isTrue(p.CUDAGraph) && c.Device != DeviceCUDA {
		v.add("processing.cuda_graph", `needs "device": "cuda", got %s`, quote(c.Device))
	}
	if isTrue(p.CUDAGraph) && isFalse(p.EnableDecoupledPipeline) {
		v.add("processing.cuda_graph", "applies to the decoupled stage only: set processing.ENABLE_DECOUPLED_PIPELINE to true, or leave it out")
	}
	v.between("processing.queue_frames", int64(p.QueueFrames), 1, 64)
	v.atLeast("processing.stats_every_frames", int64(p.StatsEveryFrames), 1)
	v.atLeast("processing.gpu_memory_warn_mb", int64(p.GPUMemoryWarnMB), 0)

	w := c.WebRTC
	v.between("webrtc.max_width", int64(w.MaxWidth), 160, 7680)
	v.oneOf("webrtc.encoder", w.Encoder, EncoderAuto, EncoderNVH264, EncoderX264)
	v.oneOf("webrtc.view", w.View, ViewPassthrough, ViewAnnotated)
	v.between("webrtc.bitrate_kbps", int64(w.BitrateKbps), 100, 50000)
	for i, s := range w.ICEServers {
		v.iceServer(fmt.Sprintf("webrtc.ice_servers[%d]", i), s)
	}
	v.udpPorts(w.UDPPortMin, w.UDPPortMax)
	v.mqtt("mqtt", c.MQTT)
	v.tracking("tracking", c.Tracking)

	first := make(map[string]int, len(c.Cameras))
	for i, cam := range c.Cameras {
		v.camera(i, cam)
		if cam.ID == "" {
			continue
		}
		if j, dup := first[cam.ID]; dup {
			v.add(fmt.Sprintf("cameras[%d].id", i), "duplicate of cameras[%d].id %s", j, quote(cam.ID))
		} else {
			first[cam.ID] = i
		}
	}
	return v.err()
}

// ValidateCamera checks cam as the camera at index among others, the
// config's camera list (others[index], if present, is cam's old self and is
// skipped; index == len(others) checks an addition). Messages are those of
// Validate, with paths "cameras[index]...". Apply ApplyCameraDefaults first.
func ValidateCamera(cam Camera, index int, others []Camera) error {
	v := &validator{}
	v.camera(index, cam)
	if cam.ID != "" {
		for j, o := range others {
			if j != index && o.ID == cam.ID {
				v.add(fmt.Sprintf("cameras[%d].id", index), "duplicate of cameras[%d].id %s", j, quote(cam.ID))
				break
			}
		}
	}
	return v.err()
}

func (v *validator) camera(i int, cam Camera) {
	pre := fmt.Sprintf("cameras[%d].", i)
	switch {
	case cam.ID == "":
		v.add(pre+"id", "required")
	case !validID(cam.ID):
		v.add(pre+"id", "must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit, got %s", quote(cam.ID))
	}
	if msg := cameraURLProblem(cam.URL); msg != "" {
		v.add(pre+"url", "%s", msg)
	}
	v.oneOf(pre+"transport", cam.Transport, TransportTCP, TransportUDP, TransportAuto)
	if cam.LatencyMS != nil {
		v.between(pre+"latency_ms", int64(*cam.LatencyMS), 0, 10000)
	}
	if cam.GPU != nil {
		v.atLeast(pre+"gpu", int64(*cam.GPU), 0)
	}
	v.zonesAndLines(pre, cam)
}

// validID matches ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

// cameraURLProblem says what is wrong with a camera URL, or returns "".
// Messages never show the password.
func cameraURLProblem(raw string) string {
	if raw == "" {
		return "required"
	}
	if hasSpaceOrControl(raw) {
		return "must not contain whitespace or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil {
		// err would echo the URL, password included.
		return "not a valid URL: " + quote(RedactURL(raw))
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return "scheme must be rtsp or rtsps, got " + quote(u.Scheme)
	}
	if u.Hostname() == "" {
		return "must have a host"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "port must be between 1 and 65535, got " + quote(port)
		}
	}
	return ""
}

func (v *validator) listen(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, `must be host:port (e.g. ":8080" or "127.0.0.1:8080"), got %s`, quote(addr))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(path, "port must be a number between 0 and 65535, got %s", quote(port))
	}
}

// validOrigin accepts "*" and http(s)://host[:port], as browsers send Origin.
func validOrigin(o string) bool {
	if o == "*" {
		return true
	}
	if hasSpaceOrControl(o) {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasPrefix(o, u.Scheme+"://") {
		return false
	}
	if u.User != nil || u.Hostname() == "" || u.Path != "" || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || strings.Contains(o, "#") {
		return false
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		return err == nil && n >= 1 && n <= 65535
	}
	return !strings.HasSuffix(u.Host, ":")
}

func (v *validator) iceServer(path string, s ICEServer) {
	if len(s.URLs) == 0 {
		v.add(path+".urls", "must list at least one URL")
	}
	turn := false
	for j, u := range s.URLs {
		up := fmt.Sprintf("%s.urls[%d]", path, j)
		scheme, rest, _ := strings.Cut(u, ":")
		switch {
		case hasSpaceOrControl(u):
			v.add(up, "must not contain whitespace or control characters")
		case scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns" || !strings.Contains(u, ":"):
			v.add(up, "must start with stun:, stuns:, turn: or turns:, got %s", quote(RedactURL(u)))
		case rest == "":
			v.add(up, "must name a host after the scheme, got %s", quote(u))
		case scheme == "turn" || scheme == "turns":
			turn = true
		}
	}
	if turn && (s.Username == "" || s.Credential == "") {
		v.add(path, "turn: and turns: URLs need a username and a credential")
	}
}

func (v *validator) udpPorts(lo, hi int) {
	valid := func(path string, p int) bool {
		if p != 0 && (p < 1 || p > 65535) {
			v.add(path, "must be between 1 and 65535, or 0 for any, got %d", p)
			return false
		}
		return true
	}
	okLo := valid("webrtc.udp_port_min", lo)
	okHi := valid("webrtc.udp_port_max", hi)
	if !okLo || !okHi {
		return
	}
	switch {
	case lo != 0 && hi == 0:
		v.add("webrtc.udp_port_max", "must be set when webrtc.udp_port_min is set")
	case lo == 0 && hi != 0:
		v.add("webrtc.udp_port_min", "must be set when webrtc.udp_port_max is set")
	case lo > hi:
		v.add("webrtc.udp_port_max", "must be at least webrtc.udp_port_min (%d), got %d", lo, hi)
	}
}

func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}

// quote is %q of s, shortened past 64 bytes.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// gpus checks gpus and the cameras' gpu against the device: both need device cuda, gpus has
// no repeats, and a camera's gpu is one of gpus when gpus is given (with gpus empty, every GPU
// the driver sees is used, which only start-up can check).
func (v *validator) gpus(c *Config) {
	if len(c.GPUs) > 0 && c.Device != DeviceCUDA {
		v.add("gpus", `needs "device": "cuda", got %s`, quote(c.Device))
	}
	seen := map[int]bool{}
	for i, g := range c.GPUs {
		path := fmt.Sprintf("gpus[%d]", i)
		switch {
		case g < 0:
			v.add(path, "must be a CUDA device ordinal (0 or more), got %d", g)
		case seen[g]:
			v.add(path, "GPU %d is listed twice", g)
		}
		seen[g] = true
	}
	for i, cam := range c.Cameras {
		if cam.GPU == nil {
			continue
		}
		path := fmt.Sprintf("cameras[%d].gpu", i)
		switch {
		case c.Device != DeviceCUDA:
			v.add(path, `needs "device": "cuda", got %s`, quote(c.Device))
		case len(c.GPUs) > 0 && *cam.GPU >= 0 && !seen[*cam.GPU]:
			v.add(path, "GPU %d is not in gpus %v", *cam.GPU, c.GPUs)
		}
	}
}
