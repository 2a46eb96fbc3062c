package defs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
)

func TestPixelFormatString(t *testing.T) {
	for f, want := range map[defs.PixelFormat]string{defs.I420: "I420", defs.NV12: "NV12", 7: "unknown"} {
		if got := f.String(); got != want {
			t.Errorf("PixelFormat(%d).String() = %q, want %q", int(f), got, want)
		}
	}
}

func TestFrameOnDevice(t *testing.T) {
	if (&defs.Frame{Host: [3][]byte{{1}}}).OnDevice() {
		t.Error("host frame reports OnDevice")
	}
	if !(&defs.Frame{Device: [3]uintptr{0x1000}}).OnDevice() {
		t.Error("device frame does not report OnDevice")
	}
}

// TestJSON: the field names are the API's (/ws detections, /api/cameras); zero drop rate, error
// time and size are left out.
func TestJSON(t *testing.T) {
	det, err := json.Marshal(defs.Detection{ClassID: 2, Label: "car", Score: 0.5, Box: [4]float32{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"class_id":2,"label":"car","score":0.5,"box":[1,2,3,4]}`; string(det) != want {
		t.Errorf("Detection JSON = %s, want %s", det, want)
	}
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	st, err := json.Marshal(defs.Status{ID: "door", URL: "rtsp://h/s", State: defs.StateRunning, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"door","url":"rtsp://h/s","state":"running","fps":0,"frames":0,"inferred":0,` +
		`"dropped":0,"reconnects":0,"since":"2025-01-02T03:04:05Z"}`
	if string(st) != want {
		t.Errorf("Status JSON = %s, want %s", st, want)
	}
	st, err = json.Marshal(defs.Status{ID: "door", View: "annotated", ViewReason: "H.265", Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"since":"2025-01-02T03:04:05Z","view":"annotated","view_reason":"H.265"}`; !strings.HasSuffix(string(st), want) {
		t.Errorf("Status JSON = %s, want it to end %s", st, want)
	}
}

func TestIoU(t *testing.T) {
	a := [4]float32{0, 0, 10, 10}
	for _, c := range []struct {
		b    [4]float32
		want float32
	}{
		{a, 1},
		{[4]float32{5, 0, 15, 10}, 50.0 / 150},
		{[4]float32{10, 0, 20, 10}, 0}, // touching edges
		{[4]float32{20, 20, 30, 30}, 0},
		{[4]float32{5, 5, 5, 8}, 0}, // empty
	} {
		if got := defs.IoU(a, c.b); got != c.want {
			t.Errorf("IoU(%v, %v) = %v, want %v", a, c.b, got, c.want)
		}
	}
}
