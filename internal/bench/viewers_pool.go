package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gstvision/gstvision/internal/whepclient"
	"github.com/gstvision/gstvision/webrtc"
)

// viewerPool is a set of WHEP viewers.
type viewerPool interface {
	// add connects n viewers of camera's view and returns once each has received an access
	// unit, with each viewer's time to its first picture (joinTime).
	add(ctx context.Context, base, camera, view string, n int) ([]time.Duration, error)
	// begin starts a measuring window; end ends it and returns what each viewer received in it.
	begin(ctx context.Context) error
	end(ctx context.Context) (*poolStats, error)
	close() error
}

// poolStats is what a pool's viewers received in a window.
type poolStats struct {
	Seconds    float64       `json:"seconds"`
	CPUPercent float64       `json:"cpu_percent"` // the pool's process; -1 when it is this one
	Viewers    []viewerStats `json:"viewers"`
}

type viewerStats struct {
	Camera string `json:"camera"`
	AUs    uint64 `json:"aus"`
	Bytes  uint64 `json:"bytes"`
	Lost   uint64 `json:"lost"`
}

func (p *poolStats) fps() []float64 {
	out := make([]float64, len(p.Viewers))
	for i, v := range p.Viewers {
		out[i] = float64(v.AUs) / p.Seconds
	}
	return out
}

func (p *poolStats) lost() uint64 {
	var n uint64
	for _, v := range p.Viewers {
		n += v.Lost
	}
	return n
}

func newPool(ctx context.Context, o *ViewerOptions) (viewerPool, error) {
	if len(o.ClientCommand) == 0 {
		return newLocalPool(false), nil
	}
	return startProcPool(ctx, o)
}

// localPool runs its viewers in this process.
type localPool struct {
	ownCPU  bool // the pool has its process to itself: report its CPU
	viewers []*whepclient.Client
	cameras []string
	t0      time.Time
	cpu0    time.Duration
	base    []viewerStats
}

func newLocalPool(ownCPU bool) *localPool { return &localPool{ownCPU: ownCPU} }

func (p *localPool) add(ctx context.Context, base, cam, view string, n int) ([]time.Duration, error) {
	var added []*whepclient.Client
	var starts []time.Time
	for range n {
		starts = append(starts, time.Now())
		v, err := connectView(ctx, base, cam, view)
		if err != nil {
			return nil, err
		}
		p.viewers, p.cameras = append(p.viewers, v), append(p.cameras, cam)
		added = append(added, v)
	}
	timeout := time.After(30 * time.Second)
	joins := make([]time.Duration, len(added))
	for i, v := range added {
		select {
		case <-v.First():
			joins[i] = v.FirstAt().Sub(starts[i])
		case <-timeout:
			return nil, fmt.Errorf("%w: viewer %d of %d on %s received nothing within 30 s (connection %s)", ErrViewerBench, i+1, n, cam, v.PC.ConnectionState())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return joins, nil
}

// connectView connects a WHEP viewer of camera's view (?view=) and checks that the server gave
// that view: a passthrough request may get the annotated one (B-frames, H.265), which would
// measure the wrong thing.
func connectView(ctx context.Context, base, cam, view string) (*whepclient.Client, error) {
	v, err := whepclient.Connect(ctx, base+"/whep/"+cam+"?view="+url.QueryEscape(view), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrViewerBench, err)
	}
	if got := v.Response.Header.Get(webrtc.HeaderView); got != view {
		_ = v.Close()
		return nil, fmt.Errorf("%w: %s asked for the %s view and got %q (%s)", ErrViewerBench, cam, view, got,
			v.Response.Header.Get(webrtc.HeaderViewReason))
	}
	return v, nil
}

func (p *localPool) counts() []viewerStats {
	out := make([]viewerStats, len(p.viewers))
	for i, v := range p.viewers {
		st := v.Stats()
		out[i] = viewerStats{Camera: p.cameras[i], AUs: st.AccessUnits, Bytes: st.Bytes, Lost: st.Lost}
	}
	return out
}

func (p *localPool) begin(context.Context) error {
	p.base = p.counts()
	p.t0, p.cpu0 = time.Now(), cpuTime()
	return nil
}

func (p *localPool) end(context.Context) (*poolStats, error) {
	secs := time.Since(p.t0).Seconds()
	st := &poolStats{Seconds: secs, CPUPercent: -1}
	if p.ownCPU {
		st.CPUPercent = 100 * (cpuTime() - p.cpu0).Seconds() / secs
	}
	now := p.counts()
	for i, c := range now {
		if i < len(p.base) {
			c.AUs -= p.base[i].AUs
			c.Bytes -= p.base[i].Bytes
			c.Lost -= p.base[i].Lost
		}
		st.Viewers = append(st.Viewers, c)
	}
	return st, nil
}

func (p *localPool) close() error {
	var errs []error
	for _, v := range p.viewers {
		if err := v.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrViewerBench, err))
		}
	}
	p.viewers, p.cameras = nil, nil
	return errors.Join(errs...)
}
