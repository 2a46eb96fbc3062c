package gst

import (
	"fmt"
	"strings"
)

// Codecs a camera pipeline decodes, named as rtspsrc's encoding-name gives them.
const (
	CodecH264 = "H264"
	CodecH265 = "H265"
)

// Role is what a requirement does in the pipelines.
type Role int

// Roles, in the order of a camera's path (RTSP to decoder), then the viewer's encoding.
const (
	RoleRTSP       Role = iota // the RTSP client
	RoleDepay                  // an RTP depayloader of one codec
	RoleParse                  // a parser of one codec
	RoleCore                   // queue, capsfilter, tee: every pipeline's plumbing
	RoleConvert                // conversion of CPU-decoded frames to I420
	RoleCPUDecoder             // a CPU decoder of one codec
	RoleNVDecoder              // an NVDEC decoder of one codec, into CUDA memory
	RoleEncoder                // the viewer's H.264 encoder
	RoleScale                  // the viewer's scaling
)

// Requirement is one capability the pipelines need from GStreamer's plugins.
type Requirement struct {
	Role     Role
	Codec    string   // the codec it serves (CodecH264, CodecH265); "" for every stream
	Elements []string // factories that provide it, best first: any one will do
	AllOf    bool     // every one of Elements is needed, not any one
	Required bool     // the device cannot run without it
	What     string   // what it is, for people: "RTSP client"
	When     string   // when it is used, if not always: "cpu mode, H.265 cameras"
	Hint     string   // how to install it
}

// Install hints shared by several requirements.
const (
	hintGood  = "apt-get install gstreamer1.0-plugins-good"
	hintBad   = "apt-get install gstreamer1.0-plugins-bad"
	hintBase  = "apt-get install gstreamer1.0-plugins-base"
	hintLibav = "apt-get install gstreamer1.0-libav"
	hintNVDEC = "NVIDIA driver with video capability; in Docker: --gpus all and " +
		"NVIDIA_DRIVER_CAPABILITIES=compute,utility,video; apt-get install gstreamer1.0-plugins-bad"
)

// capability is a row of the table: a requirement and the devices it is essential to.
type capability struct {
	Requirement
	cpu, cuda bool // essential in cpu mode, in cuda mode
}

// capabilities is the one table of the GStreamer elements gstvision uses. H.265 decoders are
// needed only for H.265 cameras, the encoders only for the viewer (and either one will do).
var capabilities = []capability{
	{Requirement{Role: RoleRTSP, Elements: []string{"rtspsrc"}, What: "RTSP client", Hint: hintGood}, true, true},
	{Requirement{Role: RoleDepay, Codec: CodecH264, Elements: []string{"rtph264depay"}, What: "H.264 RTP depayloader", Hint: hintGood}, true, true},
	{Requirement{Role: RoleDepay, Codec: CodecH265, Elements: []string{"rtph265depay"}, What: "H.265 RTP depayloader", Hint: hintGood}, true, true},
	{Requirement{Role: RoleParse, Codec: CodecH264, Elements: []string{"h264parse"}, What: "H.264 parser", Hint: hintBad}, true, true},
	{Requirement{Role: RoleParse, Codec: CodecH265, Elements: []string{"h265parse"}, What: "H.265 parser", Hint: hintBad}, true, true},
	{Requirement{Role: RoleCore, Elements: []string{"queue", "capsfilter", "tee"}, AllOf: true, What: "core elements",
		Hint: "apt-get install libgstreamer1.0-0"}, true, true},
	{Requirement{Role: RoleConvert, Elements: []string{"videoconvert"}, What: "video conversion", When: "cpu mode", Hint: hintBase}, true, false},
	{Requirement{Role: RoleCPUDecoder, Codec: CodecH264, Elements: []string{"avdec_h264", "openh264dec"},
		What: "CPU H.264 decoder", When: "cpu mode", Hint: hintLibav}, true, false},
	{Requirement{Role: RoleCPUDecoder, Codec: CodecH265, Elements: []string{"avdec_h265", "libde265dec"},
		What: "CPU H.265 decoder", When: "cpu mode, H.265 cameras", Hint: hintLibav}, false, false},
	{Requirement{Role: RoleNVDecoder, Codec: CodecH264, Elements: []string{"nvh264dec"},
		What: "NVDEC H.264 decoder", When: "cuda mode", Hint: hintNVDEC}, false, true},
	{Requirement{Role: RoleNVDecoder, Codec: CodecH265, Elements: []string{"nvh265dec"},
		What: "NVDEC H.265 decoder", When: "cuda mode, H.265 cameras", Hint: hintNVDEC}, false, false},
	{Requirement{Role: RoleEncoder, Elements: []string{"nvh264enc"}, What: "NVENC H.264 encoder", When: "viewer video on GPUs with NVENC",
		Hint: "not on every GPU (the H100 has none): x264enc is used instead"}, false, false},
	{Requirement{Role: RoleEncoder, Elements: []string{"x264enc"}, What: "x264 encoder", When: "viewer video without NVENC",
		Hint: "apt-get install gstreamer1.0-plugins-ugly"}, false, false},
	{Requirement{Role: RoleScale, Elements: []string{"videoscale"}, What: "scaling of the viewer video", Hint: hintBase}, false, false},
}

// Requirements lists every capability of the table, Required set for the device (cuda: NVDEC
// and CUDA memory; else the CPU).
func Requirements(cuda bool) []Requirement {
	out := make([]Requirement, len(capabilities))
	for i, c := range capabilities {
		out[i] = c.Requirement
		out[i].Elements = append([]string(nil), c.Elements...)
		out[i].Required = c.cpu && !cuda || c.cuda && cuda
	}
	return out
}

// lookup returns the requirement of role for codec ("" for a role that serves every stream)
// on the device; ok is false when the table has none, as for a codec gstvision does not decode.
func lookup(role Role, codec string, cuda bool) (r Requirement, ok bool) {
	for _, x := range Requirements(cuda) {
		if x.Role == role && x.Codec == codec {
			return x, true
		}
	}
	return Requirement{}, false
}

// Receive lists what receiving a camera that sends codec needs, on either device: the RTSP
// client, the codec's depayloader and its parser. Nil for a codec gstvision does not decode.
func Receive(codec string) []Requirement {
	rtsp, _ := lookup(RoleRTSP, "", false)
	depay, ok1 := lookup(RoleDepay, codec, false)
	parse, ok2 := lookup(RoleParse, codec, false)
	if !ok1 || !ok2 {
		return nil
	}
	return []Requirement{rtsp, depay, parse}
}

// Decoder is the decoder requirement of codec on the device: NVDEC with cuda, else the CPU's.
func Decoder(codec string, cuda bool) (Requirement, bool) {
	if cuda {
		return lookup(RoleNVDecoder, codec, true)
	}
	return lookup(RoleCPUDecoder, codec, false)
}

// Found names the registered elements that meet r: the first registered one, or all of them
// with AllOf. It is "" when r is not met.
func (r Requirement) Found() string {
	if !r.AllOf {
		return FirstAvailable(r.Elements...)
	}
	for _, f := range r.Elements {
		if !HasElement(f) {
			return ""
		}
	}
	return strings.Join(r.Elements, ", ")
}

// Label is what r is and when it is used, as a person reads it: "CPU H.264 decoder (cpu mode)".
func (r Requirement) Label() string {
	if r.When == "" {
		return r.What
	}
	return r.What + " (" + r.When + ")"
}

// Missing is nil when r is met, else an error wrapping ErrMissingElement that names r, its
// elements and how to install them.
func (r Requirement) Missing() error {
	if r.Found() != "" {
		return nil
	}
	return fmt.Errorf("%w: no %s (%s): %s", ErrMissingElement, r.What, strings.Join(r.Elements, ", "), r.Hint)
}
