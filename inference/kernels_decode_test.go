package inference

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unsafe"
)

// The decoding kernel's source builds with NVRTC alone and has every entry point the backend
// looks up; its records are the size candidateRecord reads.
func TestDecodeSource(t *testing.T) {
	src := decodeSource()
	for _, byType := range candidateEntries {
		for _, fn := range byType {
			if !regexp.MustCompile(`CANDIDATES_ENTRY\(` + fn + `,`).MatchString(src) {
				t.Errorf("decoding source has no entry point %s", fn)
			}
		}
	}
	for half := range 2 {
		if !strings.Contains(src, "CANDIDATES_NAS_ENTRY("+nasEntries[half]+",") || !strings.Contains(src, "NORMALIZE_ENTRY("+normalizeEntries[half]+",") {
			t.Errorf("decoding source lacks %s or %s", nasEntries[half], normalizeEntries[half])
		}
	}
	if strings.Contains(src, "#include") {
		t.Error("decoding source includes a header; it must build with NVRTC alone")
	}
	for _, helper := range []string{"typedef unsigned short u16;", "f16_to_f32"} {
		if !strings.Contains(src, helper) {
			t.Errorf("decoding source lacks cuda's helper %q", helper)
		}
	}
	if strings.Count(src, "{") != strings.Count(src, "}") || strings.Count(src, "(") != strings.Count(src, ")") {
		t.Error("decoding source has unbalanced braces or parentheses")
	}
	if def := fmt.Sprintf("#define CAND_WORDS %d\n", candidateWords); !strings.Contains(src, def) {
		t.Errorf("decoding source does not define %q", def)
	}
	if got := int(unsafe.Sizeof(candidateRecord{})); got != 4*candidateWords {
		t.Errorf("candidateRecord is %d bytes, the kernel writes %d", got, 4*candidateWords)
	}
}
