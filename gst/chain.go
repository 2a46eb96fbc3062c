package gst

import (
	"fmt"
	"strings"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
)

// Names of the decode chain's elements that the pipeline refers to after building it.
const (
	nameDecoder    = "dec"
	nameInferQueue = "inferqueue"
	nameTee        = "split"
	nameParseTee   = "parsetee"
)

// elementSpec declares one element of a camera's decode chain.
type elementSpec struct {
	factory string
	name    string               // unique in the pipeline; links refer to it
	props   map[string]any       // must be set (enumArg values: enums and flags)
	quiet   map[string]any       // set where the element has them: versions and implementations differ
	probe   func(src *gogst.Pad) // attached to the element's source pad once the chain is linked
}

// chainSpec is a camera's decode chain as data: the stages from the source's pad to the raw
// video caps filter, then the branches that take the decoded frames. A tee feeds the branches
// when there is more than one.
type chainSpec struct {
	codec    string
	stages   []elementSpec
	branches [][]elementSpec
	// side branches start at a tee among the stages (named first) instead of after them.
	sides []sideSpec
}

// sideSpec is a branch fed by the tee named from.
type sideSpec struct {
	from     string
	elements []elementSpec
}

// chainOptions are the choices a decode chain is built from.
type chainOptions struct {
	codec     string        // CodecH264 or CodecH265
	decoder   string        // the decoder's factory
	depay     bool          // the source sends RTP (rtspsrc): depayload first
	cuda      bool          // the decoder outputs NV12 in CUDA memory
	pace      bool          // play at the stream's frame rate (file sources)
	paceDelay time.Duration // and this much late
	queue     int           // frames the inference queue holds before dropping the oldest
	infer     uint64        // the inference sink's handler
	viewer    uint64        // the viewer sink's handler; 0: no viewer branch
	pass      uint64        // the access-unit sink's handler; 0: no passthrough branch
	stamp     func(*gogst.Pad)
}

// streamCodec names the codec of rtspsrc's encoding-name; ok is false for one gstvision does
// not decode.
func streamCodec(encoding string) (codec string, ok bool) {
	switch encoding {
	case "H264":
		return CodecH264, true
	case "H265", "HEVC":
		return CodecH265, true
	}
	return encoding, false
}

// decodeSpec declares the chain depay → parse → [pace] → decoder → [convert] → caps filter,
// then the inference branch (leaky queue → sink) and, with a viewer handler, the viewer branch.
func decodeSpec(o chainOptions) chainSpec {
	s := chainSpec{codec: o.codec}
	if o.depay {
		s.stages = append(s.stages, elementSpec{factory: factoryFor(RoleDepay, o.codec), name: "depay",
			// after packet loss, ask the camera for a keyframe and drop until it comes
			quiet: map[string]any{"request-keyframe": true, "wait-for-keyframe": true},
			// pictures shown before the first packet must not get a wrapped PTS (ptsguard.go)
			probe: guardTimestamps})
	}
	s.stages = append(s.stages, elementSpec{factory: factoryFor(RoleParse, o.codec), name: "parse", props: map[string]any{"config-interval": -1}})
	if o.pass != 0 {
		s.stages = append(s.stages, elementSpec{factory: "tee", name: nameParseTee})
		s.sides = append(s.sides, passthroughSpec(o))
	}
	if o.pace {
		// real-time pacing of the encoded stream, as a camera would deliver it
		s.stages = append(s.stages, elementSpec{factory: "clocksync", name: "pace", props: map[string]any{"ts-offset": int64(o.paceDelay)}})
	}
	s.stages = append(s.stages, decoderSpec(o))
	rawCaps := "video/x-raw(memory:CUDAMemory),format=NV12"
	if !o.cuda {
		// the CPU decoders may output other layouts (4:2:2, 10-bit): convert to I420
		s.stages = append(s.stages, elementSpec{factory: "videoconvert", name: "convert"})
		rawCaps = "video/x-raw,format=I420"
	}
	s.stages = append(s.stages, elementSpec{factory: "capsfilter", name: "rawcaps", props: map[string]any{"caps": gogst.NewCapsFromString(rawCaps)}})

	// leaky: when inference falls behind, the oldest frames are dropped, never the decoder blocked
	s.branches = append(s.branches, []elementSpec{
		{factory: "queue", name: nameInferQueue, props: map[string]any{"max-size-buffers": uint(o.queue),
			"max-size-bytes": uint(0), "max-size-time": uint64(0), "leaky": enumArg("downstream")}},
		{factory: InferSinkFactory, name: "infer", props: map[string]any{"handler-id": o.infer}},
	})
	if o.viewer != 0 {
		s.branches = append(s.branches, []elementSpec{
			{factory: "queue", name: "viewerqueue", props: map[string]any{"max-size-buffers": uint(2),
				"max-size-bytes": uint(0), "max-size-time": uint64(0), "leaky": enumArg("downstream")}},
			{factory: InferSinkFactory, name: "viewer", props: map[string]any{"handler-id": o.viewer}},
		})
	}
	return s
}

// passthroughSpec declares the passthrough branch: the parser's access units, as the camera
// sent them (byte-stream, one access unit a buffer, SPS and PPS before each IDR from
// config-interval=-1), to the access-unit sink, before any decoding. It costs a copy of the
// compressed stream; the sink's handler decides what to keep. Leaky: a slow handler loses
// access units, never holds up the decoder.
func passthroughSpec(o chainOptions) sideSpec {
	media := "video/x-h264"
	if o.codec == CodecH265 {
		media = "video/x-h265"
	}
	return sideSpec{from: nameParseTee, elements: []elementSpec{
		{factory: "queue", name: "passqueue", props: map[string]any{"max-size-buffers": uint(60),
			"max-size-bytes": uint(0), "max-size-time": uint64(0), "leaky": enumArg("downstream")}},
		{factory: "capsfilter", name: "passcaps", props: map[string]any{
			"caps": gogst.NewCapsFromString(media + ",stream-format=byte-stream,alignment=au")}},
		{factory: AUSinkFactory, name: "pass", props: map[string]any{"handler-id": o.pass}},
	}}
}

// factoryFor is the element of role for codec in the table, "" (which no element is) if none.
func factoryFor(role Role, codec string) string {
	if r, ok := lookup(role, codec, false); ok {
		return r.Elements[0]
	}
	return ""
}

// decoderSpec declares the decoder, which numbers the frames it produces (o.stamp).
func decoderSpec(o chainOptions) elementSpec {
	e := elementSpec{factory: o.decoder, name: nameDecoder, probe: o.stamp,
		// A stream joined mid-GOP (every camera, at connect) decodes to garbage until its first
		// keyframe: drop those frames instead of detecting on smeared pictures.
		quiet: map[string]any{"output-corrupt": false, "discard-corrupted-frames": true}}
	if (o.depay || o.pace) && strings.HasPrefix(o.decoder, "avdec_") {
		// Live sources (cameras, paced files) decode with slice threads only: each extra frame
		// thread holds one more frame (up to 15, half a second, on 16 cores). thread-type=auto
		// picks slices only when its latency query finds a live upstream when caps arrive;
		// this does not depend on that. Throughput does not need frame threads: cameras decode
		// in parallel, one pipeline each. Unpaced files (decoding flat out) keep auto.
		e.props = map[string]any{"thread-type": enumArg("slice")}
	}
	return e
}

// elements lists the spec's elements upstream first: the stages, the tee if any, the branches.
func (s chainSpec) elements() []elementSpec {
	all := append([]elementSpec(nil), s.stages...)
	if len(s.branches) > 1 {
		all = append(all, elementSpec{factory: "tee", name: nameTee})
	}
	for _, b := range s.branches {
		all = append(all, b...)
	}
	for _, side := range s.sides {
		all = append(all, side.elements...)
	}
	return all
}

// links lists the runs of element names to link in order: the stages into the only branch, or
// into the tee and the tee into each branch.
func (s chainSpec) links() [][]string {
	names := func(es []elementSpec) []string {
		n := make([]string, len(es))
		for i, e := range es {
			n[i] = e.name
		}
		return n
	}
	head := names(s.stages)
	var runs [][]string
	if len(s.branches) == 1 {
		runs = [][]string{append(head, names(s.branches[0])...)}
	} else {
		runs = [][]string{append(head, nameTee)}
		for _, b := range s.branches {
			runs = append(runs, append([]string{nameTee}, names(b)...))
		}
	}
	for _, side := range s.sides {
		runs = append(runs, append([]string{side.from}, names(side.elements)...))
	}
	return runs
}

// builtChain is a decode chain in its pipeline.
type builtChain struct {
	first  *gogst.Element // takes the source's pad
	byName map[string]*gogst.Element
}

// build makes the spec's elements, adds them to pl, links them by name, attaches the probes and
// brings every element to pl's state, each one after all the elements downstream of it. The
// source's pad is linked to the result's first element last, by the caller.
func (s chainSpec) build(pl *gogst.Pipeline) (*builtChain, error) {
	specs := s.elements()
	made := make([]*gogst.Element, len(specs))
	c := &builtChain{byName: make(map[string]*gogst.Element, len(specs))}
	for i, es := range specs {
		e, err := makeElementWith(es.factory, es.name, es.props)
		if err != nil {
			return nil, err
		}
		for k, v := range es.quiet {
			_ = e.SetProperty(k, v)
		}
		made[i], c.byName[es.name] = e, e
	}
	c.first = made[0]
	if err := pl.AddMany(made...); err != nil {
		return nil, fmt.Errorf("%w: add: %w", ErrPipeline, err)
	}
	for _, run := range s.links() {
		els := make([]*gogst.Element, len(run))
		for i, name := range run {
			els[i] = c.byName[name]
		}
		if err := gogst.ElementLinkMany(els...); err != nil {
			return nil, fmt.Errorf("%w: link %s chain: %w", ErrPipeline, s.codec, err)
		}
	}
	for i, es := range specs {
		if es.probe != nil {
			es.probe(made[i].GetStaticPad("src"))
		}
	}
	for i := len(made) - 1; i >= 0; i-- {
		made[i].SyncStateWithParent()
	}
	return c, nil
}
