package gst

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Each codec decodes with the device's own decoders, best first; no other codec has any.
func TestDecoder(t *testing.T) {
	for _, c := range []struct {
		codec string
		cuda  bool
		want  []string
	}{
		{CodecH264, false, []string{"avdec_h264", "openh264dec"}},
		{CodecH265, false, []string{"avdec_h265", "libde265dec"}},
		{CodecH264, true, []string{"nvh264dec"}},
		{CodecH265, true, []string{"nvh265dec"}},
		{"MJPEG", false, nil},
		{"MJPEG", true, nil},
	} {
		r, ok := Decoder(c.codec, c.cuda)
		if !slices.Equal(r.Elements, c.want) || ok != (c.want != nil) {
			t.Errorf("Decoder(%q, cuda %v) = %v, %v; want %v", c.codec, c.cuda, r.Elements, ok, c.want)
		}
	}
}

// What a device cannot run without: the receiving path on both, then its own decoder and
// conversion; H.265 decoders and the viewer's encoders never (they serve some cameras, or the
// viewer, only).
func TestRequirementsRequired(t *testing.T) {
	required := func(cuda bool) []string {
		var names []string
		for _, r := range Requirements(cuda) {
			if r.Required {
				names = append(names, r.Elements[0])
			}
		}
		return names
	}
	common := []string{"rtspsrc", "rtph264depay", "rtph265depay", "h264parse", "h265parse", "queue"}
	if got, want := required(false), append(slices.Clone(common), "videoconvert", "avdec_h264"); !slices.Equal(got, want) {
		t.Errorf("cpu requires %v, want %v", got, want)
	}
	if got, want := required(true), append(slices.Clone(common), "nvh264dec"); !slices.Equal(got, want) {
		t.Errorf("cuda requires %v, want %v", got, want)
	}
}

// Every row can be shown and fixed; a caller cannot change the table through what it got.
func TestRequirementsRows(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Requirements(false) {
		if len(r.Elements) == 0 || r.What == "" || r.Hint == "" {
			t.Errorf("incomplete requirement %+v", r)
			continue
		}
		if seen[r.Elements[0]] {
			t.Errorf("two requirements are named after %s", r.Elements[0])
		}
		seen[r.Elements[0]] = true
	}
	Requirements(false)[0].Elements[0] = "changed"
	if Requirements(false)[0].Elements[0] == "changed" {
		t.Error("Requirements shares its element lists with the table")
	}
}

func TestReceive(t *testing.T) {
	var got []string
	for _, r := range Receive(CodecH265) {
		got = append(got, r.Elements...)
	}
	if want := []string{"rtspsrc", "rtph265depay", "h265parse"}; !slices.Equal(got, want) {
		t.Errorf("Receive(H265) needs %v, want %v", got, want)
	}
	if r := Receive("MJPEG"); r != nil {
		t.Errorf("Receive(MJPEG) = %v, want nil", r)
	}
}

// Found and Missing look at what GStreamer has registered.
func TestRequirementFound(t *testing.T) {
	Init("", "")
	core, _ := lookup(RoleCore, "", false)
	if got := core.Found(); got != "queue, capsfilter, tee" {
		t.Errorf("core elements found as %q, want all three", got)
	}
	if err := core.Missing(); err != nil {
		t.Errorf("core elements missing: %v", err)
	}
	partial := Requirement{Elements: []string{"queue", "gstvision-no-such-element"}, AllOf: true, What: "both", Hint: "install both"}
	if got := partial.Found(); got != "" {
		t.Errorf("all of a registered and a missing element found as %q", got)
	}
	anyOf := Requirement{Elements: []string{"gstvision-no-such-element", "queue"}, What: "either", Hint: "install one"}
	if got := anyOf.Found(); got != "queue" {
		t.Errorf("one of a missing and a registered element found as %q, want queue", got)
	}
	err := partial.Missing()
	if !errors.Is(err, ErrMissingElement) || !strings.Contains(err.Error(), "gstvision-no-such-element") ||
		!strings.Contains(err.Error(), "install both") {
		t.Errorf("Missing = %v, want ErrMissingElement naming the elements and the hint", err)
	}
}

// TestNVDecoderForWithoutNVDEC: without an NVDEC element (no GPU here), asking for GPU 1's
// decoder names what is missing instead of falling back to another element.
func TestNVDecoderForWithoutNVDEC(t *testing.T) {
	Init("", "")
	if HasElement("nvh264dec") {
		t.Skip("this machine has NVDEC")
	}
	_, err := NVDecoderFor(CodecH264, 1)
	if !errors.Is(err, ErrMissingElement) || !strings.Contains(err.Error(), "GPU 1") || !strings.Contains(err.Error(), "nvh264dec") {
		t.Errorf("err = %v, want ErrMissingElement naming GPU 1 and nvh264dec", err)
	}
}
