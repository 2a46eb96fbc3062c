package inference

import (
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// v8Output builds a [n, 4+C, A] tensor from per-anchor rows (cx, cy, w, h, scores...).
func v8Output(rows [][][]float32) ([]float32, []int64) {
	n, a, ch := len(rows), len(rows[0]), len(rows[0][0])
	out := make([]float32, n*ch*a)
	for b := range n {
		for i := range a {
			for c := range ch {
				out[b*ch*a+c*a+i] = rows[b][i][c]
			}
		}
	}
	return out, []int64{int64(n), int64(ch), int64(a)}
}

func boxNear(a, b [4]float32) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-3 {
			return false
		}
	}
	return true
}

func TestDecodeV8(t *testing.T) {
	out, shape := v8Output([][][]float32{
		{ // image 0: must not leak into image 1
			{10, 10, 4, 4, 0.99, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0},
		},
		{
			{32, 32, 16, 8, 0.9, 0.1}, // class 0, 0.9
			{32, 32, 16, 8, 0.2, 0.3}, // best 0.3 < conf
			{2, 18, 8, 8, 0.1, 0.8},   // class 1 0.8, over the left edge
			{5, 5, 2, 2, 0.5, 0.5},    // 0.5 is not above conf 0.5
			{60, 40, 20, 10, 0.6, 0.7},
		},
	})
	got, err := Decode(out, shape, LayoutYOLOv8, 1, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := []Candidate{
		{Box: [4]float32{24, 28, 40, 36}, Score: 0.9, ClassID: 0},
		{Box: [4]float32{-2, 14, 6, 22}, Score: 0.8, ClassID: 1},
		{Box: [4]float32{50, 35, 70, 45}, Score: 0.7, ClassID: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].ClassID != want[i].ClassID || !near(got[i].Score, want[i].Score) || !boxNear(got[i].Box, want[i].Box) {
			t.Fatalf("candidate %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	// Mapped through a 128x64 frame's letterbox into 64x64 (scale 0.5, PadY 16), clipped.
	lb := NewLetterbox(128, 64, 64, 64)
	mapped := [][4]float32{{48, 24, 80, 40}, {0, 0, 12, 12}, {100, 38, 128, 58}}
	for i, m := range mapped {
		if s := lb.ToSource(got[i].Box); !boxNear(s, m) {
			t.Errorf("candidate %d maps to %v, want %v", i, s, m)
		}
	}
}

func TestDecodeV5(t *testing.T) {
	rows := [][]float32{
		{32, 32, 10, 10, 0.9, 0.5, 0.8}, // class 1, 0.9*0.8
		{20, 20, 10, 10, 0.2, 1, 1},     // objectness 0.2 <= conf: skipped before classes
		{20, 20, 10, 10, 0.6, 0.4, 0.3}, // 0.6*0.4 = 0.24 < 0.25
		{0, 0, 4, 4, 1, 0.3, 0.1},       // class 0, 0.3, box at the corner
	}
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	got, err := Decode(out, []int64{1, 4, 7}, LayoutYOLOv5, 0, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	want := []Candidate{
		{Box: [4]float32{27, 27, 37, 37}, Score: 0.72, ClassID: 1},
		{Box: [4]float32{-2, -2, 2, 2}, Score: 0.3, ClassID: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].ClassID != want[i].ClassID || !near(got[i].Score, want[i].Score) || !boxNear(got[i].Box, want[i].Box) {
			t.Fatalf("candidate %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// The corner box clips to the frame's top-left (640x640 frame, identity letterbox).
	if s := NewLetterbox(640, 640, 640, 640).ToSource(got[1].Box); !boxNear(s, [4]float32{0, 0, 2, 2}) {
		t.Errorf("clipped corner box %v", s)
	}
}

func TestDecodeErrors(t *testing.T) {
	out := make([]float32, 2*6*10)
	cases := []struct {
		name   string
		out    []float32
		shape  []int64
		layout Layout
		batch  int
		want   error
	}{
		{"rank 2", out, []int64{6, 10}, LayoutYOLOv8, 0, ErrBadOutput},
		{"short data", out[:50], []int64{2, 6, 10}, LayoutYOLOv8, 0, ErrBadOutput},
		{"batch index", out, []int64{2, 6, 10}, LayoutYOLOv8, 2, ErrBatch},
		{"v8 without classes", out, []int64{2, 4, 15}, LayoutYOLOv8, 0, ErrBadOutput},
		{"v5 without classes", out, []int64{2, 12, 5}, LayoutYOLOv5, 0, ErrBadOutput},
		{"unknown layout", out, []int64{2, 6, 10}, LayoutUnknown, 0, ErrUnknownLayout},
	}
	for _, c := range cases {
		if _, err := Decode(c.out, c.shape, c.layout, c.batch, 0.5); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

func TestNMS(t *testing.T) {
	in := []Candidate{
		{Box: [4]float32{20, 20, 30, 30}, Score: 0.7, ClassID: 0}, // apart: kept
		{Box: [4]float32{1, 1, 11, 11}, Score: 0.8, ClassID: 0},   // IoU 81/119 with A: suppressed
		{Box: [4]float32{0, 0, 10, 10}, Score: 0.9, ClassID: 0},   // A
		{Box: [4]float32{1, 1, 11, 11}, Score: 0.85, ClassID: 1},  // same overlap, other class: kept
		{Box: [4]float32{5, 0, 15, 10}, Score: 0.6, ClassID: 0},   // IoU 1/3 with A: kept
		{Box: [4]float32{0, 0, 10, 15}, Score: 0.5, ClassID: 0},   // IoU 100/150 with A: suppressed
	}
	got := NMS(append([]Candidate(nil), in...), 0.5, 0)
	wantScores := []float32{0.9, 0.85, 0.7, 0.6}
	if len(got) != len(wantScores) {
		t.Fatalf("got %+v", got)
	}
	for i, s := range wantScores {
		if got[i].Score != s {
			t.Fatalf("kept %d: %+v, want score %v", i, got[i], s)
		}
	}
	if got := NMS(append([]Candidate(nil), in...), 0.5, 2); len(got) != 2 || got[1].Score != 0.85 {
		t.Fatalf("maxDet 2: %+v", got)
	}
	// IoU exactly at the threshold is not suppressed (strictly above is).
	edge := []Candidate{
		{Box: [4]float32{0, 0, 10, 10}, Score: 0.9},
		{Box: [4]float32{5, 0, 15, 10}, Score: 0.8}, // IoU 1/3
	}
	if got := NMS(edge, float32(50.0/150.0), 0); len(got) != 2 {
		t.Fatalf("IoU at threshold: %+v", got)
	}
	if got := NMS(nil, 0.5, 10); len(got) != 0 {
		t.Fatalf("empty: %+v", got)
	}
}

func TestIoU(t *testing.T) {
	if v := IoU([4]float32{0, 0, 10, 10}, [4]float32{1, 1, 11, 11}); !near(v, 81.0/119.0) {
		t.Errorf("IoU %v", v)
	}
	if v := IoU([4]float32{0, 0, 10, 10}, [4]float32{10, 0, 20, 10}); v != 0 {
		t.Errorf("touching IoU %v", v)
	}
	if v := IoU([4]float32{0, 0, 0, 0}, [4]float32{0, 0, 0, 0}); v != 0 {
		t.Errorf("empty IoU %v", v)
	}
}

func TestLoadLabels(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("# my classes\nperson\n\n  forklift  \n# trailing comment\npallet\n"), 0o644)
	labels, warn, err := LoadLabels(good, 3)
	if err != nil || warn != "" || strings.Join(labels, ",") != "person,forklift,pallet" {
		t.Fatalf("good: %v %q %v", labels, warn, err)
	}
	_, _, err = LoadLabels(good, 80)
	if !errors.Is(err, ErrLabels) || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), "3 labels") || !strings.Contains(err.Error(), "80 classes") {
		t.Fatalf("mismatch: %v", err)
	}
	_, _, err = LoadLabels(filepath.Join(dir, "none.txt"), 3)
	if !errors.Is(err, ErrLabels) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	coco, warn, err := LoadLabels("", 80)
	if err != nil || warn != "" || len(coco) != 80 || coco[0] != "person" || coco[79] != "toothbrush" {
		t.Fatalf("COCO default: %d labels %q %v", len(coco), warn, err)
	}
	coco[0] = "changed" // callers get their own copy
	if COCOLabels[0] != "person" {
		t.Fatal("LoadLabels returned the shared COCO slice")
	}
	generic, warn, err := LoadLabels("", 3)
	if err != nil || warn == "" || strings.Join(generic, ",") != "class0,class1,class2" {
		t.Fatalf("generic: %v %q %v", generic, warn, err)
	}
	fromModel, _, err := LabelsForModel("", ModelInfo{NumClasses: 2, Names: []string{"cat", "dog"}})
	if err != nil || strings.Join(fromModel, ",") != "cat,dog" {
		t.Fatalf("model names: %v %v", fromModel, err)
	}
}

func TestParseMetadata(t *testing.T) {
	if h, w, ok := parseImgsz("[480, 640]"); !ok || h != 480 || w != 640 {
		t.Errorf("imgsz: %d %d %v", h, w, ok)
	}
	names := parseNames(`{0: 'person', 1: "it's", 2: 'traffic light'}`)
	if strings.Join(names, "|") != "person|it's|traffic light" {
		t.Errorf("names %q", names)
	}
	if parseNames(`{0: 'a', 2: 'b'}`) != nil {
		t.Error("names with a gap accepted")
	}
}

// benchV8Output is a COCO-sized YOLOv8 output (84×8400) with low scores everywhere but 40
// anchors, as a typical frame.
func benchV8Output() ([]float32, []int64) {
	const c, a = 80, 8400
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]float32, (4+c)*a)
	for i := range a {
		out[i] = r.Float32() * 640
		out[a+i] = r.Float32() * 640
		out[2*a+i] = 10 + r.Float32()*100
		out[3*a+i] = 10 + r.Float32()*100
	}
	for i := 4 * a; i < len(out); i++ {
		out[i] = r.Float32() * 0.05
	}
	for k := range 40 {
		out[(4+k%c)*a+k*200] = 0.5 + float32(k)/100
	}
	return out, []int64{1, 4 + c, a}
}

func BenchmarkDecodeV8(b *testing.B) {
	out, shape := benchV8Output()
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		c, err := d.Decode(out, shape, LayoutYOLOv8, 0, 0.25)
		if err != nil || len(c) != 40 {
			b.Fatal(len(c), err)
		}
		NMS(c, 0.45, 300)
	}
}

// Score ties keep their input order (anchor order, as decoders return candidates), so both
// decoding paths keep the same boxes.
func TestNMSTiesKeepOrder(t *testing.T) {
	box := [4]float32{0, 0, 10, 10}
	in := []Candidate{
		{Box: box, Score: 0.8, ClassID: 0},                        // 0
		{Box: box, Score: 0.9, ClassID: 0},                        // 1: best
		{Box: box, Score: 0.8, ClassID: 1},                        // 2
		{Box: [4]float32{50, 50, 60, 60}, Score: 0.5, ClassID: 0}, // 3
		{Box: [4]float32{20, 20, 30, 30}, Score: 0.5, ClassID: 0}, // 4
		{Box: [4]float32{80, 80, 90, 90}, Score: 0.5, ClassID: 0}, // 5
		{Box: box, Score: -0.5, ClassID: 2},                       // 6: negative scores sort last
		{Box: box, Score: -0.1, ClassID: 3},                       // 7
	}
	got := NMS(slices.Clone(in), 0.5, 0)
	want := []int{1, 2, 3, 4, 5, 7, 6} // 0 is suppressed by 1
	if len(got) != len(want) {
		t.Fatalf("kept %+v, want inputs %v", got, want)
	}
	for i, w := range want {
		if got[i] != in[w] {
			t.Errorf("kept %d: %+v, want input %d %+v", i, got[i], w, in[w])
		}
	}
}

// manyCandidates is a low-threshold frame of a random-weight model: n boxes of classes classes,
// scattered and overlapping, scores in (0, 1) with some ties.
func manyCandidates(n, classes int, seed uint64) []Candidate {
	r := rand.New(rand.NewPCG(seed, 3))
	c := make([]Candidate, n)
	for i := range c {
		x, y := r.Float32()*600, r.Float32()*600
		w, h := 5+r.Float32()*80, 5+r.Float32()*80
		c[i] = Candidate{Box: [4]float32{x, y, x + w, y + h}, Score: float32(r.IntN(1000)) / 1000, ClassID: r.IntN(classes)}
	}
	return c
}

// bruteNMS is the textbook greedy NMS: every candidate against every kept box.
func bruteNMS(c []Candidate, iouThr float32, maxDet int) []Candidate {
	slices.SortStableFunc(c, func(a, b Candidate) int { return cmp.Compare(b.Score, a.Score) })
	var kept []Candidate
	for _, cand := range c {
		ok := true
		for _, k := range kept {
			if k.ClassID == cand.ClassID && IoU(k.Box, cand.Box) > iouThr {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, cand)
			if maxDet > 0 && len(kept) == maxDet {
				break
			}
		}
	}
	return kept
}

// The per-class chains keep exactly what the textbook algorithm keeps, in the same order.
func TestNMSMatchesBruteForce(t *testing.T) {
	var d Decoder
	for seed := range uint64(20) {
		n, classes, maxDet := 50+int(seed)*300, 1+int(seed)*7%80, []int{0, 300, 10}[seed%3]
		in := manyCandidates(n, classes, seed)
		want := bruteNMS(slices.Clone(in), 0.45, maxDet)
		got := d.NMS(slices.Clone(in), 0.45, maxDet)
		if len(got) != len(want) {
			t.Fatalf("seed %d (%d candidates, %d classes, maxDet %d): kept %d, want %d", seed, n, classes, maxDet, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("seed %d: kept %d is %+v, want %+v", seed, i, got[i], want[i])
			}
		}
	}
}

// 8,000 candidates of 80 classes: a random-weight YOLOv8n frame at confidence 0.25.
func BenchmarkNMSThousands(b *testing.B) {
	in := manyCandidates(8000, 80, 1)
	c := make([]Candidate, len(in))
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		copy(c, in)
		d.NMS(c, 0.45, 300)
	}
}

func BenchmarkNMSThousandsBrute(b *testing.B) {
	in := manyCandidates(8000, 80, 1)
	c := make([]Candidate, len(in))
	for b.Loop() {
		copy(c, in)
		bruteNMS(c, 0.45, 300)
	}
}
