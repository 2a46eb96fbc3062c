// Package app wires gstvision's parts together for `gstvision serve`: GStreamer, the CUDA
// context (cuda mode), the model, the inference stage, the cameras, the results hub and the
// HTTP server. It owns start-up order and graceful shutdown; each part lives in its own package.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/inference/ortgpu"
	"github.com/gstvision/gstvision/internal/analytics"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/events"
	"github.com/gstvision/gstvision/internal/mqtt"
	"github.com/gstvision/gstvision/internal/placement"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/server"
	"github.com/gstvision/gstvision/internal/viewer"
	"github.com/gstvision/gstvision/webrtc"
)

// ErrStartup wraps every reason serve refuses to start (missing model, GPU, plugin, ...).
var ErrStartup = errors.New("cannot start")

// ErrConfig marks start-up failures that a field of the config caused (a model or labels file
// that is missing or unreadable): the command exits 2 for them, as for any bad config.
var ErrConfig = errors.New("bad config")

// App is a running gstvision.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	engine  *Engine
	hub     *results.Hub
	events  *events.Store   // tracker and zone events (analysis.go)
	mqttPub *mqtt.Publisher // nil without mqtt.url (mqtt.go)
	version string          // WithVersion
	track   *analysis
	stage   *analytics.Stage // the first lane's (the only one outside multi-GPU)
	lanes   []*lane          // one inference stage per GPU (lanes.go)
	placer  *placement.Placer
	cameras *camera.Manager
	server  *server.Server
	observe atomic.Pointer[ResultObserver]
	ops     opsState // run-time camera API, metrics, more observers (cameras_api.go, metrics.go)
	rtc     *webrtc.Manager
	viewers *viewer.Manager
	backoff camera.Backoff // every camera's (WithCameraBackoff); zero: the production one
	// stopCollector ends the collector that frees stopped pipelines (gst.StartCollector).
	stopCollector context.CancelFunc
}

// ResultObserver is told every processed frame's latency from decode to detections.
type ResultObserver func(camera string, latency time.Duration, err error)

// New prepares everything that can fail before any camera starts: nothing starts
// half-configured.
func New(cfg *config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	removeStaleConfigTemps(cfg.Path(), log)
	eng, err := NewEngine(cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, engine: eng}
	for _, o := range opts {
		o(a)
	}
	plan := eng.plan
	if err := config.CheckClasses(cfg.Cameras, 0, eng.Labels); err != nil {
		eng.Close()
		return nil, fmt.Errorf("%w: %w: %w", ErrStartup, ErrConfig, err)
	}
	a.hub = results.NewHub(results.Options{})
	a.events = events.New(events.Options{Grab: a.grabSnapshot})
	a.track = newAnalysis(cfg, a.events, a.hub, func(id string) (config.Camera, bool) {
		if a.ops.api == nil {
			return config.Camera{}, false
		}
		return a.ops.api.Camera(id)
	})
	if !cfg.Tracking.IsEnabled() && hasGeometry(cfg.Cameras) {
		log.Warn("tracking.enabled is false: the cameras' zones and lines make no events")
	}
	err = a.newLanes(analytics.Options{
		Decoupled: plan.Decoupled,
		MaxBatch:  plan.MaxBatch,
		MaxWait:   time.Duration(cfg.Processing.MaxWaitMS) * time.Millisecond,
		Sets:      stageSets(cfg.Device, cfg.Processing.BatchSets),
		Publish:   a.track.publish,
		Logger:    log,
		OnResult: func(cam string, lat time.Duration, err error) {
			if f := a.observe.Load(); f != nil {
				(*f)(cam, lat, err)
			}
			a.notifyObservers(cam, lat, err)
		},
	})
	if err != nil {
		a.track.close()
		a.events.Close()
		eng.Close()
		return nil, fmt.Errorf("%w: %w", ErrStartup, err)
	}
	log.Info("processing", "mode", plan.Mode(), "max_batch", plan.MaxBatch, "cuda_graph", plan.CUDAGraph,
		"cameras", cfg.EnabledCameras(), "stages", len(a.lanes), "chosen", plan.Reason())
	if cfg.Device == config.DeviceCUDA && plan.Decoupled && !plan.CUDAGraph {
		// Without a graph, each batch's kernel launches wait behind the cameras' threads, and a
		// batch takes several times its GPU time (see BENCHMARKS.md).
		log.Info("processing.cuda_graph is off: the decoupled stage runs each batch kernel by kernel; leave it out or set it to true for full rate and lower latency")
	}
	var firstGPU *gst.CUDAContext
	if d := a.lanes[0].dev; d != nil {
		firstGPU = d.gst
	}
	a.cameras = camera.NewManager(a.stage, firstGPU, log)
	a.server = server.New(server.Options{
		Listen: cfg.Server.Listen, Token: cfg.Server.Token, CORSOrigins: cfg.Server.CORSOrigins,
		MaxBodyBytes: cfg.Server.MaxBodyBytes, Logger: log,
	}, server.Deps{Cameras: a.newCameraAPI(), Results: a.hub, Events: a.events})
	if err := a.initViewers(); err != nil {
		a.abandon()
		return nil, fmt.Errorf("%w: %w", ErrStartup, err)
	}
	if err := a.initOps(); err != nil {
		a.abandon()
		return nil, fmt.Errorf("%w: %w", ErrStartup, err)
	}
	if err := a.initMQTT(); err != nil {
		a.abandon()
		return nil, fmt.Errorf("%w: %w", ErrStartup, err)
	}
	var collect context.Context
	collect, a.stopCollector = context.WithCancel(context.Background())
	gst.StartCollector(collect)
	return a, nil
}

// abandon undoes a New that failed after the stage started (no camera runs yet).
func (a *App) abandon() {
	a.closeLanes()
	a.track.close()
	a.events.Close()
	a.engine.Close()
}

// removeStaleConfigTemps deletes the copies of the config that an interrupted save left (the
// camera API saves the file): they hold the token and camera passwords.
func removeStaleConfigTemps(path string, log *slog.Logger) {
	if path == "" {
		return // parsed from memory: nothing is saved
	}
	removed, err := config.RemoveStaleTemps(path)
	if len(removed) > 0 {
		log.Info("removed temporary config files left by an interrupted save", "files", removed)
	}
	if err != nil {
		log.Warn("could not remove a stale temporary config file", "err", err)
	}
}

// CameraConfig turns a configured camera into what the camera package runs.
func CameraConfig(cfg *config.Config, c config.Camera) camera.Config {
	return camera.Config{
		ID: c.ID, URL: c.URL, RedactedURL: config.RedactURL(c.URL), Transport: c.Transport,
		Latency: c.Latency(), EveryN: cfg.Inference.EveryNFrames, QueueFrames: cfg.Processing.QueueFrames,
		StatsEvery: cfg.Processing.StatsEveryFrames, DropRemedy: cfg.Plan().DropRemedy(cfg.Device),
	}
}

// cameraConfig is CameraConfig with the drop remedy of the plan this App runs, which cameras
// added at run time do not change, and the camera's place: the GPU (context and stage) it runs
// on. It fails when the camera cannot be placed (its gpu is not in use or has failed).
func (a *App) cameraConfig(c config.Camera) (camera.Config, error) {
	cc := CameraConfig(a.cfg, c)
	cc.DropRemedy = a.engine.plan.DropRemedy(a.cfg.Device)
	cc.Backoff = a.backoff
	return cc, a.placeCamera(c, &cc)
}

// PlacedCameraConfig is the camera.Config serve runs camera c with, placed on its GPU
// (benchmarks add cameras with it).
func (a *App) PlacedCameraConfig(c config.Camera) (camera.Config, error) { return a.cameraConfig(c) }

// Observe registers f to be told of every result (benchmarks, metrics).
func (a *App) Observe(f ResultObserver) { a.observe.Store(&f) }

// Engine is the device side (model, GPU).
func (a *App) Engine() *Engine { return a.engine }

// Stage is the inference stage.
func (a *App) Stage() *analytics.Stage { return a.stage }

// Server is the HTTP server (for adding routes before Run).
func (a *App) Server() *server.Server { return a.server }

// Hub is the results hub.
func (a *App) Hub() *results.Hub { return a.hub }

// Cameras is the camera manager.
func (a *App) Cameras() *camera.Manager { return a.cameras }

// Run starts the enabled cameras and serves until ctx ends, then shuts down: the HTTP server
// stops accepting, cameras' pipelines go to NULL, the inference stage drains.
func (a *App) Run(ctx context.Context) error {
	for _, c := range a.cfg.Cameras {
		if !c.IsEnabled() {
			continue
		}
		cc, err := a.cameraConfig(c)
		if err == nil {
			err = a.cameras.Add(cc)
		}
		if err != nil {
			return err
		}
	}
	a.log.Info("gstvision serving", "listen", a.cfg.Server.Listen, "device", a.cfg.Device,
		"mode", a.engine.plan.Mode(), "cameras", len(a.cameras.IDs()), "model", a.engine.Info.Path)
	go a.watchGPU(ctx)
	a.startMQTT(ctx)
	err := a.server.ListenAndServe(ctx)
	a.Close()
	return err
}

// Close stops cameras, the stage and the engine.
func (a *App) Close() {
	a.cameras.StopAll()
	if a.viewers != nil {
		a.viewers.Close()
		a.rtc.Close()
	}
	a.closeLanes()
	a.track.close() // the stages' last results
	if a.mqttPub != nil {
		a.mqttPub.Close() // after the cameras: their last events go out
	}
	a.hub.Close()
	a.events.Close()
	a.engine.Close()
	a.stopCollector()
	a.log.Info("gstvision stopped")
}

// Engine is the device-specific part: ONNX Runtime, the model, and in cuda mode each GPU's
// primary context (one per GPU, shared by that GPU's decoders and ONNX Runtime sessions).
type Engine struct {
	Device string
	Info   inference.ModelInfo
	Labels []string
	ORT    string // ONNX Runtime version
	cfg    *config.Config
	plan   config.Plan  // the processing choices, made once at start (per GPU)
	gpus   []*gpuDevice // cuda mode: the GPUs in use, in the order of gpus
}

// NewEngine initialises GStreamer, ONNX Runtime and the model; in cuda mode also every GPU,
// its NVDEC and the CUDA execution provider. Anything missing is an error that says what.
func NewEngine(cfg *config.Config, log *slog.Logger) (*Engine, error) {
	gst.Init(cfg.Debug.GSTDebug, cfg.Debug.DumpDotDir)
	if err := elements.Register(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStartup, err)
	}
	// Start-up checks the H.264 path every camera may need; an H.265 camera that finds its
	// elements missing fails alone, as it connects.
	if err := checkElements(gst.Receive(gst.CodecH264)...); err != nil {
		return nil, err
	}
	ver, err := inference.InitRuntime(cfg.Inference.ONNXRuntimeLibrary)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStartup, err)
	}
	info, err := inference.Inspect(cfg.Inference.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: inference.model: %w", ErrStartup, ErrConfig, err)
	}
	labels, err := inference.ResolveLabels(cfg.Inference.Labels, info)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: inference.labels: %w", ErrStartup, ErrConfig, err)
	}
	if labels.Warning != "" {
		log.Warn(labels.Warning)
	}
	e := &Engine{Device: cfg.Device, Info: info, Labels: labels.Names, ORT: ver, cfg: cfg, plan: cfg.Plan()}
	cpuDecoder, _ := gst.Decoder(gst.CodecH264, false)
	if cfg.Device == config.DeviceCUDA {
		if err := e.openGPUs(log); err != nil {
			e.Close()
			return nil, fmt.Errorf("%w: device cuda: %w", ErrStartup, err)
		}
		e.plan = cfg.PlanFor(len(e.gpus))
	} else if err := checkElements(cpuDecoder); err != nil {
		return nil, err
	}
	// A first detector on each device proves the model runs there before any camera starts.
	for _, d := range e.devices() {
		det, err := e.newDetector(d, 1, false)
		if err != nil {
			e.Close()
			if d != nil {
				err = fmt.Errorf("GPU %d: %w", d.index, err)
			}
			return nil, fmt.Errorf("%w: %w", ErrStartup, err)
		}
		det.Backend().Close()
	}
	attrs := []any{"device", cfg.Device, "onnxruntime", ver, "model", info.Path,
		"input", fmt.Sprintf("%dx%d", info.InputW, info.InputH), "layout", info.Layout.String(),
		"classes", len(labels.Names), "class_names", string(labels.Source), "preprocess", info.Preprocess.String(), "gstreamer", gst.Version()}
	if len(e.gpus) > 0 {
		attrs = append(attrs, "gpus", e.GPUs())
	}
	log.Info("engine ready", attrs...)
	return e, nil
}

// Plan is the processing choices this engine runs with (made for one GPU's share of the
// cameras).
func (e *Engine) Plan() config.Plan { return e.plan }

// devices lists the devices that run inference: each GPU in cuda mode, else one nil (the
// CPU).
func (e *Engine) devices() []*gpuDevice {
	if len(e.gpus) == 0 {
		return []*gpuDevice{nil}
	}
	return e.gpus
}

// checkElements fails start-up, naming the fix, unless GStreamer has every requirement.
func checkElements(reqs ...gst.Requirement) error {
	for _, r := range reqs {
		if err := r.Missing(); err != nil {
			return fmt.Errorf("%w: %w (run gstvision doctor)", ErrStartup, err)
		}
	}
	return nil
}

// detectorFactories are the stage's detector makers on device d (nil: the CPU): inline ones
// each with their own backend of maxBatch slots, and the decoupled stage's, which replay a
// CUDA graph where processing.cuda_graph asks (the stage makes these before any camera
// starts, which the graph's capture needs).
func (e *Engine) detectorFactories(d *gpuDevice) (inline, batch analytics.DetectorFactory) {
	return func(maxBatch int) (*inference.Detector, error) { return e.newDetector(d, maxBatch, false) },
		func(maxBatch int) (*inference.Detector, error) { return e.newDetector(d, maxBatch, e.plan.CUDAGraph) }
}

func (e *Engine) newDetector(d *gpuDevice, maxBatch int, graph bool) (*inference.Detector, error) {
	var b inference.Backend
	var err error
	if d != nil {
		b, err = d.newBackend(e.Info, maxBatch, graph)
	} else {
		threads := 0
		if !e.plan.Decoupled {
			threads = max(1, runtime.NumCPU()/2) // several cameras each run a session
		}
		b, err = inference.NewCPUBackend(e.Info, maxBatch, threads)
	}
	if graph && errors.Is(err, ortgpu.ErrCUDAGraph) {
		return nil, fmt.Errorf("processing.cuda_graph: %w (set it to false for this model)", err)
	}
	if err != nil {
		return nil, err
	}
	return inference.NewDetector(b, e.Info, e.Labels, float32(e.cfg.Inference.Confidence),
		float32(e.cfg.Inference.NMSIoU)), nil
}

// Close releases the engine.
func (e *Engine) Close() {
	for _, d := range e.gpus {
		d.close()
	}
	e.gpus = nil
}

// stageSets is how many batch sets the decoupled stage gets: the configured number, else the
// device's default.
func stageSets(device string, configured int) int {
	if configured > 0 {
		return configured
	}
	if device == config.DeviceCUDA {
		return analytics.GPUSets
	}
	return analytics.DefaultSets
}
