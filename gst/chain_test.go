package gst

import (
	"slices"
	"strings"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
)

func specNames(s chainSpec) []string {
	var names []string
	for _, e := range s.elements() {
		names = append(names, e.factory+":"+e.name)
	}
	return names
}

// A camera on the CPU with a viewer: depay → parse → decoder → convert → caps, then a tee into
// the inference and viewer branches.
func TestDecodeSpecCameraWithViewer(t *testing.T) {
	Init("", "")
	stamped := false
	s := decodeSpec(chainOptions{codec: CodecH265, decoder: "avdec_h265", depay: true, queue: 3, infer: 7, viewer: 9,
		stamp: func(*gogst.Pad) { stamped = true }})
	want := []string{"rtph265depay:depay", "h265parse:parse", "avdec_h265:dec", "videoconvert:convert", "capsfilter:rawcaps",
		"tee:split", "queue:inferqueue", InferSinkFactory + ":infer", "queue:viewerqueue", InferSinkFactory + ":viewer"}
	if got := specNames(s); !slices.Equal(got, want) {
		t.Errorf("elements %v,\nwant %v", got, want)
	}
	wantLinks := [][]string{{"depay", "parse", "dec", "convert", "rawcaps", "split"}, {"split", "inferqueue", "infer"},
		{"split", "viewerqueue", "viewer"}}
	if got := s.links(); !slices.EqualFunc(got, wantLinks, slices.Equal) {
		t.Errorf("links %v, want %v", got, wantLinks)
	}
	byName := map[string]elementSpec{}
	for _, e := range s.elements() {
		byName[e.name] = e
	}
	if byName["depay"].probe == nil {
		t.Error("the depayloader has no timestamp guard")
	}
	if byName["dec"].probe == nil {
		t.Error("the decoder's frames are not stamped")
	} else if byName["dec"].probe(nil); !stamped {
		t.Error("the decoder's probe is not the stamper given")
	}
	if got := byName["dec"].props["thread-type"]; got != enumArg("slice") {
		t.Errorf("a live CPU decoder's thread-type is %v, want slice", got)
	}
	if got := byName["inferqueue"].props["max-size-buffers"]; got != uint(3) {
		t.Errorf("inference queue holds %v frames, want 3", got)
	}
	if got := byName["viewer"].props["handler-id"]; got != uint64(9) {
		t.Errorf("viewer sink's handler %v, want 9", got)
	}
}

// A paced file on the GPU without a viewer: no depayloader, clocksync before NVDEC, no
// conversion, one branch linked straight on.
func TestDecodeSpecPacedFileCUDA(t *testing.T) {
	Init("", "")
	s := decodeSpec(chainOptions{codec: CodecH264, decoder: "nvh264dec", cuda: true, pace: true, paceDelay: time.Second, queue: 4, infer: 1})
	want := []string{"h264parse:parse", "clocksync:pace", "nvh264dec:dec", "capsfilter:rawcaps", "queue:inferqueue", InferSinkFactory + ":infer"}
	if got := specNames(s); !slices.Equal(got, want) {
		t.Errorf("elements %v,\nwant %v", got, want)
	}
	if got := s.links(); len(got) != 1 || !slices.Equal(got[0], []string{"parse", "pace", "dec", "rawcaps", "inferqueue", "infer"}) {
		t.Errorf("links %v, want one run through every element", got)
	}
	if got := s.stages[1].props["ts-offset"]; got != int64(time.Second) {
		t.Errorf("pace ts-offset %v, want 1s in ns", got)
	}
	if _, ok := s.stages[2].props["thread-type"]; ok {
		t.Error("NVDEC got avdec's thread-type")
	}
}

// An unpaced file decodes flat out: avdec keeps its automatic threading.
func TestDecodeSpecUnpacedFileThreads(t *testing.T) {
	Init("", "")
	s := decodeSpec(chainOptions{codec: CodecH264, decoder: "avdec_h264", queue: 4, infer: 1})
	for _, e := range s.stages {
		if e.name == nameDecoder && e.props["thread-type"] != nil {
			t.Errorf("unpaced file decoder thread-type %v, want none set", e.props["thread-type"])
		}
	}
}

func TestStreamCodec(t *testing.T) {
	for enc, want := range map[string]string{"H264": CodecH264, "H265": CodecH265, "HEVC": CodecH265} {
		if got, ok := streamCodec(enc); !ok || got != want {
			t.Errorf("streamCodec(%q) = %q, %v; want %q", enc, got, ok, want)
		}
	}
	if got, ok := streamCodec("MP4V-ES"); ok || got != "MP4V-ES" {
		t.Errorf("streamCodec(MP4V-ES) = %q, %v; want it refused by name", got, ok)
	}
}

// The chain builds into a pipeline and links by name, tee included.
func TestChainBuilds(t *testing.T) {
	Init("", "")
	pl, err := gogst.NewPipeline("chain-test")
	if err != nil {
		t.Fatal(err)
	}
	s := chainSpec{codec: CodecH264,
		stages: []elementSpec{{factory: "identity", name: "a"}, {factory: "capsfilter", name: "b"}},
		branches: [][]elementSpec{
			{{factory: "queue", name: "q1", props: map[string]any{"max-size-buffers": uint(2)}}, {factory: "fakesink", name: "s1"}},
			{{factory: "queue", name: "q2", props: map[string]any{"leaky": enumArg("downstream")}}, {factory: "fakesink", name: "s2"}},
		}}
	c, err := s.build(pl)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.SetState(gogst.StateNull)
	if c.first.GetName() != "a" {
		t.Errorf("first element %s, want a", c.first.GetName())
	}
	for _, pair := range [][2]string{{"a", "b"}, {"b", nameTee}, {"q1", "s1"}, {"q2", "s2"}} {
		peer := c.byName[pair[0]].GetStaticPad("src").GetPeer()
		if peer == nil || peer.GetParentElement().GetName() != pair[1] {
			t.Errorf("%s is not linked to %s", pair[0], pair[1])
		}
	}
	if v, _ := c.byName["q1"].GetProperty("max-size-buffers"); v != uint(2) {
		t.Errorf("q1 max-size-buffers %v, want 2", v)
	}
	if _, err := (chainSpec{stages: []elementSpec{{factory: "gstvision-no-such-element", name: "x"}},
		branches: [][]elementSpec{{{factory: "fakesink", name: "y"}}}}).build(pl); err == nil {
		t.Error("a chain with a missing element built")
	}
}

// A camera with a passthrough handler: a tee right after the parser feeds the access-unit sink
// (byte-stream, one access unit a buffer) before any decoding; the decode chain goes on from
// the same tee.
func TestDecodeSpecPassthrough(t *testing.T) {
	Init("", "")
	s := decodeSpec(chainOptions{codec: CodecH264, decoder: "avdec_h264", depay: true, queue: 3, infer: 7, viewer: 9, pass: 11})
	want := []string{"rtph264depay:depay", "h264parse:parse", "tee:parsetee", "avdec_h264:dec", "videoconvert:convert",
		"capsfilter:rawcaps", "tee:split", "queue:inferqueue", InferSinkFactory + ":infer", "queue:viewerqueue",
		InferSinkFactory + ":viewer", "queue:passqueue", "capsfilter:passcaps", AUSinkFactory + ":pass"}
	if got := specNames(s); !slices.Equal(got, want) {
		t.Errorf("elements %v,\nwant %v", got, want)
	}
	wantLinks := [][]string{{"depay", "parse", "parsetee", "dec", "convert", "rawcaps", "split"},
		{"split", "inferqueue", "infer"}, {"split", "viewerqueue", "viewer"}, {"parsetee", "passqueue", "passcaps", "pass"}}
	if got := s.links(); !slices.EqualFunc(got, wantLinks, slices.Equal) {
		t.Errorf("links %v,\nwant %v", got, wantLinks)
	}
	for _, e := range s.elements() {
		switch e.name {
		case "pass":
			if e.props["handler-id"] != uint64(11) {
				t.Errorf("access-unit sink's handler %v, want 11", e.props["handler-id"])
			}
		case "passcaps":
			caps := e.props["caps"].(*gogst.Caps).String()
			if !strings.Contains(caps, "stream-format=(string)byte-stream") || !strings.Contains(caps, "alignment=(string)au") {
				t.Errorf("passthrough caps %s, want byte-stream access units", caps)
			}
		}
	}
	if s := decodeSpec(chainOptions{codec: CodecH264, decoder: "avdec_h264", depay: true, queue: 3, infer: 7}); slices.Contains(specNames(s), "tee:parsetee") {
		t.Error("a passthrough branch without a passthrough handler")
	}
}
