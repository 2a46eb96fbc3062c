package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const zonesDoc = `{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/a",
  "zones": [{"name": "door", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6], [0.1, 0.6]], "classes": ["person"], "min_dwell_ms": 500}],
  "lines": [{"name": "gate", "points": [[0.5, 0], [0.5, 1]], "directions": ["in", "out"]}]}],
  "tracking": {"max_age": 45}}`

func TestParseZonesLinesTracking(t *testing.T) {
	c := mustParse(t, zonesDoc)
	cam := c.Cameras[0]
	if len(cam.Zones) != 1 || cam.Zones[0].Name != "door" || len(cam.Zones[0].Polygon) != 4 || cam.Zones[0].MinDwellMS != 500 {
		t.Fatalf("zones %+v", cam.Zones)
	}
	z := cam.Zones[0].Engine()
	if z.MinDwell.Milliseconds() != 500 || z.Polygon[2].X != 0.5 || z.Polygon[2].Y != 0.6 {
		t.Fatalf("engine zone %+v", z)
	}
	l := cam.Lines[0].Engine()
	if l.A.X != 0.5 || l.B.Y != 1 || l.Directions != [2]string{"in", "out"} {
		t.Fatalf("engine line %+v", l)
	}
	tr := c.Tracking.Effective()
	if !*tr.Enabled || tr.MaxAge != 45 || tr.MinHits != DefaultTrackMinHits || tr.HighScore != DefaultTrackHighScore {
		t.Fatalf("tracking %+v", tr)
	}
	// Clone shares nothing.
	cl := c.Clone()
	cl.Cameras[0].Zones[0].Polygon[0][0] = 0.9
	cl.Cameras[0].Lines[0].Directions[0] = "x"
	if c.Cameras[0].Zones[0].Polygon[0][0] != 0.1 || c.Cameras[0].Lines[0].Directions[0] != "in" {
		t.Fatal("Clone shares zones or lines")
	}
	// Saved and parsed again, the camera is the same.
	data, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2 := mustParse(t, string(data))
	if !reflect.DeepEqual(c2.Cameras, c.Cameras) || !reflect.DeepEqual(c2.Tracking, c.Tracking) {
		t.Fatalf("round trip:\n%+v\n%+v", c2.Cameras, c.Cameras)
	}
	// A config without them saves without them.
	plain := mustParse(t, `{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/a"}]}`)
	data, _ = Marshal(plain)
	for _, k := range []string{"tracking", "zones", "lines"} {
		if strings.Contains(string(data), `"`+k+`"`) {
			t.Errorf("saved config has %q:\n%s", k, data)
		}
	}
}

func TestZonesInvalid(t *testing.T) {
	tests := []struct {
		name, cam string
		want      []string
	}{
		{"self-intersecting", `"zones": [{"name": "z", "polygon": [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]}]`,
			[]string{"cameras[0].zones[0].polygon: must not intersect itself"}},
		{"too few points", `"zones": [{"name": "z", "polygon": [[0.1, 0.1], [0.5, 0.5]]}]`,
			[]string{"cameras[0].zones[0].polygon: must have at least 3 points, got 2"}},
		{"outside the picture", `"zones": [{"name": "z", "polygon": [[0.1, 0.1], [1.5, 0.1], [0.5, -0.2]]}]`,
			[]string{"cameras[0].zones[0].polygon[1][0]: must be between 0 and 1 (a fraction of the picture's width), got 1.5",
				"cameras[0].zones[0].polygon[2][1]: must be between 0 and 1 (a fraction of the picture's height), got -0.2"}},
		{"not a point", `"zones": [{"name": "z", "polygon": [[0.1, 0.1, 0.3], [0.5, 0.1], [0.5, 0.5]]}]`,
			[]string{"cameras[0].zones[0].polygon[0]: must be [x, y], got 3 numbers"}},
		{"no area", `"zones": [{"name": "z", "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]`,
			[]string{"cameras[0].zones[0].polygon: must"}},
		{"duplicate names", `"zones": [{"name": "z", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}], "lines": [{"name": "z", "points": [[0, 0], [1, 1]]}]`,
			[]string{`cameras[0].lines[0].name: duplicate of cameras[0].zones[0].name "z"`}},
		{"no name", `"lines": [{"points": [[0, 0], [1, 1]]}]`, []string{"cameras[0].lines[0].name: required"}},
		{"line of 3 points", `"lines": [{"name": "l", "points": [[0, 0], [1, 1], [0, 1]]}]`,
			[]string{"cameras[0].lines[0].points: must be 2 points"}},
		{"line of one point twice", `"lines": [{"name": "l", "points": [[0.5, 0.5], [0.5, 0.5]]}]`,
			[]string{"cameras[0].lines[0].points: the two points must differ"}},
		{"one direction", `"lines": [{"name": "l", "points": [[0, 0], [1, 1]], "directions": ["in"]}]`,
			[]string{"cameras[0].lines[0].directions: must name 2 directions"}},
		{"duplicate class", `"lines": [{"name": "l", "points": [[0, 0], [1, 1]], "classes": ["a", "a"]}]`,
			[]string{`cameras[0].lines[0].classes[1]: duplicate of cameras[0].lines[0].classes[0] "a"`}},
		{"negative dwell", `"zones": [{"name": "z", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]], "min_dwell_ms": -1}]`,
			[]string{"cameras[0].zones[0].min_dwell_ms: must be between 0 and 3600000, got -1"}},
		{"unknown field", `"zones": [{"name": "z", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]], "clases": []}]`,
			[]string{`cameras[0].zones[0].clases: unknown field (did you mean "classes"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/a", ` + tt.cam + `}]}`
			_, err := Parse([]byte(doc), "")
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestTrackingInvalid(t *testing.T) {
	_, err := Parse([]byte(`{"inference": {"model": "m"}, "tracking": {"high_score": 0.3, "low_score": 0.4, "match_iou": 2, "max_age": -1}}`), "")
	for _, w := range []string{"tracking.low_score: must not exceed tracking.high_score (0.3), got 0.4",
		"tracking.match_iou: must be in (0, 1], got 2", "tracking.max_age: must be between 0 and 100000, got -1"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%v\nlacks %q", err, w)
		}
	}
}

func TestCheckClasses(t *testing.T) {
	c := mustParse(t, `{"inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/a"}, {"id": "b", "url": "rtsp://h/b",
	  "zones": [{"name": "z", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]], "classes": ["person", "unicorn"]}],
	  "lines": [{"name": "l", "points": [[0, 0], [1, 1]], "classes": ["car"]}]}]}`)
	if err := CheckClasses(c.Cameras, 0, []string{"person", "car"}); err == nil {
		t.Fatal("unicorn accepted")
	} else if want := `cameras[1].zones[0].classes[1]: unknown class "unicorn" (the model's classes: "person", "car")`; err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if err := CheckClasses(c.Cameras[1:], 1, []string{"person", "car", "unicorn"}); err != nil {
		t.Fatal(err)
	}
}

func TestParseZonesTestdata(t *testing.T) {
	c, err := LoadWithEnv("testdata/zones.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cameras[0].Zones) != 1 || len(c.Cameras[0].Lines) != 1 || c.Tracking.MinHits != 2 {
		t.Fatalf("cameras %+v, tracking %+v", c.Cameras, c.Tracking)
	}
}
