package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gstvision/gstvision/gst"
	"github.com/gstvision/gstvision/internal/scenematch"
	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

// Pictures are matched on their luma sampled every matchStep pixels in both directions.
const matchStep = 4

// matchWindow is how many frames before the newest produced one a shown picture may be.
const matchWindow = 60

type decodedPicture struct {
	arrived time.Time // its access unit completed
	decoded time.Time
	luma    []byte // sampled, (w/matchStep)×(h/matchStep)
}

// latencyViewer is a WHEP viewer that decodes what it receives and keeps, for each picture,
// when its access unit arrived, when it was decoded and its sampled luma.
type latencyViewer struct {
	v     *whepclient.Client
	dec   *gst.H264Decoder
	epoch time.Time
	w, h  int

	mu         sync.Mutex
	recording  bool
	t0, t1     time.Time
	received   int
	pictures   []decodedPicture
	decodedAll int
	err        error
}

func newLatencyViewer(ctx context.Context, base, cam, view string, w, h int) (*latencyViewer, error) {
	lv := &latencyViewer{epoch: time.Now(), w: w, h: h}
	dec, err := gst.NewH264Decoder(lv.onPicture)
	if err != nil {
		return nil, fmt.Errorf("%w: viewer decoder: %w", ErrViewerBench, err)
	}
	lv.dec = dec
	v, err := whepclient.Connect(ctx, base+"/whep/"+cam+"?view="+view, lv.onAU)
	if err != nil {
		dec.Close()
		return nil, fmt.Errorf("%w: %w", ErrViewerBench, err)
	}
	if got := v.Response.Header.Get(webrtc.HeaderView); got != view {
		_ = v.Close()
		dec.Close()
		return nil, fmt.Errorf("%w: latency viewer asked for the %s view and got %q", ErrViewerBench, view, got)
	}
	lv.v = v
	return lv, nil
}

func (lv *latencyViewer) onAU(au []byte, at time.Time, damaged bool) {
	lv.mu.Lock()
	if lv.recording && !at.Before(lv.t0) && (lv.t1.IsZero() || !at.After(lv.t1)) {
		lv.received++
	}
	lv.mu.Unlock()
	if damaged {
		return // a decoder fed a partial access unit shows garbage until the next keyframe anyway
	}
	// the arrival time travels through the decoder as the buffer's PTS
	if err := lv.dec.Push(au, at.Sub(lv.epoch)); err != nil {
		lv.mu.Lock()
		if lv.err == nil {
			lv.err = fmt.Errorf("%w: viewer decoder: %w", ErrViewerBench, err)
		}
		lv.mu.Unlock()
	}
}

func (lv *latencyViewer) onPicture(p gst.Picture) {
	now := time.Now()
	arrived := lv.epoch.Add(p.PTS)
	lv.mu.Lock()
	defer lv.mu.Unlock()
	lv.decodedAll++
	if !lv.recording || arrived.Before(lv.t0) {
		return
	}
	if p.Width != lv.w || p.Height != lv.h {
		if lv.err == nil {
			lv.err = fmt.Errorf("%w: viewer picture is %dx%d, want %dx%d", ErrViewerBench, p.Width, p.Height, lv.w, lv.h)
		}
		return
	}
	luma := scenematch.Sample(p.Y, p.Stride, p.Width, p.Height, matchStep)
	lv.pictures = append(lv.pictures, decodedPicture{arrived: arrived, decoded: now, luma: luma})
}

func (lv *latencyViewer) start() {
	lv.mu.Lock()
	lv.recording, lv.t0 = true, time.Now()
	lv.mu.Unlock()
}

// stop ends recording; pictures whose access unit arrived after it are ignored.
func (lv *latencyViewer) stop() {
	lv.mu.Lock()
	lv.t1 = time.Now()
	lv.mu.Unlock()
}

func (lv *latencyViewer) decodedCount() int {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return lv.decodedAll
}

// recorded returns what the viewer recorded: its pictures, the end of recording, the access
// units received while recording, and the first error.
func (lv *latencyViewer) recorded() ([]decodedPicture, time.Time, int, error) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return lv.pictures, lv.t1, lv.received, lv.err
}

func (lv *latencyViewer) close() error {
	var err error
	if lv.v != nil {
		if cerr := lv.v.Close(); cerr != nil {
			err = fmt.Errorf("%w: %w", ErrViewerBench, cerr)
		}
	}
	lv.dec.Close()
	return err
}
