//go:build e2e

package e2e

// /metrics end to end: the token, per-camera counters and states, the stage and hub series.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gstvision/gstvision/defs"
)

// scrape fetches /metrics and parses it.
func scrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := call(t, "GET", base+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// metricValue returns the value of family name's series whose labels include want, and
// whether there is one.
func metricValue(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	m := findMetric(fams, name, want...)
	if m == nil {
		return 0, false
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

func findMetric(fams map[string]*dto.MetricFamily, name string, want ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				match = false
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// TestMetricsEndpoint: /metrics needs the token and exposes per-camera counters and states,
// inference latency, batch sizes, WebSocket clients, WebRTC viewers and process metrics
// with sane values.
func TestMetricsEndpoint(t *testing.T) {
	sim := startSim(t, 2)
	cfg, _ := opsConfig(t, true, camJSON("cam1", sim.URL(1)), camJSON("cam2", sim.URL(2)))
	a, base, _ := runApp(t, cfg, testLogger(t))
	a.SetWebRTCViewers(func() map[string]int { return map[string]int{"cam1": 2} })
	waitFor(t, 30*time.Second, "both cameras running", func() bool { return flowing(a, "cam1", 60) && flowing(a, "cam2", 60) })

	if code, _ := callTok(t, "GET", base+"/metrics", "", ""); code != 401 {
		t.Fatalf("/metrics without token: %d, want 401", code)
	}
	// One WebSocket client, reading.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws?token=tok", nil)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	for range 20 {
		if _, _, err := conn.Read(ctx); err != nil {
			t.Fatalf("ws read: %v", err)
		}
	}
	go func() { // keep draining so the client stays healthy
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()

	fams := scrape(t, base)
	var api []defs.Status
	_, body := call(t, "GET", base+"/api/cameras", "")
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatal(err)
	}
	for _, st := range api {
		cam := st.ID
		decoded, ok1 := metricValue(fams, "gstvision_camera_frames_decoded_total", "camera", cam)
		inferred, ok2 := metricValue(fams, "gstvision_camera_frames_inferred_total", "camera", cam)
		dropped, ok3 := metricValue(fams, "gstvision_camera_frames_dropped_total", "camera", cam)
		reconnects, ok4 := metricValue(fams, "gstvision_camera_reconnects_total", "camera", cam)
		fps, ok5 := metricValue(fams, "gstvision_camera_fps", "camera", cam)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			t.Fatalf("%s: missing camera series", cam)
		}
		// Scraped before /api/cameras: never ahead of it.
		if decoded < 60 || decoded > float64(st.Frames) || inferred > decoded || dropped > decoded || reconnects != 0 {
			t.Errorf("%s: decoded %v inferred %v dropped %v reconnects %v (API: %d frames)", cam, decoded, inferred, dropped, reconnects, st.Frames)
		}
		if fps < 5 || fps > 60 {
			t.Errorf("%s: fps %v", cam, fps)
		}
		for _, state := range []string{"starting", "running", "reconnecting", "failed", "disabled"} {
			v, ok := metricValue(fams, "gstvision_camera_state", "camera", cam, "state", state)
			want := 0.0
			if state == "running" {
				want = 1
			}
			if !ok || v != want {
				t.Errorf("%s: gstvision_camera_state{state=%q} = %v (present %v), want %v", cam, state, v, ok, want)
			}
		}
		h := findMetric(fams, "gstvision_inference_latency_seconds", "camera", cam)
		if h == nil || h.Histogram == nil || h.Histogram.GetSampleCount() == 0 {
			t.Fatalf("%s: no inference latency histogram", cam)
		}
		mean := h.Histogram.GetSampleSum() / float64(h.Histogram.GetSampleCount())
		if mean <= 0 || mean > 5 {
			t.Errorf("%s: mean inference latency %.3f s", cam, mean)
		}
	}
	b := findMetric(fams, "gstvision_batch_size")
	if b == nil || b.Histogram == nil || b.Histogram.GetSampleCount() == 0 {
		t.Fatal("no batch size histogram in decoupled mode")
	}
	bh := b.Histogram
	if mean := bh.GetSampleSum() / float64(bh.GetSampleCount()); mean < 1 || mean > 4 {
		t.Errorf("mean batch size %.2f, want within 1..max_batch (4)", mean)
	}
	// Buckets le=1..4, then +Inf; the le=4 bucket holds every batch.
	if n := len(bh.Bucket); n < 4 || bh.Bucket[3].GetUpperBound() != 4 || bh.Bucket[3].GetCumulativeCount() != bh.GetSampleCount() {
		t.Errorf("batch size buckets %v, want le=1..4 with le=4 holding every batch", bh.Bucket)
	}
	if v, ok := metricValue(fams, "gstvision_websocket_clients"); !ok || v != 1 {
		t.Errorf("gstvision_websocket_clients = %v (%v), want 1", v, ok)
	}
	if _, ok := metricValue(fams, "gstvision_websocket_queued_messages"); !ok {
		t.Error("no gstvision_websocket_queued_messages")
	}
	if _, ok := metricValue(fams, "gstvision_results_dropped_total"); !ok {
		t.Error("no gstvision_results_dropped_total")
	}
	if v, ok := metricValue(fams, "gstvision_results_published_total"); !ok || v < 20 {
		t.Errorf("gstvision_results_published_total = %v", v)
	}
	if v, ok := metricValue(fams, "gstvision_webrtc_viewers", "camera", "cam1"); !ok || v != 2 {
		t.Errorf("gstvision_webrtc_viewers{camera=cam1} = %v (%v), want 2 from the hook", v, ok)
	}
	if _, ok := fams["gstvision_gpu_memory_used_bytes"]; ok {
		t.Error("GPU memory reported in cpu mode")
	}
	if v, ok := metricValue(fams, "gstvision_info", "device", "cpu", "mode", "decoupled"); !ok || v != 1 {
		t.Errorf("gstvision_info: %v %v", v, ok)
	}
	if v, ok := metricValue(fams, "process_resident_memory_bytes"); !ok || v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}
	if v, ok := metricValue(fams, "process_open_fds"); !ok || v < 3 {
		t.Errorf("process_open_fds = %v", v)
	}
	if v, ok := metricValue(fams, "go_goroutines"); !ok || v < 5 {
		t.Errorf("go_goroutines = %v", v)
	}
	for name := range fams {
		if !strings.HasPrefix(name, "gstvision_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("unexpected metric family %s", name)
		}
	}

	// Counters only go up between scrapes.
	time.Sleep(1500 * time.Millisecond)
	later := scrape(t, base)
	for _, cam := range []string{"cam1", "cam2"} {
		v0, _ := metricValue(fams, "gstvision_camera_frames_decoded_total", "camera", cam)
		v1, _ := metricValue(later, "gstvision_camera_frames_decoded_total", "camera", cam)
		if v1 <= v0 {
			t.Errorf("%s: decoded frames %v then %v", cam, v0, v1)
		}
	}

	// A disabled camera reports state disabled; a deleted one disappears.
	if code, body := call(t, "PATCH", base+"/api/cameras/cam2", `{"enabled": false}`); code != 200 {
		t.Fatalf("disable: %d %s", code, body)
	}
	fams = scrape(t, base)
	if v, _ := metricValue(fams, "gstvision_camera_state", "camera", "cam2", "state", "disabled"); v != 1 {
		t.Errorf("disabled cam2: state gauge %v", v)
	}
	if code, body := call(t, "DELETE", base+"/api/cameras/cam2", ""); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	fams = scrape(t, base)
	if m := findMetric(fams, "gstvision_camera_state", "camera", "cam2"); m != nil {
		t.Error("deleted cam2 still has a state series")
	}
	if m := findMetric(fams, "gstvision_inference_latency_seconds", "camera", "cam2"); m != nil {
		t.Error("deleted cam2 still has a latency series")
	}
}
