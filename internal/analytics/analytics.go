// Package analytics is the inference stage between the cameras' pipelines and the results hub.
// It owns the switch between the two processing modes:
//   - unified (ENABLE_DECOUPLED_PIPELINE=false): each camera runs its own detector inline, batch
//     1, in its pipeline's streaming thread;
//   - decoupled (true): every camera hands its frames to one shared stage that batches frames
//     across cameras (max_batch, max_wait_ms) and routes the detections back per camera.
package analytics

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/results"
)

// DetectorFactory makes a detector with its own backend (own input slots, own session).
type DetectorFactory func(maxBatch int) (*inference.Detector, error)

// Options configure the stage.
type Options struct {
	Decoupled bool
	MaxBatch  int
	MaxWait   time.Duration
	// Sets is the number of detectors (input slots, session, output buffers) of the decoupled
	// stage; 0 means DefaultSets. See GPUSets.
	Sets        int
	NewDetector DetectorFactory
	// NewBatchDetector, if set, makes the decoupled stage's detectors instead of NewDetector.
	NewBatchDetector DetectorFactory
	Publish          func(results.Result) // where results go (the hub)
	Logger           *slog.Logger
	// OnResult, when set, is told each result's latency (decode to detections) for metrics.
	OnResult func(camera string, latency time.Duration, err error)
}

// Stage is the running inference stage.
type Stage struct {
	opts Options
	log  *slog.Logger

	// unified mode: one inline detector per camera, made at its first frame
	mu     sync.Mutex
	inline map[string]*inline

	// decoupled mode
	batcher   *inference.Batcher
	detectors []*inference.Detector
}

type inline struct {
	once sync.Once
	in   *inference.Inline
	det  *inference.Detector
	err  error
}

// ErrStage wraps failures to set up the stage.
var ErrStage = errors.New("inference stage")

// DefaultSets: on the CPU two detectors suffice, one filling while the other runs (more would
// only compete for the same cores and hold more input memory).
const DefaultSets = 2

// GPUSets is the number of detectors for the GPU: batches fill while two run on the device
// (each one's kernels filling the gaps the other leaves) and earlier ones are turned into
// detections on the host (inference.Batcher). The sets in use at once are frames/s × (fill +
// device + host time of a batch) / batch size; there must be more than that at full load, or
// cameras wait for a free set and drop frames (see BENCHMARKS.md, "What limits the decoupled
// figure").
const GPUSets = 6

// New starts the stage. In decoupled mode it creates Sets detectors of MaxBatch slots each.
func New(o Options) (*Stage, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBatch < 1 {
		o.MaxBatch = 1
	}
	if o.Sets < 1 {
		o.Sets = DefaultSets
	}
	s := &Stage{opts: o, log: o.Logger, inline: map[string]*inline{}}
	if !o.Decoupled {
		s.log.Info("inference stage started", "decoupled", false, "batch", 1)
		return s, nil
	}
	newBatch := o.NewBatchDetector
	if newBatch == nil {
		newBatch = o.NewDetector
	}
	for range o.Sets {
		d, err := newBatch(o.MaxBatch)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%w: detector: %w", ErrStage, err)
		}
		s.detectors = append(s.detectors, d)
	}
	s.batcher = inference.NewBatcher(s.detectors[0], o.MaxBatch, o.MaxWait, s.detectors[1:]...)
	s.log.Info("inference stage started", "decoupled", true, "max_batch", o.MaxBatch, "max_wait", o.MaxWait, "batch_sets", o.Sets)
	return s, nil
}

// Decoupled reports whether the stage batches frames across cameras (else each camera's frames
// are analysed inline).
func (s *Stage) Decoupled() bool { return s.opts.Decoupled }

// Batcher exposes the decoupled stage's batcher (nil in unified mode) for stats.
func (s *Stage) Batcher() *inference.Batcher { return s.batcher }

// Analyze implements camera.Analyzer.
func (s *Stage) Analyze(cam string, meta elements.FrameMeta, f *gst.MappedFrame) error {
	start := meta.Decoded
	if start.IsZero() {
		start = time.Now()
	}
	w, h := f.Frame.Width, f.Frame.Height
	publish := func(dets []defs.Detection, err error) {
		if s.opts.OnResult != nil {
			s.opts.OnResult(cam, time.Since(start), err)
		}
		if err != nil {
			s.log.Warn("inference failed", "camera", cam, "frame", meta.Index, "error", err)
			return
		}
		if dets == nil {
			dets = []defs.Detection{}
		}
		s.opts.Publish(results.Result{Camera: cam, Frame: meta.Index, PTS: meta.PTS, Time: time.Now().UTC(),
			Width: w, Height: h, Detections: dets})
	}
	if s.batcher != nil {
		err := s.batcher.Submit(inference.Job{Camera: cam, Frame: &f.Frame, Release: f.Unmap, Done: publish})
		if errors.Is(err, defs.ErrClosed) {
			return nil // shutting down
		}
		if err != nil {
			// a frame that cannot be preprocessed is reported, not fatal to the camera
			s.log.Warn("frame rejected", "camera", cam, "frame", meta.Index, "error", err)
		}
		return nil
	}
	in, err := s.inlineFor(cam)
	if err != nil {
		f.Unmap()
		return err
	}
	dets, err := in.Detect(&f.Frame)
	f.Unmap()
	publish(dets, err)
	return nil
}

func (s *Stage) inlineFor(cam string) (*inference.Inline, error) {
	s.mu.Lock()
	il, ok := s.inline[cam]
	if !ok {
		il = &inline{}
		s.inline[cam] = il
	}
	s.mu.Unlock()
	il.once.Do(func() {
		d, err := s.opts.NewDetector(1)
		if err != nil {
			il.err = fmt.Errorf("%w: detector for camera %s: %w", ErrStage, cam, err)
			return
		}
		il.det, il.in = d, inference.NewInline(d)
	})
	return il.in, il.err
}

// Forget releases a removed camera's inline detector (unified mode).
func (s *Stage) Forget(cam string) {
	s.mu.Lock()
	il := s.inline[cam]
	delete(s.inline, cam)
	s.mu.Unlock()
	if il != nil && il.det != nil {
		il.det.Backend().Close()
	}
}

// Close stops the stage: the batcher drains, every backend is closed.
func (s *Stage) Close() {
	if s.batcher != nil {
		s.batcher.Close()
	}
	for _, d := range s.detectors {
		d.Backend().Close()
	}
	s.mu.Lock()
	ils := s.inline
	s.inline = map[string]*inline{}
	s.mu.Unlock()
	for _, il := range ils {
		if il.det != nil {
			il.det.Backend().Close()
		}
	}
}
