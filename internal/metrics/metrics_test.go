package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t *testing.T, m *Metrics) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return fams, string(body)
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no %s", name)
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if got[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestCollector: every source shows up with its value, the batch histogram is built from the
// exact size counts, and a source reporting ok=false or a bad hook value costs only its own
// series.
func TestCollector(t *testing.T) {
	gpu, one := true, 1
	m, err := New(Sources{
		Cameras: func() []Camera {
			return []Camera{
				{ID: "a", State: "running", FPS: 29.5, Decoded: 1000, Inferred: 900, Dropped: 100, Reconnects: 2, DropRatio: 0.25, GPU: &one},
				{ID: "b", State: "unauthorized"},
				{ID: "a", State: "running"}, // a duplicate must not break the scrape
			}
		},
		Batch: func() (Batch, bool) {
			return Batch{MaxBatch: 4, Batches: 10, Frames: 25, SizeHist: []uint64{0, 2, 3, 1, 4}, RunErrors: 1, TotalRun: 1500 * time.Millisecond}, true
		},
		GPUMemory: func() []GPUMemory {
			if !gpu {
				return nil
			}
			return []GPUMemory{{GPU: 0, Used: 3 << 30, Total: 8 << 30}, {GPU: 1, Used: 1 << 30, Total: 8 << 30}}
		},
		GPULoads:      func() map[int]int { return map[int]int{0: 1, 1: 2} },
		Hub:           func() Hub { return Hub{Published: 77, Dropped: 5} },
		WebSocket:     func() WebSocket { return WebSocket{Clients: 3, Queued: 12} },
		WebRTCViewers: func() map[string]int { return map[string]int{"a": 2, "bad\xff": 1} },
		Info:          map[string]string{"device": "cuda", "mode": "decoupled"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveResult("a", 40*time.Millisecond, nil)
	m.ObserveResult("a", 60*time.Millisecond, nil)
	m.ObserveResult("a", 0, errors.New("boom"))

	fams, body := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gstvision_camera_frames_decoded_total", []string{"camera", "a"}, 1000},
		{"gstvision_camera_frames_inferred_total", []string{"camera", "a"}, 900},
		{"gstvision_camera_frames_dropped_total", []string{"camera", "a"}, 100},
		{"gstvision_camera_reconnects_total", []string{"camera", "a"}, 2},
		{"gstvision_camera_fps", []string{"camera", "a"}, 29.5},
		{"gstvision_camera_state", []string{"camera", "a", "state", "running"}, 1},
		{"gstvision_camera_state", []string{"camera", "a", "state", "reconnecting"}, 0},
		{"gstvision_camera_drop_ratio", []string{"camera", "a"}, 0.25},
		{"gstvision_camera_drop_ratio", []string{"camera", "b"}, 0},
		{"gstvision_camera_state", []string{"camera", "b", "state", "unauthorized"}, 1},
		{"gstvision_camera_state", []string{"camera", "b", "state", "disabled"}, 0},
		{"gstvision_camera_state", []string{"camera", "b", "state", "running"}, 0},
		{"gstvision_batch_run_errors_total", nil, 1},
		{"gstvision_batch_run_seconds_total", nil, 1.5},
		{"gstvision_gpu_memory_used_bytes", []string{"gpu", "0"}, 3 << 30},
		{"gstvision_gpu_memory_used_bytes", []string{"gpu", "1"}, 1 << 30},
		{"gstvision_gpu_memory_total_bytes", []string{"gpu", "1"}, 8 << 30},
		{"gstvision_gpu_cameras", []string{"gpu", "1"}, 2},
		{"gstvision_camera_gpu", []string{"camera", "a"}, 1},
		{"gstvision_websocket_clients", nil, 3},
		{"gstvision_websocket_queued_messages", nil, 12},
		{"gstvision_results_dropped_total", nil, 5},
		{"gstvision_results_published_total", nil, 77},
		{"gstvision_webrtc_viewers", []string{"camera", "a"}, 2},
		{"gstvision_inference_errors_total", []string{"camera", "a"}, 1},
		{"gstvision_info", []string{"device", "cuda", "mode", "decoupled"}, 1},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["gstvision_camera_frames_decoded_total"].Metric); n != 2 {
		t.Errorf("%d decoded series, want 2 (duplicate camera skipped)", n)
	}
	if strings.Contains(body, "bad") {
		t.Error("the invalid label value was served")
	}
	h := fams["gstvision_batch_size"].Metric[0].Histogram
	if h.GetSampleCount() != 10 || h.GetSampleSum() != 1*2+2*3+3*1+4*4 {
		t.Errorf("batch histogram count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	want := []uint64{2, 5, 6, 10}
	for i, b := range h.Bucket[:4] {
		if b.GetUpperBound() != float64(i+1) || b.GetCumulativeCount() != want[i] {
			t.Errorf("bucket %d: le=%v count %d, want le=%d count %d", i, b.GetUpperBound(), b.GetCumulativeCount(), i+1, want[i])
		}
	}
	lat := fams["gstvision_inference_latency_seconds"].Metric[0].Histogram
	if lat.GetSampleCount() != 2 || lat.GetSampleSum() < 0.099 || lat.GetSampleSum() > 0.101 {
		t.Errorf("latency count %d sum %v", lat.GetSampleCount(), lat.GetSampleSum())
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_open_fds", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// No GPU, no batcher: those series are absent rather than zero.
	gpu = false
	m.Forget("a")
	fams, _ = scrape(t, m)
	if fams["gstvision_gpu_memory_used_bytes"] != nil {
		t.Error("GPU memory reported without a GPU")
	}
	if fams["gstvision_inference_latency_seconds"] != nil || fams["gstvision_inference_errors_total"] != nil {
		t.Error("a forgotten camera's series remain")
	}
}

// TestEmptySources: a registry with no sources serves the process metrics only.
func TestEmptySources(t *testing.T) {
	m, err := New(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	fams, _ := scrape(t, m)
	for name := range fams {
		if strings.HasPrefix(name, "gstvision_") {
			t.Errorf("unexpected %s", name)
		}
	}
}
