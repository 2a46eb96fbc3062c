package camera

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
)

// A fake pipeline stands in for GStreamer: it decodes scripted frames on a timer, hands them to
// the camera's frame handler as the inference sink would, and ends as scripted. The tests run
// inside a synctest bubble, where these timers and the supervisor's use a fake clock.

// frameGap is the time between a fake pipeline's frames (10 frames/s).
const frameGap = 100 * time.Millisecond

// run scripts one pipeline the fake factory builds: it fails to build, or it decodes frames,
// then reports warn (through the camera's OnWarning) and then ends with end. With neither, it
// goes quiet and stays up until stopped.
type run struct {
	buildErr error
	frames   int
	// lost tells the frames (by their number in this run, from 0) that the queue before the
	// sink drops: they are decoded but never reach the handler.
	lost   func(i int) bool
	queued uint64                        // frames reported waiting in the queue
	during func(t *testing.T, c *Camera) // called after the frames, while the pipeline runs
	warn   string
	end    error
}

// built records one build of a pipeline, for the checks.
type built struct {
	at       time.Time   // when the factory was called
	before   defs.Status // the camera's status then: the outcome of the previous run
	from     uint64      // NumberFrom's first
	started  time.Time
	stopped  time.Time // Stop's time (at for a build that failed)
	lastSeen time.Time // the last frame's time (zero: none)
}

// fakeFactory builds the scripted pipelines in order; the build after the last script closes
// finished (and gets a quiet pipeline), so that the test knows every script has played.
type fakeFactory struct {
	t        *testing.T
	cam      *Camera
	runs     []run
	finished chan struct{}

	mu    sync.Mutex
	built []*built
}

func newFakeFactory(t *testing.T, runs []run) *fakeFactory {
	return &fakeFactory{t: t, runs: runs, finished: make(chan struct{})}
}

// build is the PipelineFactory.
func (f *fakeFactory) build(s PipelineSpec) (Pipeline, error) {
	now := time.Now()
	b := &built{at: now, before: f.cam.Status()}
	f.mu.Lock()
	f.built = append(f.built, b)
	n := len(f.built)
	f.mu.Unlock()
	if n > len(f.runs) {
		if n == len(f.runs)+1 {
			close(f.finished)
		}
		return &fakePipeline{f: f, b: b, spec: s, done: make(chan error, 1), stop: make(chan struct{})}, nil
	}
	r := f.runs[n-1]
	if r.buildErr != nil {
		b.stopped = now
		return nil, r.buildErr
	}
	return &fakePipeline{f: f, b: b, spec: s, run: r, done: make(chan error, 1), stop: make(chan struct{})}, nil
}

// builds returns the records, once the camera has stopped.
func (f *fakeFactory) builds() []*built {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.built
}

// fakePipeline plays one run.
type fakePipeline struct {
	f    *fakeFactory
	b    *built
	spec PipelineSpec
	run  run
	done chan error
	stop chan struct{}
	once sync.Once

	mu      sync.Mutex
	decoded uint64 // the next frame's number
	last    time.Time
}

func (p *fakePipeline) NumberFrom(first uint64) { p.decoded, p.b.from = first, first }

func (p *fakePipeline) Start() error {
	p.b.started = time.Now()
	go p.play()
	return nil
}

func (p *fakePipeline) Done() <-chan error { return p.done }

func (p *fakePipeline) Stop() {
	p.once.Do(func() {
		p.mu.Lock()
		p.b.stopped, p.b.lastSeen = time.Now(), p.last
		p.mu.Unlock()
		close(p.stop)
	})
}

func (p *fakePipeline) Decoded() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.decoded
}

func (p *fakePipeline) LastFrameAge() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last.IsZero() {
		return -1
	}
	return time.Since(p.last)
}

func (p *fakePipeline) DecodedAgo(uint64) time.Duration { return 0 }
func (p *fakePipeline) Queued() uint64                  { return p.run.queued }
func (p *fakePipeline) Info() gst.StreamInfo {
	return gst.StreamInfo{Codec: "H264", Decoder: "fakedec"}
}

// play decodes the run's frames and ends it as scripted; it returns when stopped.
func (p *fakePipeline) play() {
	for i := range p.run.frames {
		select {
		case <-p.stop:
			return
		case <-time.After(frameGap):
		}
		index := p.decode()
		if p.run.lost != nil && p.run.lost(i) {
			continue
		}
		mf := &gst.MappedFrame{}
		mf.Frame.Width, mf.Frame.Height = 320, 180
		if err := p.f.cam.HandleFrame(elements.FrameMeta{Index: index}, mf); err != nil {
			// the inference sink posts the handler's error as a plain pipeline error
			p.done <- fmt.Errorf("%w: infer: %s", gst.ErrPipeline, err.Error())
			<-p.stop
			return
		}
	}
	if p.run.during != nil {
		p.run.during(p.f.t, p.f.cam)
	}
	if p.run.warn != "" {
		if err := p.spec.OnWarning("src", p.run.warn); err != nil {
			p.done <- err
		}
	}
	if p.run.end != nil {
		select {
		case p.done <- p.run.end:
		default: // a fatal warning came first
		}
	}
	<-p.stop
}

// decode produces the next frame and returns its number.
func (p *fakePipeline) decode() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = time.Now()
	p.decoded++
	return p.decoded - 1
}
