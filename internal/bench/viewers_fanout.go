package bench

import (
	"context"
	"fmt"

	"github.com/gstvision/gstvision/internal/config"
)

// FanoutResult is the many-viewers-of-one-camera run.
type FanoutResult struct {
	Camera         string    `json:"camera"`
	Size           string    `json:"size"`
	Viewers        int       `json:"viewers"`
	Seconds        float64   `json:"seconds"` // per window
	IdleCPU        float64   `json:"idle_cpu_percent"`
	OneCPU         float64   `json:"one_viewer_cpu_percent"`
	ManyCPU        float64   `json:"many_viewers_cpu_percent"`
	PerExtraViewer float64   `json:"cpu_percent_per_extra_viewer"`
	OneFPS         float64   `json:"one_viewer_fps"`
	CameraFPS      float64   `json:"camera_fps"` // decoded frames/s of the camera, many-viewers window
	FPSMin         float64   `json:"viewer_fps_min"`
	FPSMean        float64   `json:"viewer_fps_mean"`
	ViewerFPS      []float64 `json:"viewer_fps"`
	ViewersWithout int       `json:"viewers_without_frames"`
	EncoderStarts  int       `json:"encoder_starts"`       // over the whole run
	EncodersMax    int       `json:"encoders_running_max"` // at once, many-viewers window
	EncodersNow    int       `json:"encoders_running_end"` // at the end of the many-viewers window
	ClientCPU      float64   `json:"client_cpu_percent"`   // the viewers' process, many window; -1 unknown
	LostPkts       uint64    `json:"lost_packets"`
	LoadAvg        float64   `json:"load_avg_1m"`
	// Join is the time from POST to the first access unit of each viewer, the first one and
	// the ones that joined it.
	Join Percentiles `json:"join"`
}

// RunViewers runs the selected viewer benchmarks one after the other, each on its own simulator

// runFanout measures one camera idle, with one viewer, then with o.FanoutViewers viewers.
func runFanout(ctx context.Context, o *ViewerOptions, rep *ViewerReport) (*FanoutResult, error) {
	st, err := startStack(ctx, o, rep, 1, o.FanoutWidth, o.FanoutHeight, config.DefaultLatencyMS, nil)
	if err != nil {
		return nil, err
	}
	defer st.close()
	cam := st.cams[0]
	res := &FanoutResult{Camera: cam, Size: fmt.Sprintf("%dx%d", o.FanoutWidth, o.FanoutHeight), Viewers: o.FanoutViewers,
		IdleCPU: -1, ClientCPU: -1}
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return nil, err
	}
	if !o.SkipIdle {
		idle, err := st.measure(ctx, nil, o.FanoutDuration)
		if err != nil {
			return nil, err
		}
		res.IdleCPU = idle.cpu
	}
	pool, err := newPool(ctx, o)
	if err != nil {
		return nil, err
	}
	defer pool.close()
	joins, err := pool.add(ctx, st.base, cam, o.View, 1)
	if err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		return nil, err
	}
	one, err := st.measure(ctx, pool, o.FanoutDuration)
	if err != nil {
		return nil, err
	}
	res.OneCPU = one.cpu
	if f := one.pool.fps(); len(f) > 0 {
		res.OneFPS = f[0]
	}
	if o.FanoutViewers > 1 {
		more, err := pool.add(ctx, st.base, cam, o.View, o.FanoutViewers-1)
		if err != nil {
			return nil, err
		}
		joins = append(joins, more...)
		if err := sleepCtx(ctx, o.Settle); err != nil {
			return nil, err
		}
	}
	many, err := st.measure(ctx, pool, o.FanoutDuration)
	if err != nil {
		return nil, err
	}
	res.Seconds = many.seconds
	res.ManyCPU, res.CameraFPS = many.cpu, many.camFPSMin
	if o.FanoutViewers > 1 {
		res.PerExtraViewer = (many.cpu - one.cpu) / float64(o.FanoutViewers-1)
	}
	res.Join = percentiles(joins)
	res.ViewerFPS = many.pool.fps()
	res.FPSMin, res.FPSMean = minMean(res.ViewerFPS)
	for _, v := range many.pool.Viewers {
		if v.AUs == 0 {
			res.ViewersWithout++
		}
	}
	res.EncoderStarts = st.logs.starts(cam)
	res.EncodersMax, res.EncodersNow = many.encMax, many.encNow
	res.ClientCPU, res.LostPkts, res.LoadAvg = many.pool.CPUPercent, many.pool.lost(), many.load
	if want := encodersWanted(o, 1); res.EncoderStarts != want || res.EncodersMax != want {
		rep.problem("fanout: %d encoder starts, %d running at once; want %d and %d", res.EncoderStarts, res.EncodersMax, want, want)
	}
	if res.ViewersWithout > 0 || len(res.ViewerFPS) != o.FanoutViewers {
		rep.problem("fanout: %d of %d viewers received no frame", res.ViewersWithout+o.FanoutViewers-len(res.ViewerFPS), o.FanoutViewers)
	}
	if err := pool.close(); err != nil {
		return nil, err
	}
	return res, st.close()
}
