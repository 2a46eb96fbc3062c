package ortgpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// headers finds onnxruntime_c_api.h in the module cache (any onnxruntime_go version: OrtApi only
// grows at its end, so every version must agree on our slots).
func headers(t *testing.T) []string {
	t.Helper()
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, "go", "pkg", "mod")
		}
	}
	found, _ := filepath.Glob(filepath.Join(cache, "github.com", "yalue", "onnxruntime_go@*", "onnxruntime_c_api.h"))
	if len(found) == 0 {
		t.Skipf("no onnxruntime_c_api.h under %s (module cache absent): slot numbers not re-derived", cache)
	}
	return found
}

var (
	reBlockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	reLineComment  = regexp.MustCompile(`//[^\n]*`)
	reStatus       = regexp.MustCompile(`^ORT_API2_STATUS\(\s*(\w+)`)
	reAPIT         = regexp.MustCompile(`^ORT_API_T\([^,]*,\s*(\w+)`)
	reRelease      = regexp.MustCompile(`^ORT_CLASS_RELEASE\(\s*(\w+)`)
	rePlain        = regexp.MustCompile(`\(\s*ORT_API_CALL\s*\*\s*(\w+)\s*\)`)
)

// parseOrtAPI lists struct OrtApi's members in order, by the macros the header declares them
// with: ORT_API2_STATUS(Name, ...), ORT_API_T(Ret, Name, ...), ORT_CLASS_RELEASE(X) for
// ReleaseX, and plain function pointers (ORT_API_CALL* Name).
func parseOrtAPI(src string) ([]string, error) {
	start := strings.Index(src, "\nstruct OrtApi {")
	if start < 0 {
		return nil, os.ErrNotExist
	}
	body := src[start+len("\nstruct OrtApi {"):]
	end := strings.Index(body, "\n};")
	if end < 0 {
		return nil, os.ErrNotExist
	}
	body = reLineComment.ReplaceAllString(reBlockComment.ReplaceAllString(body[:end], ""), "")
	var names []string
	for _, m := range strings.Split(body, ";") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if r := reStatus.FindStringSubmatch(m); r != nil {
			names = append(names, r[1])
		} else if r := reAPIT.FindStringSubmatch(m); r != nil {
			names = append(names, r[1])
		} else if r := reRelease.FindStringSubmatch(m); r != nil {
			names = append(names, "Release"+r[1])
		} else if r := rePlain.FindStringSubmatch(m); r != nil {
			names = append(names, r[1])
		} else {
			return nil, &os.PathError{Op: "parse OrtApi member", Path: m[:min(len(m), 80)], Err: os.ErrInvalid}
		}
	}
	return names, nil
}

// The slot numbers must be the positions of the functions in struct OrtApi.
func TestSlotsMatchHeader(t *testing.T) {
	for _, h := range headers(t) {
		src, err := os.ReadFile(h)
		if err != nil {
			t.Fatal(err)
		}
		names, err := parseOrtAPI(string(src))
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		pos := map[string]int{}
		for i, n := range names {
			pos[n] = i
		}
		t.Logf("%s: OrtApi has %d members", h, len(names))
		for _, s := range apiSlots {
			got, ok := pos[s.name]
			if !ok {
				t.Errorf("%s: OrtApi has no member %s", h, s.name)
				continue
			}
			if got != s.slot {
				t.Errorf("%s: %s is OrtApi slot %d, slots.go says %d", h, s.name, got, s.slot)
			}
		}
	}
}

// A second derivation with the C compiler itself: offsetof(OrtApi, X)/sizeof(void*).
func TestSlotsMatchHeaderOffsetof(t *testing.T) {
	hs := headers(t)
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s): %v", cc, err)
	}
	for _, h := range hs {
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include \"onnxruntime_c_api.h\"\nint main(void) {\n")
		for _, s := range apiSlots {
			b.WriteString(`  printf("%s %zu\n", "` + s.name + `", offsetof(OrtApi, ` + s.name + `) / sizeof(void *));` + "\n")
		}
		b.WriteString("  return 0;\n}\n")
		if err := os.WriteFile(filepath.Join(dir, "slots.c"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(dir, "slots")
		if out, err := exec.Command(cc, "-I", filepath.Dir(h), "-o", exe, filepath.Join(dir, "slots.c")).CombinedOutput(); err != nil {
			t.Fatalf("compiling the offsetof check against %s: %v\n%s", h, err, out)
		}
		out, err := exec.Command(exe).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{}
		for _, s := range apiSlots {
			want[s.name] = s.slot
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				t.Fatalf("bad line %q", line)
			}
			got, _ := strconv.Atoi(f[1])
			if got != want[f[0]] {
				t.Errorf("%s: offsetof puts %s at slot %d, slots.go says %d", h, f[0], got, want[f[0]])
			}
		}
	}
}

// Every shim function id is bound exactly once.
func TestSlotTableComplete(t *testing.T) {
	seen := map[int]string{}
	for _, s := range apiSlots {
		if prev, ok := seen[int(s.id)]; ok {
			t.Errorf("shim id %d used by %s and %s", s.id, prev, s.name)
		}
		seen[int(s.id)] = s.name
		if strings.Contains(s.name, "CUDA") && s.slot < 150 {
			t.Errorf("%s at slot %d: CUDA provider functions came late to OrtApi", s.name, s.slot)
		}
	}
	if len(seen) != numShimFunctions {
		t.Errorf("%d functions bound, the shim has %d", len(seen), numShimFunctions)
	}
}
