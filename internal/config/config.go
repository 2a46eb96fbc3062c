// Package config loads, validates and saves gstvision's config.json.
//
// Loading is strict: unknown or duplicate fields, values of the wrong JSON
// type and trailing data are refused, and JSON syntax errors name the line
// and column. Fields absent from the file take their defaults (see Default);
// an empty string also means "the default". Environment variables then
// override a few fields (see the GSTVISION_* names below) and the result is
// validated. Every problem found is reported at once, one per line, as
// "field.path: message", through a *ValidationError that matches ErrInvalid
// with errors.Is; malformed JSON gives a *SyntaxError matching ErrSyntax.
//
// Environment overrides, applied after the file and before validation (an
// empty value counts as unset):
//
//	GSTVISION_LOG_LEVEL                  log_level
//	GSTVISION_LOG_FORMAT                 log_format
//	GSTVISION_DEVICE                     device
//	GSTVISION_LISTEN                     server.listen
//	GSTVISION_TOKEN                      server.token
//	GSTVISION_GST_DEBUG                  debug.gst_debug
//	GSTVISION_DUMP_DOT_DIR               debug.dump_dot_dir
//	GSTVISION_PPROF                      debug.pprof (boolean)
//	GSTVISION_ENABLE_DECOUPLED_PIPELINE  processing.ENABLE_DECOUPLED_PIPELINE (boolean; wins)
//	ENABLE_DECOUPLED_PIPELINE            processing.ENABLE_DECOUPLED_PIPELINE (boolean)
//
// Booleans accept true/false, 1/0, yes/no, on/off, t/f, y/n in any case.
//
// Relative inference.model, inference.labels and inference.onnxruntime_library
// paths are resolved against the config file's directory; Save writes the
// original spelling back, and never writes environment overrides into the
// file. Camera URLs carry credentials: use RedactURL and RedactString before
// logging them.
package config

import (
	"slices"
	"time"
)

// Accepted values of the enumerated fields.
const (
	LogLevelDebug = "debug"
	LogLevelInfo  = "info"
	LogLevelWarn  = "warn"
	LogLevelError = "error"

	LogFormatText = "text"
	LogFormatJSON = "json"

	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"

	EncoderAuto   = "auto"
	EncoderNVH264 = "nvh264enc"
	EncoderX264   = "x264enc"

	// ViewPassthrough and ViewAnnotated are the values of webrtc.view.
	ViewPassthrough = "passthrough"
	ViewAnnotated   = "annotated"

	TransportTCP  = "tcp"
	TransportUDP  = "udp"
	TransportAuto = "auto"
)

// Values of (*Config).DecoupledMode.
const (
	ModeUnified   = "unified"
	ModeDecoupled = "decoupled"
)

// RedactedSecret replaces passwords, tokens and credentials in redacted text.
const RedactedSecret = "***"

// Defaults applied to fields absent from the file.
const (
	DefaultLogLevel         = LogLevelInfo
	DefaultLogFormat        = LogFormatText
	DefaultDevice           = DeviceCPU
	DefaultListen           = ":8080"
	DefaultMaxBodyBytes     = 1 << 20
	DefaultConfidence       = 0.25
	DefaultNMSIoU           = 0.45
	DefaultEveryNFrames     = 1
	DefaultMaxBatch         = 8 // decoupled mode with no camera configured (see Plan)
	DefaultMaxWaitMS        = 10
	DefaultQueueFrames      = 4
	DefaultStatsEveryFrames = 100
	DefaultMaxWidth         = 1280
	DefaultEncoder          = EncoderAuto
	DefaultView             = ViewPassthrough
	DefaultBitrateKbps      = 2000
	DefaultTransport        = TransportTCP
	DefaultLatencyMS        = 200
)

// Config is the whole of config.json. Obtain one from Load, Parse or Default.
type Config struct {
	LogLevel  string `json:"log_level"`
	LogFormat string `json:"log_format"`
	Device    string `json:"device"`
	// GPUs lists the CUDA devices (ordinals) that analyse cameras, with device cuda. Empty
	// (the default) means every GPU the driver sees. Each GPU gets its own context, decoders
	// and inference stage; cameras are spread over them (cameras[].gpu pins one).
	GPUs       []int      `json:"gpus,omitempty"`
	Server     Server     `json:"server"`
	Inference  Inference  `json:"inference"`
	Processing Processing `json:"processing"`
	WebRTC     WebRTC     `json:"webrtc"`
	Debug      Debug      `json:"debug"`
	Cameras    []Camera   `json:"cameras"`
	MQTT       MQTT       `json:"mqtt,omitzero"` // omitzero: a file without mqtt is saved without it

	// Tracking configures the tracker behind track IDs and events (tracking.go).
	Tracking Tracking `json:"tracking,omitzero"`

	// meta remembers where values came from (file, resolved path, env) so
	// that Save can write the file's own values back. Read-only once set.
	meta *meta
}

// Server configures the HTTP server.
type Server struct {
	// Listen is the host:port to listen on.
	Listen string `json:"listen"`
	// Token, when set, is the bearer token guarding the API, WHEP, WebSocket
	// and metrics endpoints.
	Token string `json:"token"`
	// CORSOrigins lists the origins, besides the server's own, whose pages
	// may use the API (read and write): "*" for any, or http(s)://host[:port].
	// Empty, the default, allows the server's own origin only.
	CORSOrigins []string `json:"cors_origins"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `json:"max_body_bytes"`
}

// Inference configures the object detector.
type Inference struct {
	// Model is the ONNX model; absolute after Load/Parse.
	Model string `json:"model"`
	// Labels is a file of class names, one a line; "" means COCO's 80.
	Labels string `json:"labels"`
	// Confidence is the minimum detection score, in (0, 1].
	Confidence float64 `json:"confidence"`
	// NMSIoU is the IoU above which overlapping boxes are suppressed, in (0, 1].
	NMSIoU float64 `json:"nms_iou"`
	// EveryNFrames runs the detector on one frame in N.
	EveryNFrames int `json:"every_n_frames"`
	// ONNXRuntimeLibrary is the path to libonnxruntime.so.1; "" searches the
	// usual places.
	ONNXRuntimeLibrary string `json:"onnxruntime_library"`
}

// Processing configures how frames reach the detector.
type Processing struct {
	// EnableDecoupledPipeline selects the decoupled mode (a shared batching
	// stage across cameras) instead of the unified one (inline per camera).
	// Nil (absent) lets Plan choose from the device and the camera count.
	EnableDecoupledPipeline *bool `json:"ENABLE_DECOUPLED_PIPELINE,omitempty"`
	// MaxBatch is the largest batch the shared stage forms. Nil (absent) lets
	// Plan size it from the camera count.
	MaxBatch *int `json:"max_batch,omitempty"`
	// MaxWaitMS is how long the shared stage waits to fill a batch.
	MaxWaitMS int `json:"max_wait_ms"`
	// BatchSets is how many batches the shared stage holds at once (each with its own
	// input slots and model session): one fills while others run. 0 picks the device's
	// default (2 on the CPU, 6 on the GPU, where two run at once).
	BatchSets int `json:"batch_sets,omitempty"`
	// CUDAGraph (decoupled mode on cuda) runs each batch as a captured CUDA graph: one launch
	// instead of one per kernel, so the model's runs do not compete with the camera threads
	// for the driver. Every run then covers all max_batch slots. Nil (absent) means on
	// wherever it applies (see Plan).
	CUDAGraph *bool `json:"cuda_graph,omitempty"`
	// QueueFrames is how many frames are buffered between decoder and
	// inference, per camera.
	QueueFrames int `json:"queue_frames"`
	// StatsEveryFrames is how often per-camera fps and GPU memory are logged.
	StatsEveryFrames int `json:"stats_every_frames"`
	// GPUMemoryWarnMB logs a warning above this much GPU memory; 0 is off.
	GPUMemoryWarnMB int `json:"gpu_memory_warn_mb"`
}

// WebRTC configures the annotated video sent to viewers.
type WebRTC struct {
	// MaxWidth scales wider video down to this width.
	MaxWidth int `json:"max_width"`
	// Encoder is auto, nvh264enc or x264enc.
	Encoder string `json:"encoder"`
	// BitrateKbps is the encoder's target bitrate.
	BitrateKbps int `json:"bitrate_kbps"`
	// View is the video a WHEP request without ?view= gets: passthrough (the camera's own
	// H.264, falling back to annotated where WebRTC cannot carry it) or annotated.
	View string `json:"view"`
	// ICEServers are handed to peers; none by default.
	ICEServers []ICEServer `json:"ice_servers"`
	// UDPPortMin and UDPPortMax bound the ICE UDP ports; both 0 means any.
	UDPPortMin int `json:"udp_port_min"`
	UDPPortMax int `json:"udp_port_max"`
}

// ICEServer is one STUN or TURN server.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

// Debug holds troubleshooting switches.
type Debug struct {
	// GSTDebug is the value for GST_DEBUG.
	GSTDebug string `json:"gst_debug"`
	// DumpDotDir is the value for GST_DEBUG_DUMP_DOT_DIR (pipeline graphs).
	DumpDotDir string `json:"dump_dot_dir"`
	// Pprof serves /debug/pprof.
	Pprof bool `json:"pprof"`
}

// Camera is one RTSP source. Enabled and LatencyMS are pointers so that an
// absent field differs from an explicit false or 0; after ApplyCameraDefaults
// (which Load and Parse run) neither is nil.
type Camera struct {
	// ID names the camera in URLs and messages: ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$.
	ID string `json:"id"`
	// Name is the display name; defaults to ID.
	Name string `json:"name"`
	// URL is the rtsp:// or rtsps:// source, possibly with credentials.
	URL string `json:"url"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
	// Transport is tcp, udp or auto.
	Transport string `json:"transport"`
	// LatencyMS is rtspsrc's jitter-buffer latency, 0..10000.
	LatencyMS *int `json:"latency_ms"`
	// GPU pins the camera to this CUDA device (one of gpus); nil: the least-loaded GPU.
	GPU *int `json:"gpu,omitempty"`
	// Zones and Lines are the camera's event geometry (zones.go).
	Zones []Zone `json:"zones,omitempty"`
	Lines []Line `json:"lines,omitempty"`
}

// Default returns a config holding every default. Its Inference.Model is
// empty, so it does not validate until a model is set.
func Default() *Config {
	return &Config{
		LogLevel:  DefaultLogLevel,
		LogFormat: DefaultLogFormat,
		Device:    DefaultDevice,
		Server: Server{
			Listen:       DefaultListen,
			CORSOrigins:  []string{},
			MaxBodyBytes: DefaultMaxBodyBytes,
		},
		Inference: Inference{
			Confidence:   DefaultConfidence,
			NMSIoU:       DefaultNMSIoU,
			EveryNFrames: DefaultEveryNFrames,
		},
		Processing: Processing{
			MaxWaitMS:        DefaultMaxWaitMS,
			QueueFrames:      DefaultQueueFrames,
			StatsEveryFrames: DefaultStatsEveryFrames,
		},
		WebRTC: WebRTC{
			MaxWidth:    DefaultMaxWidth,
			Encoder:     DefaultEncoder,
			View:        DefaultView,
			BitrateKbps: DefaultBitrateKbps,
			ICEServers:  []ICEServer{},
		},
		Cameras: []Camera{},
	}
}

// ApplyDefaults fills the fields whose zero value means "the default": empty
// enumerations and listen address, nil lists, and each camera's defaults.
// Numeric fields are left alone, since an explicit 0 must stay visible to
// Validate; Load and Parse take numeric defaults from absent fields instead.
func (c *Config) ApplyDefaults() {
	setIfEmpty(&c.LogLevel, DefaultLogLevel)
	setIfEmpty(&c.LogFormat, DefaultLogFormat)
	setIfEmpty(&c.Device, DefaultDevice)
	setIfEmpty(&c.Server.Listen, DefaultListen)
	if c.Server.CORSOrigins == nil {
		c.Server.CORSOrigins = []string{} // the server's own origin only
	}
	setIfEmpty(&c.WebRTC.Encoder, DefaultEncoder)
	setIfEmpty(&c.WebRTC.View, DefaultView)
	if c.WebRTC.ICEServers == nil {
		c.WebRTC.ICEServers = []ICEServer{}
	}
	for i := range c.WebRTC.ICEServers {
		if c.WebRTC.ICEServers[i].URLs == nil {
			c.WebRTC.ICEServers[i].URLs = []string{}
		}
	}
	if c.Cameras == nil {
		c.Cameras = []Camera{}
	}
	for i := range c.Cameras {
		ApplyCameraDefaults(&c.Cameras[i])
	}
}

// ApplyCameraDefaults fills a camera's absent fields: Name (the ID),
// Enabled (true), Transport (tcp) and LatencyMS (200).
func ApplyCameraDefaults(cam *Camera) {
	if cam == nil {
		return
	}
	setIfEmpty(&cam.Name, cam.ID)
	if cam.Enabled == nil {
		t := true
		cam.Enabled = &t
	}
	setIfEmpty(&cam.Transport, DefaultTransport)
	if cam.LatencyMS == nil {
		l := DefaultLatencyMS
		cam.LatencyMS = &l
	}
	normalizeGeometry(cam)
}

func setIfEmpty(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

// IsEnabled reports whether the camera should run; nil Enabled means true.
func (cam Camera) IsEnabled() bool { return cam.Enabled == nil || *cam.Enabled }

// Latency is LatencyMS as a duration; nil LatencyMS means the default.
func (cam Camera) Latency() time.Duration {
	ms := DefaultLatencyMS
	if cam.LatencyMS != nil {
		ms = *cam.LatencyMS
	}
	return time.Duration(ms) * time.Millisecond
}

// DisplayName is Name, or ID when Name is empty.
func (cam Camera) DisplayName() string {
	if cam.Name != "" {
		return cam.Name
	}
	return cam.ID
}

// Camera returns the camera with the given id and its index, or nil and -1.
// The pointer aliases c.Cameras and is valid until the slice changes.
func (c *Config) Camera(id string) (*Camera, int) {
	for i := range c.Cameras {
		if c.Cameras[i].ID == id {
			return &c.Cameras[i], i
		}
	}
	return nil, -1
}

// DecoupledMode returns ModeDecoupled when the shared batching stage runs
// (configured, or chosen by Plan), ModeUnified otherwise.
func (c *Config) DecoupledMode() string {
	if c.Plan().Decoupled {
		return ModeDecoupled
	}
	return ModeUnified
}

// Path returns the file the config was loaded from, or "" when it came from
// Parse or Default.
func (c *Config) Path() string {
	if c.meta == nil {
		return ""
	}
	return c.meta.path
}

// EnvOverride names one field that an environment variable set.
type EnvOverride struct {
	Var  string // the variable, e.g. "GSTVISION_LOG_LEVEL"
	Path string // the field, e.g. "log_level"
}

// EnvOverrides lists the fields set from the environment at load time, in
// the order of the table in the package documentation. Values are left out
// on purpose: one of them may be the token.
func (c *Config) EnvOverrides() []EnvOverride {
	if c.meta == nil {
		return nil
	}
	var out []EnvOverride
	for _, spec := range envSpecs {
		if o, ok := c.meta.env[spec.path]; ok {
			out = append(out, EnvOverride{Var: o.variable, Path: spec.path})
		}
	}
	return out
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := *c
	out.Server.CORSOrigins = slices.Clone(c.Server.CORSOrigins)
	out.Processing.EnableDecoupledPipeline = clonePtr(c.Processing.EnableDecoupledPipeline)
	out.Processing.MaxBatch = clonePtr(c.Processing.MaxBatch)
	out.Processing.CUDAGraph = clonePtr(c.Processing.CUDAGraph)
	out.MQTT = c.MQTT.Clone()
	out.Tracking = c.Tracking.Clone()
	if c.WebRTC.ICEServers != nil {
		out.WebRTC.ICEServers = make([]ICEServer, len(c.WebRTC.ICEServers))
		for i, s := range c.WebRTC.ICEServers {
			s.URLs = slices.Clone(s.URLs)
			out.WebRTC.ICEServers[i] = s
		}
	}
	if c.Cameras != nil {
		out.Cameras = make([]Camera, len(c.Cameras))
		for i, cam := range c.Cameras {
			out.Cameras[i] = cam.Clone()
		}
	}
	return &out
}

// Clone returns a copy of cam that shares no pointers with it.
func (cam Camera) Clone() Camera {
	cam.Enabled = clonePtr(cam.Enabled)
	cam.LatencyMS = clonePtr(cam.LatencyMS)
	cam.Zones = cloneZones(cam.Zones)
	cam.Lines = cloneLines(cam.Lines)
	return cam
}

// clonePtr returns a new pointer to a copy of *p, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Redacted returns a deep copy fit to show or log: the token and ICE
// credentials replaced by "***" when set, camera URLs passed through
// RedactURL.
func (c *Config) Redacted() *Config {
	out := c.Clone()
	if out == nil {
		return nil
	}
	if out.Server.Token != "" {
		out.Server.Token = RedactedSecret
	}
	for i := range out.WebRTC.ICEServers {
		if out.WebRTC.ICEServers[i].Credential != "" {
			out.WebRTC.ICEServers[i].Credential = RedactedSecret
		}
	}
	for i := range out.Cameras {
		out.Cameras[i].URL = RedactURL(out.Cameras[i].URL)
	}
	out.MQTT = out.MQTT.Redacted()
	return out
}
