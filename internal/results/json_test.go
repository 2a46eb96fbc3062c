package results

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
)

func sampleResult() Result {
	return Result{
		Camera: "cam1",
		Frame:  123,
		PTS:    4100 * time.Millisecond,
		Time:   time.Date(2026, 11, 25, 21, 3, 4, 123456789, time.UTC),
		Width:  640,
		Height: 360,
		Detections: []defs.Detection{
			{ClassID: 0, Label: "red block", Score: 0.93, Box: [4]float32{10, 20.5, 110.25, 220}},
		},
	}
}

func TestAppendJSONGolden(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{
			name: "one detection",
			r:    sampleResult(),
			want: `{"camera":"cam1","frame":123,"pts":4100000000,"ts":"2026-11-25T21:03:04.123456789Z","width":640,"height":360,"detections":[{"class_id":0,"label":"red block","score":0.93,"box":[10,20.5,110.25,220]}]}`,
		},
		{
			name: "nil detections, local time converted to UTC, trailing zeros trimmed",
			r:    Result{Camera: "c", Frame: 0, PTS: -1, Time: time.Date(2026, 1, 2, 4, 5, 6, 120000000, zone)},
			want: `{"camera":"c","frame":0,"pts":-1,"ts":"2026-01-02T03:05:06.12Z","width":0,"height":0,"detections":[]}`,
		},
		{
			name: "empty detections, whole second",
			r:    Result{Camera: "c", Time: time.Date(2026, 1, 2, 3, 5, 6, 0, time.UTC), Detections: []defs.Detection{}},
			want: `{"camera":"c","frame":0,"pts":0,"ts":"2026-01-02T03:05:06Z","width":0,"height":0,"detections":[]}`,
		},
		{
			name: "escaping, tiny and huge floats, NaN and Inf",
			r: Result{
				Camera: "a\"b\\c\n\x01<&>\u2028\xff",
				Time:   time.Date(2026, 1, 2, 3, 5, 6, 1, time.UTC),
				Detections: []defs.Detection{
					{ClassID: 7, Label: "\t", Score: 1e-7, Box: [4]float32{1e21, -0.5, float32(math.NaN()), float32(math.Inf(-1))}},
					{ClassID: -1, Label: "", Score: 0},
				},
			},
			want: `{"camera":"a\"b\\c\n\u0001<&>\u2028\ufffd","frame":0,"pts":0,"ts":"2026-01-02T03:05:06.000000001Z","width":0,"height":0,"detections":[{"class_id":7,"label":"\t","score":1e-7,"box":[1e+21,-0.5,null,null]},{"class_id":-1,"label":"","score":0,"box":[0,0,0,0]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendJSON([]byte("prefix"), &tt.r)
			if string(got) != "prefix"+tt.want {
				t.Errorf("AppendJSON:\n got %s\nwant prefix%s", got, tt.want)
			}
			if !json.Valid(got[len("prefix"):]) {
				t.Errorf("invalid JSON: %s", got)
			}
			m, err := json.Marshal(tt.r)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			// encoding/json compacts MarshalJSON output but also HTML-escapes it.
			var want bytes.Buffer
			json.HTMLEscape(&want, []byte(tt.want))
			if string(m) != want.String() {
				t.Errorf("json.Marshal:\n got %s\nwant %s", m, want.String())
			}
		})
	}
}

// plainResult has Result's fields and tags but not its MarshalJSON method.
type plainResult Result

// TestAppendJSONMatchesEncodingJSON checks that, for finite values, the hand-rolled encoder writes
// byte for byte what encoding/json writes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := sampleResult()
	r.Camera = "cam \"x\" \\ \u00e9\u2029\x7f\x1f"
	r.Detections = append(r.Detections,
		defs.Detection{ClassID: 3, Label: "b\bf\fr\r", Score: 0.1, Box: [4]float32{1.5e-7, 123456789, 3.4028235e38, -1e-45}},
		defs.Detection{ClassID: 1 << 40, Label: "x", Score: 0.3333333, Box: [4]float32{999999, 1e20, 1e-6, 0.000001}},
		defs.Detection{ClassID: 2, Label: "tracked", Score: 0.5, TrackID: 12, Box: [4]float32{1, 2, 3, 4}},
		defs.Detection{ClassID: 2, Label: "max", Score: 0.5, TrackID: math.MaxUint64, Box: [4]float32{1, 2, 3, 4}},
	)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(plainResult(r)); err != nil {
		t.Fatal(err)
	}
	want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if got := AppendJSON(nil, &r); !bytes.Equal(got, want) {
		t.Errorf("AppendJSON differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

func TestAppendJSONNoAllocs(t *testing.T) {
	r := sampleResult()
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &r) })
	if allocs != 0 {
		t.Errorf("AppendJSON allocates %v times per call with a big enough buffer", allocs)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("cam1", uint64(123), int64(4100000000), int64(1795640584123456789), 640, 360, 0, "red block", float32(0.93), float32(10), float32(20), float32(30), float32(40), 1)
	f.Add("", uint64(0), int64(0), int64(0), 0, 0, 0, "", float32(0), float32(0), float32(0), float32(0), float32(0), 0)
	f.Add("\xff\u2028\"\\\x00", uint64(math.MaxUint64), int64(math.MinInt64), int64(-62135596800000000000/10), -1, -2, -3, "\n\t<>&", float32(1e-7), float32(1e21), float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), 3)
	f.Fuzz(func(t *testing.T, camera string, frame uint64, pts, unixNano int64, w, h, class int, label string, score, x1, y1, x2, y2 float32, n int) {
		r := Result{
			Camera: camera, Frame: frame, PTS: time.Duration(pts),
			Time:  time.Unix(0, unixNano),
			Width: w, Height: h,
		}
		n = int(uint(n) % 4)
		for i := range n {
			r.Detections = append(r.Detections, defs.Detection{
				ClassID: class + i, Label: label, Score: score, Box: [4]float32{x1, y1, x2, y2},
			})
		}
		out := AppendJSON(nil, &r)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %q", out)
		}
		var got Result
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", out, err)
		}
		want := r
		want.Time = r.Time.UTC()
		want.Camera = toValidUTF8(camera)
		want.Detections = []defs.Detection{}
		for _, d := range r.Detections {
			d.Label = toValidUTF8(d.Label)
			d.Score = finiteOrZero(d.Score)
			for j := range d.Box {
				d.Box[j] = finiteOrZero(d.Box[j])
			}
			want.Detections = append(want.Detections, d)
		}
		if !got.Time.Equal(want.Time) {
			t.Fatalf("ts: got %v, want %v (%s)", got.Time, want.Time, out)
		}
		got.Time, want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v\njson %s", got, want, out)
		}
	})
}

// toValidUTF8 replaces each invalid byte by U+FFFD, as encoding/json does.
func toValidUTF8(s string) string {
	var b []byte
	for _, c := range s { // ranging yields U+FFFD for each invalid byte
		b = append(b, string(c)...)
	}
	return string(b)
}

func finiteOrZero(f float32) float32 {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return 0
	}
	return f
}

func benchResult(detections int) Result {
	r := sampleResult()
	r.Detections = nil
	for i := range detections {
		r.Detections = append(r.Detections, defs.Detection{
			ClassID: i % 3, Label: "red block", Score: 0.87654, Box: [4]float32{12.5, 40.25, 200.75, 333.125},
		})
	}
	return r
}

func BenchmarkAppendJSON(b *testing.B) {
	for _, n := range []int{0, 5, 50} {
		r := benchResult(n)
		b.Run(strconv.Itoa(n)+"dets", func(b *testing.B) {
			buf := make([]byte, 0, 8192)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendJSON(buf[:0], &r)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkEncodingJSON is the stdlib baseline for BenchmarkAppendJSON.
func BenchmarkEncodingJSON(b *testing.B) {
	for _, n := range []int{0, 5, 50} {
		r := plainResult(benchResult(n))
		b.Run(strconv.Itoa(n)+"dets", func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := json.Marshal(&r)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.SetBytes(int64(size))
		})
	}
}
