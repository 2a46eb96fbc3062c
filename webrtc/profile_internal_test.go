package webrtc

import (
	"strings"
	"testing"
)

// entry is an offer's H.264 payload type for choosePassthroughCodec.
func entry(pt uint8, plid string, mode1 bool) offerCodec {
	id, ok := parseProfileLevelID(plid)
	if !ok {
		panic(plid)
	}
	return offerCodec{pt: pt, id: id, mode1: mode1, asymmetry: true}
}

// chromeOffer is Chrome's H.264 list, in its order.
var chromeOffer = []offerCodec{
	entry(102, "42001f", true), entry(104, "42001f", false), entry(106, "42e01f", true),
	entry(108, "42e01f", false), entry(112, "64001f", true), entry(114, "4d001f", true),
	entry(116, "640c1f", true),
}

// debianChromiumOffer is the H.264 list of Debian 12's Chromium 156 (no proprietary codecs):
// no high, but high 4:4:4 predictive.
var debianChromiumOffer = []offerCodec{
	entry(102, "42001f", true), entry(104, "42001f", false), entry(108, "42e01f", true),
	entry(114, "42e01f", false), entry(116, "4d001f", true), entry(39, "4d001f", false),
	entry(41, "f4001f", true), entry(43, "f4001f", false),
}

func TestProfileClasses(t *testing.T) {
	for plid, want := range map[string]h264Profile{
		"42e01f": profileConstrainedBaseline, "42c01f": profileConstrainedBaseline,
		"42001f": profileBaseline, "4d001f": profileMain, "4d4028": profileMain,
		"4d8028": profileConstrainedBaseline, "640028": profileHigh, "640c1f": profileConstrainedHigh,
		"640428": profileUnknown, "580028": profileUnknown, "f40028": profilePredictiveHigh444,
		"6e0028": profileUnknown,
	} {
		id, _ := parseProfileLevelID(plid)
		if got := id.profile(); got != want {
			t.Errorf("%s: %v, want %v", plid, got, want)
		}
	}
}

func TestChoosePassthroughCodec(t *testing.T) {
	cases := []struct {
		name   string
		offer  []offerCodec
		camera string // "" for no SPS yet
		ok     bool
		pt     uint8
		answer string
	}{
		{"high camera, Chrome", chromeOffer, "640028", true, 112, "640028"},
		{"main camera with constraint_set1", chromeOffer, "4d4029", true, 114, "4d4029"},
		{"constrained baseline camera", chromeOffer, "42e01e", true, 106, "42e01e"},
		{"constrained high camera", chromeOffer, "640c28", true, 116, "640c28"},
		{"main camera, offer without main: high decodes it", []offerCodec{
			entry(96, "42e01f", true), entry(98, "64001f", true)}, "4d0028", true, 98, "64001f"},
		{"constrained baseline camera, offer of high and main: main decodes less",
			[]offerCodec{entry(96, "64001f", true), entry(98, "4d001f", true)}, "42e01f", true, 98, "4d001f"},
		{"high camera, baseline-only offer", []offerCodec{
			entry(96, "42e01f", true), entry(98, "42001f", true)}, "640028", false, 0, ""},
		{"high camera, high only in mode 0", []offerCodec{
			entry(96, "42e01f", true), entry(98, "64001f", false)}, "640028", false, 0, ""},
		{"no SPS yet: the most capable", chromeOffer, "", true, 112, "64001f"},
		{"high 10 camera: no class, no entry", append([]offerCodec{entry(96, "6e001f", true)}, chromeOffer...),
			"6e0028", false, 0, ""},
		{"high camera, Debian's Chromium: high 4:4:4 predictive decodes it", debianChromiumOffer, "64001e",
			true, 41, "f4001f"},
		{"no SPS yet, Debian's Chromium", debianChromiumOffer, "", true, 41, "f4001f"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cam, known := parseProfileLevelID(c.camera)
			got, ok := choosePassthroughCodec(c.offer, cam, known)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if ok && (got.pt != c.pt || got.answerID.String() != c.answer) {
				t.Errorf("payload type %d answering %s, want %d answering %s", got.pt, got.answerID, c.pt, c.answer)
			}
		})
	}
}

// TestAnswerLevelWithoutAsymmetry: an entry that does not allow level asymmetry keeps the
// offer's level in the answer.
func TestAnswerLevelWithoutAsymmetry(t *testing.T) {
	e := entry(96, "64001f", true)
	e.asymmetry = false
	cam, _ := parseProfileLevelID("640028")
	got, ok := choosePassthroughCodec([]offerCodec{e}, cam, true)
	if !ok || got.answerID.String() != "64001f" {
		t.Errorf("answer %s (ok %v), want 64001f", got.answerID, ok)
	}
}

func TestRewriteAnswer(t *testing.T) {
	c := passthroughCodec{offerCodec: entry(112, "64001f", true)}
	c.answerID, _ = parseProfileLevelID("640028")
	answer := "v=0\r\na=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f\r\n" +
		"a=fmtp:113 apt=112\r\n"
	got := c.rewriteAnswer(answer)
	want := "a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640028\r\n"
	if !strings.Contains(got, want) || !strings.Contains(got, "a=fmtp:113 apt=112\r\n") {
		t.Errorf("rewritten answer:\n%s", got)
	}
}
