// Package metrics exposes gstvision's operational metrics in the Prometheus text format.
//
// Almost everything is collected pull-style: at scrape time a custom [prometheus.Collector]
// reads the counters the other packages already keep (camera status, the batcher's statistics,
// the results hub, GPU memory), so no hot path pays for metrics. The one push-style metric is
// the inference latency histogram, fed by [Metrics.ObserveResult] from the inference stage's
// result callback (an atomic add per result).
//
// Every metric of gstvision's own carries the "gstvision_" prefix; the registry also holds the
// standard Go runtime ("go_") and process ("process_") collectors, which give resident memory,
// open file descriptors and goroutines. The package imports none of gstvision's cgo packages:
// the caller adapts its state into the plain types of [Sources].
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every gstvision metric.
const Namespace = "gstvision"

// ErrRegister wraps a failure to register a collector (a bug: duplicate or inconsistent
// metric descriptions).
var ErrRegister = errors.New("metrics: register collector")

// CameraStates lists every camera state; the state gauge reports each of them (1 for the
// current one, 0 for the others) so that a query such as
// gstvision_camera_state{state="reconnecting"} == 1 always has a series to look at.
var CameraStates = []string{"starting", "running", "reconnecting", "failed", "disabled", "unauthorized"}

// Camera is one camera's counters, as the camera package keeps them.
type Camera struct {
	ID         string
	State      string
	FPS        float64
	Decoded    uint64 // frames decoded since the camera was (re)started by the manager
	Inferred   uint64 // frames handed to the detector
	Dropped    uint64 // frames dropped before the detector
	Reconnects uint64 // pipeline rebuilds after a fault
	// DropRatio is the fraction of decoded frames dropped before the detector over the
	// camera's last drop window (10 s): a rate to alert on, where Dropped only grows.
	DropRatio float64
	// GPU is the CUDA device the camera runs on (cuda mode); nil omits gstvision_camera_gpu.
	GPU *int
}

// GPUMemory is one GPU's memory.
type GPUMemory struct {
	GPU         int
	Used, Total uint64
}

// Batch is the decoupled batcher's statistics.
type Batch struct {
	MaxBatch   int
	Batches    uint64
	Frames     uint64
	FillErrors uint64
	RunErrors  uint64
	SizeHist   []uint64 // SizeHist[k]: batches of k frames
	TotalRun   time.Duration
}

// Hub is the results hub's counters.
type Hub struct {
	Published uint64 // results published
	Dropped   uint64 // results dropped from full subscriber queues (WebSocket clients, viewers)
}

// WebSocket is the server's WebSocket clients.
type WebSocket struct {
	Clients int // connected clients
	Queued  int // results waiting in their queues
}

// Sources are what the collector reads at each scrape. Any nil func is skipped, and a func
// returning ok=false reports nothing (e.g. GPU memory outside cuda mode).
type Sources struct {
	Cameras   func() []Camera
	Batch     func() (Batch, bool)
	GPUMemory func() []GPUMemory // one entry per GPU in use; none outside cuda mode
	// GPULoads is each GPU's camera count, keyed by CUDA ordinal (cuda mode).
	GPULoads      func() map[int]int
	Hub           func() Hub
	WebSocket     func() WebSocket
	WebRTCViewers func() map[string]int
	// Info labels gstvision_info (e.g. device, mode); nil omits the metric.
	Info map[string]string
}

// Metrics is gstvision's registry with its collectors.
type Metrics struct {
	reg         *prometheus.Registry
	latency     *prometheus.HistogramVec
	inferErrors *prometheus.CounterVec
	handler     http.Handler
}

// LatencyBuckets are the inference latency histogram's upper bounds in seconds: 5 ms to
// about 2.5 s, doubling.
var LatencyBuckets = prometheus.ExponentialBuckets(0.005, 2, 10)

// New builds the registry: the collector over src, the latency histogram, and the Go and
// process collectors.
func New(src Sources) (*Metrics, error) {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "inference_latency_seconds",
			Help:    "Time from a frame's decoding to its detections, per camera.",
			Buckets: LatencyBuckets,
		}, []string{"camera"}),
		inferErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "inference_errors_total",
			Help: "Frames whose inference failed, per camera.",
		}, []string{"camera"}),
	}
	for _, c := range []prometheus.Collector{
		newCollector(src), m.latency, m.inferErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRegister, err)
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, // one bad collector must not blank the page
	})
	return m, nil
}

// ObserveResult records one processed frame: its latency, or an inference error. It has the
// signature of the app's result observer.
func (m *Metrics) ObserveResult(camera string, latency time.Duration, err error) {
	if err != nil {
		m.inferErrors.WithLabelValues(camera).Inc()
		return
	}
	m.latency.WithLabelValues(camera).Observe(latency.Seconds())
}

// Forget drops the push-style series of a removed camera, so that a server that sees
// cameras come and go for months does not keep their series forever.
func (m *Metrics) Forget(camera string) {
	m.latency.DeleteLabelValues(camera)
	m.inferErrors.DeleteLabelValues(camera)
}

// Register adds a collector of another part of gstvision (the MQTT publisher's, say) to the
// registry.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// collector reads Sources at scrape time.
type collector struct {
	src Sources

	decoded, inferred, dropped, reconnects, state, fps *prometheus.Desc
	dropRatio                                          *prometheus.Desc
	batchSize, batchFillErrors, batchRunErrors         *prometheus.Desc
	batchRunSeconds                                    *prometheus.Desc
	gpuUsed, gpuTotal, gpuCameras, cameraGPU           *prometheus.Desc
	wsClients, wsQueued, resultsDropped, published     *prometheus.Desc
	webrtcViewers, info                                *prometheus.Desc
}

func newCollector(src Sources) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	var info *prometheus.Desc
	if src.Info != nil {
		info = prometheus.NewDesc(Namespace+"_info", "gstvision's configuration; always 1.", nil, src.Info)
	}
	return &collector{
		src:             src,
		decoded:         d("camera_frames_decoded_total", "Frames decoded, per camera (restarts from 0 when the camera is re-added).", "camera"),
		inferred:        d("camera_frames_inferred_total", "Frames handed to the detector, per camera.", "camera"),
		dropped:         d("camera_frames_dropped_total", "Frames dropped before the detector (leaky queue), per camera.", "camera"),
		reconnects:      d("camera_reconnects_total", "Pipeline rebuilds after a fault, per camera.", "camera"),
		state:           d("camera_state", "1 for the camera's current state, 0 for the others.", "camera", "state"),
		fps:             d("camera_fps", "Decoded frames per second over the last second, per camera.", "camera"),
		dropRatio:       d("camera_drop_ratio", "Fraction of decoded frames dropped before the detector over the last 10 s window, per camera.", "camera"),
		batchSize:       d("batch_size", "Frames per inference batch (decoupled mode)."),
		batchFillErrors: d("batch_fill_errors_total", "Frames whose preprocessing into a batch failed (decoupled mode)."),
		batchRunErrors:  d("batch_run_errors_total", "Batches whose inference failed (decoupled mode)."),
		batchRunSeconds: d("batch_run_seconds_total", "Time spent running batches (decoupled mode)."),
		gpuUsed:         d("gpu_memory_used_bytes", "GPU memory in use, per GPU (cuda mode).", "gpu"),
		gpuTotal:        d("gpu_memory_total_bytes", "GPU memory, per GPU (cuda mode).", "gpu"),
		gpuCameras:      d("gpu_cameras", "Cameras placed on each GPU (cuda mode).", "gpu"),
		cameraGPU:       d("camera_gpu", "The CUDA device (ordinal) each camera runs on (cuda mode).", "camera"),
		wsClients:       d("websocket_clients", "Connected WebSocket clients."),
		wsQueued:        d("websocket_queued_messages", "Results waiting in WebSocket clients' queues."),
		resultsDropped:  d("results_dropped_total", "Results dropped from full subscriber queues (slow WebSocket clients, viewers)."),
		published:       d("results_published_total", "Results published to the results hub."),
		webrtcViewers:   d("webrtc_viewers", "Connected WebRTC viewers, per camera.", "camera"),
		info:            info,
	}
}

// Describe sends every description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.decoded, c.inferred, c.dropped, c.reconnects, c.state, c.fps, c.dropRatio,
		c.batchSize, c.batchFillErrors, c.batchRunErrors, c.batchRunSeconds,
		c.gpuUsed, c.gpuTotal, c.gpuCameras, c.cameraGPU, c.wsClients, c.wsQueued, c.resultsDropped, c.published, c.webrtcViewers,
	} {
		ch <- d
	}
	if c.info != nil {
		ch <- c.info
	}
}

// Collect reads the sources.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.info != nil {
		emit(ch, c.info, prometheus.GaugeValue, 1)
	}
	if c.src.Cameras != nil {
		c.collectCameras(ch, c.src.Cameras())
	}
	if c.src.Batch != nil {
		if b, ok := c.src.Batch(); ok {
			c.collectBatch(ch, b)
		}
	}
	if c.src.GPUMemory != nil {
		for _, g := range c.src.GPUMemory() {
			emit(ch, c.gpuUsed, prometheus.GaugeValue, float64(g.Used), strconv.Itoa(g.GPU))
			emit(ch, c.gpuTotal, prometheus.GaugeValue, float64(g.Total), strconv.Itoa(g.GPU))
		}
	}
	if c.src.GPULoads != nil {
		for g, n := range c.src.GPULoads() {
			emit(ch, c.gpuCameras, prometheus.GaugeValue, float64(n), strconv.Itoa(g))
		}
	}
	if c.src.Hub != nil {
		h := c.src.Hub()
		emit(ch, c.resultsDropped, prometheus.CounterValue, float64(h.Dropped))
		emit(ch, c.published, prometheus.CounterValue, float64(h.Published))
	}
	if c.src.WebSocket != nil {
		w := c.src.WebSocket()
		emit(ch, c.wsClients, prometheus.GaugeValue, float64(w.Clients))
		emit(ch, c.wsQueued, prometheus.GaugeValue, float64(w.Queued))
	}
	if c.src.WebRTCViewers != nil {
		for cam, n := range c.src.WebRTCViewers() {
			emit(ch, c.webrtcViewers, prometheus.GaugeValue, float64(n), cam)
		}
	}
}

func (c *collector) collectCameras(ch chan<- prometheus.Metric, cams []Camera) {
	seen := make(map[string]bool, len(cams))
	for _, cam := range cams {
		if seen[cam.ID] {
			continue // two series with the same labels would fail the whole scrape
		}
		seen[cam.ID] = true
		emit(ch, c.decoded, prometheus.CounterValue, float64(cam.Decoded), cam.ID)
		emit(ch, c.inferred, prometheus.CounterValue, float64(cam.Inferred), cam.ID)
		emit(ch, c.dropped, prometheus.CounterValue, float64(cam.Dropped), cam.ID)
		emit(ch, c.reconnects, prometheus.CounterValue, float64(cam.Reconnects), cam.ID)
		emit(ch, c.fps, prometheus.GaugeValue, cam.FPS, cam.ID)
		emit(ch, c.dropRatio, prometheus.GaugeValue, cam.DropRatio, cam.ID)
		if cam.GPU != nil {
			emit(ch, c.cameraGPU, prometheus.GaugeValue, float64(*cam.GPU), cam.ID)
		}
		known := false
		for _, s := range CameraStates {
			v := 0.0
			if s == cam.State {
				v, known = 1, true
			}
			emit(ch, c.state, prometheus.GaugeValue, v, cam.ID, s)
		}
		if !known && cam.State != "" {
			emit(ch, c.state, prometheus.GaugeValue, 1, cam.ID, cam.State)
		}
	}
}

// collectBatch turns the batcher's exact size counts into a histogram with one bucket per
// batch size (le="1", le="2", ... le=MaxBatch).
func (c *collector) collectBatch(ch chan<- prometheus.Metric, b Batch) {
	buckets := make(map[float64]uint64, b.MaxBatch)
	var cum, count uint64
	var sum float64
	for k := 1; k <= b.MaxBatch; k++ {
		if k < len(b.SizeHist) {
			n := b.SizeHist[k]
			cum += n
			sum += float64(k) * float64(n)
		}
		buckets[float64(k)] = cum
	}
	count = cum
	// Batches larger than MaxBatch cannot exist; Batches is authoritative for the count in
	// case the histogram lags it.
	if b.Batches > count {
		count = b.Batches
	}
	if h, err := prometheus.NewConstHistogram(c.batchSize, count, sum, buckets); err == nil {
		ch <- h
	} else {
		ch <- prometheus.NewInvalidMetric(c.batchSize, err)
	}
	emit(ch, c.batchFillErrors, prometheus.CounterValue, float64(b.FillErrors))
	emit(ch, c.batchRunErrors, prometheus.CounterValue, float64(b.RunErrors))
	emit(ch, c.batchRunSeconds, prometheus.CounterValue, b.TotalRun.Seconds())
}

// emit sends one constant metric; a bad label value (invalid UTF-8 from a hook) becomes an
// invalid metric that fails only that series instead of panicking.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
