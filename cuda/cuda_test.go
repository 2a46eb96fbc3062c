package cuda

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/overlay/font"
)

// On a machine without the NVIDIA driver, Open must fail with ErrNoDriver and say what to fix.
func TestOpenWithoutDriver(t *testing.T) {
	c, err := Open(0)
	if err == nil {
		c.Close()
		t.Skip("a CUDA driver and device are present; this test is for machines without one")
	}
	if errors.Is(err, ErrNoDevice) {
		t.Skipf("driver present but no device: %v", err)
	}
	if !errors.Is(err, ErrNoDriver) {
		t.Fatalf("Open(0) = %v, want an error wrapping ErrNoDriver", err)
	}
	for _, want := range []string{"libcuda.so.1", "--gpus", "NVIDIA_DRIVER_CAPABILITIES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNoNVRTC(t *testing.T) {
	if nvrtc.loaded {
		t.Skip("NVRTC already loaded in this process")
	}
	names := []string{"libnvrtc-gstvision-missing.so.99", "/nonexistent/libnvrtc.so"}
	err := loadNVRTCFrom(names)
	if !errors.Is(err, ErrNoNVRTC) {
		t.Fatalf("loadNVRTCFrom(%v) = %v, want ErrNoNVRTC", names, err)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %q", err, n)
		}
	}
	if !strings.Contains(nvrtcLibraries[0], "libnvrtc.so.13") {
		t.Errorf("first NVRTC candidate is %q, want the CUDA 13 soname", nvrtcLibraries[0])
	}
}

func TestKernelSourceEntryPoints(t *testing.T) {
	src := KernelSource()
	for _, fn := range KernelEntryPoints() {
		// entry points are extern "C" __global__, either directly or through an *_ENTRY macro
		direct := regexp.MustCompile(`extern "C" __global__ void ` + fn + `\(`)
		macro := regexp.MustCompile(`LETTERBOX_ENTRY\(` + fn + `,`)
		if !direct.MatchString(src) && !macro.MatchString(src) {
			t.Errorf("kernel source has no extern \"C\" entry point %s", fn)
		}
	}
	if strings.Contains(src, "#include") {
		t.Error("kernel source includes a header; it must build with NVRTC alone")
	}
	if strings.Count(src, "{") != strings.Count(src, "}") || strings.Count(src, "(") != strings.Count(src, ")") {
		t.Error("kernel source has unbalanced braces or parentheses")
	}
	// The luma/chroma constants must be the CPU reference's (inference/preprocess.go).
	for _, c := range []string{"1.164383", "1.596027", "0.391762", "0.812968", "2.017232"} {
		if !strings.Contains(src, c) {
			t.Errorf("kernel source lacks the BT.601 constant %s", c)
		}
	}
}

// Compiles the kernels with whatever NVRTC is around (no GPU needed): $GSTVISION_NVRTC or the
// usual sonames. Skipped where there is none.
func TestKernelSourceCompiles(t *testing.T) {
	names := nvrtcLibraries
	if p := os.Getenv(NVRTCEnv); p != "" {
		names = append([]string{p}, names...)
	}
	if err := loadNVRTCFrom(names); err != nil {
		t.Skipf("no NVRTC here (set %s to a libnvrtc to run this): %v", NVRTCEnv, err)
	}
	archs := supportedArchs()
	target := 90
	if len(archs) > 0 && !containsInt(archs, 90) {
		target = archs[len(archs)-1]
	}
	img, tgt, log, err := compileFor(target, "gstvision_kernels.cu", KernelSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(img) < 100 {
		t.Fatalf("compiled image for %s is %d bytes", tgt, len(img))
	}
	t.Logf("compiled for %s: %d bytes; NVRTC supports %v; log: %q", tgt, len(img), archs, log)
	// PTX also compiles (the fallback path)
	if _, _, _, err := nvrtcCompile("gstvision_kernels.cu", KernelSource(), "compute_"+itoa(target), false, nil); err != nil {
		t.Fatal(err)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

// TestFontSource parses the glyph table out of the kernels' source and checks it against
// package font, which the CPU drawer reads: the GPU draws the same glyphs.
func TestFontSource(t *testing.T) {
	src := KernelSource()
	for name, want := range map[string]int{"FONT_W": font.Width, "FONT_H": font.Height, "FONT_ADVANCE": font.Advance,
		"FONT_FIRST": font.First, "FONT_LAST": font.Last} {
		if !strings.Contains(src, fmt.Sprintf("#define %s %d\n", name, want)) {
			t.Errorf("the kernel source lacks #define %s %d", name, want)
		}
	}
	gpu := parseFontTable(t, src)
	if len(gpu) != font.Count {
		t.Fatalf("gv_font has %d glyphs, want %d", len(gpu), font.Count)
	}
	for i, rows := range gpu {
		if c := byte(font.First + i); rows != font.Of(c) {
			t.Errorf("%q: GPU rows %x, CPU rows %x", c, rows, font.Of(c))
		}
	}
	// The glyphs that once differed between the two copies, drawn from the GPU's table.
	for c, want := range map[byte][font.Height]string{
		'"': {".#.#.", ".#.#.", ".#.#.", ".....", ".....", ".....", "....."},
		'p': {".....", "####.", "#...#", "#...#", "####.", "#....", "#...."},
		'q': {".....", ".####", "#...#", "#...#", ".####", "....#", "....#"},
	} {
		g := font.Glyph(gpu[c-font.First])
		for r, row := range want {
			var got strings.Builder
			for col := range font.Width {
				got.WriteByte(".#"[b2i(g.Ink(col, r))])
			}
			if got.String() != row {
				t.Errorf("%q row %d on the GPU: %s, want %s", c, r, got.String(), row)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseFontTable reads the rows of the gv_font array in a kernel source.
func parseFontTable(t *testing.T, src string) [][font.Height]uint8 {
	t.Helper()
	_, body, ok := strings.Cut(src, fmt.Sprintf("__constant__ unsigned char gv_font[%d][%d] = {\n", font.Count, font.Height))
	if !ok {
		t.Fatal("no gv_font array in the kernel source")
	}
	body, _, _ = strings.Cut(body, "};")
	var out [][font.Height]uint8
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		vals := strings.Split(strings.Trim(strings.TrimSpace(line), "{},"), ", ")
		if len(vals) != font.Height {
			t.Fatalf("gv_font row %q: %d values, want %d", line, len(vals), font.Height)
		}
		var rows [font.Height]uint8
		for r, v := range vals {
			n, err := strconv.ParseUint(v, 0, 8)
			if err != nil {
				t.Fatalf("gv_font row %q: %v", line, err)
			}
			rows[r] = uint8(n)
		}
		out = append(out, rows)
	}
	return out
}

func TestArgsPacking(t *testing.T) {
	var a Args
	a.Ptr(0x1122334455667788).Int32(-2).Float32(1.5).Int32(7).Uint64(9)
	if a.err != nil {
		t.Fatal(a.err)
	}
	// pointer at 0, int at 8, float at 12, int at 16, u64 aligned to 24
	want := []int{0, 8, 12, 16, 24}
	for i, w := range want {
		if int(a.off[i]) != w {
			t.Errorf("parameter %d at offset %d, want %d", i, a.off[i], w)
		}
	}
	if a.size != 32 || a.n != 5 {
		t.Errorf("size %d n %d, want 32 and 5", a.size, a.n)
	}
	a.Reset()
	for i := 0; i < 200; i++ {
		a.Uint64(1)
	}
	if !errors.Is(a.err, ErrInvalidArgument) {
		t.Errorf("overflowing Args: err = %v", a.err)
	}
}

func TestRGBToYUV(t *testing.T) {
	for _, c := range []struct {
		rgb     [3]uint8
		y, u, v int32
	}{
		{[3]uint8{0, 0, 0}, 16, 128, 128},
		{[3]uint8{255, 255, 255}, 235, 128, 128},
		{[3]uint8{255, 0, 0}, 81, 90, 240},
		{[3]uint8{0, 255, 0}, 145, 54, 34},
		{[3]uint8{0, 0, 255}, 41, 240, 110},
	} {
		p := rgbToYUV(c.rgb)
		if y, u, v := p&0xff, (p>>8)&0xff, (p>>16)&0xff; y != c.y || u != c.u || v != c.v {
			t.Errorf("rgbToYUV(%v) = %d,%d,%d want %d,%d,%d", c.rgb, y, u, v, c.y, c.u, c.v)
		}
	}
}

func TestLayoutBoxes(t *testing.T) {
	const w, h = 1920, 1080
	recs := make([]int32, 4*boxFields)
	text := make([]byte, 4*MaxLabel)
	boxes := []Box{
		{X1: 101, Y1: 201, X2: 301, Y2: 401, Color: [3]uint8{255, 0, 0}, Text: "red block 0.93"},
		{X1: -50, Y1: 10, X2: 20, Y2: 30, Color: [3]uint8{0, 255, 0}, Text: "edge"},          // clipped; label inside (no room above)
		{X1: 3000, Y1: 10, X2: 3100, Y2: 30, Color: [3]uint8{0, 0, 255}, Text: "gone"},       // outside: skipped
		{X1: 1900, Y1: 500, X2: 1800, Y2: 600, Color: [3]uint8{9, 9, 9}, Text: "wide label"}, // reversed x
	}
	n, region := layoutBoxes(recs, text, w, h, boxes)
	if n != 3 {
		t.Fatalf("laid out %d boxes, want 3", n)
	}
	r := recs[:boxFields]
	if r[boxX1] != 100 || r[boxY1] != 200 || r[boxX2] != 302 || r[boxY2] != 402 {
		t.Errorf("box 0 outline %v, want even-aligned 100,200,302,402", r[:4])
	}
	thick, scale := drawStyle(h)
	if r[boxThick] != int32(thick) || r[boxScale] != int32(scale) || thick%2 != 0 {
		t.Errorf("thickness %d scale %d", r[boxThick], r[boxScale])
	}
	if r[boxBarY2] != r[boxY1] || r[boxBarY1] >= r[boxY1] {
		t.Errorf("box 0 label bar %v should sit on top of the box at y %d", r[boxBarX1:boxBarY2+1], r[boxY1])
	}
	if string(text[r[boxTextOff]:r[boxTextOff]+r[boxTextLen]]) != "red block 0.93" {
		t.Errorf("label text %q", text[r[boxTextOff]:r[boxTextOff]+r[boxTextLen]])
	}
	wantW := int32((len("red block 0.93")*font.Advance-1)*scale + 2*scale)
	if got := r[boxBarX2] - r[boxBarX1]; got < wantW || got > wantW+1 {
		t.Errorf("label bar is %d wide, want %d", got, wantW)
	}
	r1 := recs[boxFields : 2*boxFields]
	if r1[boxX1] != 0 || r1[boxBarY1] != r1[boxY1] {
		t.Errorf("clipped box %v: want x1 0 and the label inside the top edge", r1)
	}
	r2 := recs[2*boxFields : 3*boxFields]
	if r2[boxX1] != 1800 || r2[boxX2] != 1900 || r2[boxBarX2] > w {
		t.Errorf("reversed box %v", r2)
	}
	if r2[boxTextColor] != yuvWhite || r[boxTextColor] != yuvWhite {
		t.Errorf("dark colours should get white text")
	}
	for i, v := range region {
		if v%2 != 0 && v != w && v != h {
			t.Errorf("region %v not even-aligned at %d", region, i)
		}
	}
	if region[0] != 0 || region[2] != w-0 && region[2] < 1900 {
		t.Errorf("region %v", region)
	}
}
