package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gstvision/gstvision/internal/config"
)

// Zones and lines go through the camera API like any field: PUT and PATCH write them to the
// file and back, classes are checked against the model's labels with field paths, and the
// analysis is told of a geometry change only.
func TestCameraAPIZones(t *testing.T) {
	e := newAPIEnv(t, apiTestConfig)
	e.api.labels = []string{"person", "car"}
	var changed []string
	e.api.reconfigure = func(c config.Camera) { changed = append(changed, c.ID+":"+jsonOf(c.Zones)) }

	put := `{"url": "rtsp://admin:hunter2@10.0.0.1/live",
	  "zones": [{"name": "door", "polygon": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]], "classes": ["person"], "min_dwell_ms": 200}],
	  "lines": [{"name": "gate", "points": [[0.5, 0], [0.5, 1]], "directions": ["in", "out"]}]}`
	if r := e.do(t, http.MethodPut, "/api/cameras/cam1", put); r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	e.checkFile(t, "PUT")
	cam, _ := e.api.Camera("cam1")
	if len(cam.Zones) != 1 || cam.Zones[0].MinDwellMS != 200 || len(cam.Lines) != 1 || cam.Lines[0].Directions[1] != "out" {
		t.Fatalf("after PUT: %s", jsonOf(cam))
	}
	if len(changed) != 1 {
		t.Fatalf("reconfigured %v", changed)
	}
	// PATCH another field: zones stay, nothing reconfigured.
	if r := e.do(t, http.MethodPatch, "/api/cameras/cam1", `{"name": "Front"}`); r.status != http.StatusOK {
		t.Fatalf("PATCH name: %d %s", r.status, r.body)
	}
	e.checkFile(t, "PATCH name")
	if cam, _ := e.api.Camera("cam1"); len(cam.Zones) != 1 || cam.Name != "Front" || len(changed) != 1 {
		t.Fatalf("after PATCH name: %s, reconfigured %v", jsonOf(cam), changed)
	}
	// PATCH the zones: replaced; null removes the lines.
	if r := e.do(t, http.MethodPatch, "/api/cameras/cam1", `{"zones": [{"name": "yard", "polygon": [[0, 0], [1, 0], [1, 1]]}], "lines": null}`); r.status != http.StatusOK {
		t.Fatalf("PATCH zones: %d %s", r.status, r.body)
	}
	e.checkFile(t, "PATCH zones")
	if cam, _ := e.api.Camera("cam1"); len(cam.Zones) != 1 || cam.Zones[0].Name != "yard" || len(cam.Lines) != 0 || len(changed) != 2 {
		t.Fatalf("after PATCH zones: %s, reconfigured %v", jsonOf(cam), changed)
	}

	before := e.fileBytes(t)
	for _, c := range []struct{ body, want string }{
		{`{"zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "classes": ["unicorn"]}]}`,
			`cameras[0].zones[0].classes[0]: unknown class \"unicorn\"`},
		{`{"zones": [{"name": "z", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}`,
			`cameras[0].zones[0].polygon: must not intersect itself`},
		{`{"lines": [{"name": "l", "points": [[0, 0], [1, 1.5]]}]}`,
			`cameras[0].lines[0].points[1][1]: must be between 0 and 1`},
	} {
		r := e.do(t, http.MethodPatch, "/api/cameras/cam1", c.body)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, c.want) {
			t.Errorf("PATCH %s: %d %s, want 400 with %s", c.body, r.status, r.body, c.want)
		}
	}
	r := e.do(t, http.MethodPost, "/api/cameras", `{"id": "cam9", "url": "rtsp://h/x", "lines": [{"name": "l", "points": [[0, 0], [1, 1]], "classes": ["dog"]}]}`)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `cameras[2].lines[0].classes[0]: unknown class \"dog\"`) {
		t.Errorf("POST with an unknown class: %d %s", r.status, r.body)
	}
	if string(e.fileBytes(t)) != string(before) {
		t.Error("a rejected change reached the file")
	}
}
