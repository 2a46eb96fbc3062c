package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/gstvision/gstvision/internal/config"
	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/scenematch"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/webrtc"
)

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	Max float64 `json:"max_ms"`
}

// percentiles summarises d.
func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return Percentiles{N: len(s), P50: pct(s, 0.50), P95: pct(s, 0.95), Max: float64(s[len(s)-1]) / 1e6}
}

// LatencyResult is one latency_ms setting's glass-to-glass latency.
type LatencyResult struct {
	LatencyMS  int         `json:"latency_ms"`
	Size       string      `json:"size"`
	SimBFrames int         `json:"sim_bframes"`
	Rounds     int         `json:"rounds"`   // runs pooled
	Seconds    float64     `json:"seconds"`  // measured, all rounds
	Received   int         `json:"received"` // complete access units received in the window
	Decoded    int         `json:"decoded"`  // pictures the viewer decoded
	Matched    int         `json:"matched"`  // pictures identified as a simulator frame
	FPS        float64     `json:"fps"`      // received access units per second
	LostPkts   uint64      `json:"lost_packets"`
	ReceivedMs Percentiles `json:"produced_to_received"` // frame produced → its access unit received
	DecodedMs  Percentiles `json:"produced_to_decoded"`  // frame produced → decoded by the viewer
	// frame produced → its detections published by gstvision (no viewer path)
	DetectionsMs      Percentiles `json:"produced_to_detections"`
	DetectionsMatched float64     `json:"detections_matched"` // share of results matching the ground truth
	MatchDiff         float64     `json:"match_luma_diff"`    // mean luma difference of the matches
	MatchMargin       float64     `json:"match_margin"`       // mean next-best (≥ 3 frames away) / best difference
	CPUPercent        float64     `json:"cpu_percent"`        // whole process, viewer and its decoder included (mean of rounds)
	LoadAvg           float64     `json:"load_avg_1m"`        // at the end of each round, mean
}

// latencySamples is what one or more latency runs of one setting measured.
type latencySamples struct {
	res                 LatencyResult
	rounds              int
	recv, decd, det     []time.Duration
	diffSum, marginSum  float64
	cpuSum, loadSum     float64
	detMatched, detSeen float64
}

// merge pools b into a (either may be nil).
func (a *latencySamples) merge(b *latencySamples) *latencySamples {
	if a == nil {
		return b
	}
	a.rounds += b.rounds
	a.res.Seconds += b.res.Seconds
	a.res.Received += b.res.Received
	a.res.Decoded += b.res.Decoded
	a.res.Matched += b.res.Matched
	a.res.LostPkts += b.res.LostPkts
	a.recv, a.decd, a.det = append(a.recv, b.recv...), append(a.decd, b.decd...), append(a.det, b.det...)
	a.diffSum, a.marginSum = a.diffSum+b.diffSum, a.marginSum+b.marginSum
	a.cpuSum, a.loadSum = a.cpuSum+b.cpuSum, a.loadSum+b.loadSum
	a.detMatched, a.detSeen = a.detMatched+b.detMatched, a.detSeen+b.detSeen
	return a
}

// result summarises the samples.
func (a *latencySamples) result() LatencyResult {
	r := a.res
	r.Rounds = a.rounds
	r.FPS = float64(r.Received) / r.Seconds
	r.ReceivedMs, r.DecodedMs, r.DetectionsMs = percentiles(a.recv), percentiles(a.decd), percentiles(a.det)
	if r.Matched > 0 {
		r.MatchDiff, r.MatchMargin = a.diffSum/float64(r.Matched), a.marginSum/float64(r.Matched)
	}
	if a.detSeen > 0 {
		r.DetectionsMatched = a.detMatched / a.detSeen
	}
	r.CPUPercent, r.LoadAvg = a.cpuSum/float64(a.rounds), a.loadSum/float64(a.rounds)
	return r
}

// runLatency measures one latency_ms setting once: a simulated camera, one decoding viewer,
// then each decoded picture and each published result placed on the simulator's frames.
func runLatency(ctx context.Context, o *ViewerOptions, rep *ViewerReport, latencyMS int) (*latencySamples, error) {
	tl := newTimeline()
	w, h := o.LatencyWidth, o.LatencyHeight
	st, err := startStack(ctx, o, rep, 1, w, h, latencyMS, tl.record)
	if err != nil {
		return nil, err
	}
	defer st.close()
	cam := st.cams[0]
	res := &LatencyResult{LatencyMS: latencyMS, Size: fmt.Sprintf("%dx%d", w, h), SimBFrames: st.sim.Options().BFrames}
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return nil, err
	}
	vw, vh := w, h // the passthrough view is the camera's own size
	if o.View == string(webrtc.ViewAnnotated) {
		vw, vh = min(w, config.DefaultMaxWidth), h*min(w, config.DefaultMaxWidth)/w
	}
	lv, err := watchLatency(ctx, o, st.base, cam, vw, vh)
	if err != nil {
		return nil, err
	}
	defer lv.close()
	// detections, for the glass-to-result part of the latency
	dr := recordDetections(st.app.Hub().Subscribe(cam, 4096))
	lv.start()
	cpu0, t0 := cpuTime(), time.Now()
	lost0 := lv.v.Stats().Lost
	err = sleepCtx(ctx, o.LatencyDuration)
	lv.stop()
	res.Seconds = time.Since(t0).Seconds()
	res.CPUPercent = 100 * (cpuTime() - cpu0).Seconds() / res.Seconds
	res.LoadAvg = loadAvg()[0]
	res.LostPkts = lv.v.Stats().Lost - lost0
	dr.stop()
	if err != nil {
		return nil, err
	}
	// let the last pictures out of the decoder, then stop everything before the matching
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
		return nil, err
	}
	times, restarts := tl.snapshot(1)
	if err := lv.close(); err != nil {
		rep.problem("latency %d ms: closing the viewer: %v", latencyMS, err)
	}
	if err := st.close(); err != nil {
		return nil, err
	}
	dets := dr.drain()
	if restarts > 0 {
		return nil, fmt.Errorf("%w: latency %d ms: the camera reconnected during the run: frame times are ambiguous", ErrViewerBench, latencyMS)
	}
	pics, t1, received, err := lv.recorded()
	if err != nil {
		return nil, err
	}
	res.Received = received
	if lv.w != w || lv.h != h {
		return nil, fmt.Errorf("%w: latency: the viewer video is scaled (%dx%d of %dx%d); matching needs the full size", ErrViewerBench, lv.w, lv.h, w, h)
	}
	scene := simulate.NewScene(w, h, st.sim.Options().FPS, 0)
	smp := &latencySamples{rounds: 1, cpuSum: res.CPUPercent, loadSum: res.LoadAvg}
	smp.matchPictures(res, pics, times, t1, scene)
	if res.Decoded == 0 || float64(res.Matched) < 0.9*float64(res.Decoded) {
		rep.problem("latency %d ms: only %d of %d decoded pictures identified", latencyMS, res.Matched, res.Decoded)
	}
	share, n, detLat := detectionLatency(dets, times, scene, t0, t1)
	smp.det, smp.detMatched, smp.detSeen = detLat, share*float64(n), float64(n)
	if n > 0 && share < 0.8 {
		rep.problem("latency %d ms: only %.0f%% of detections match the ground truth: the glass-to-detections figure is unreliable", latencyMS, 100*share)
	}
	smp.res = *res
	return smp, nil
}

// watchLatency connects a latency viewer of w×h pictures and waits until it has decoded one,
// then o.Settle.
func watchLatency(ctx context.Context, o *ViewerOptions, base, cam string, w, h int) (*latencyViewer, error) {
	lv, err := newLatencyViewer(ctx, base, cam, o.View, w, h)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for lv.decodedCount() == 0 {
		if time.Now().After(deadline) {
			err = fmt.Errorf("%w: latency viewer decoded nothing within 30 s (connection %s)", ErrViewerBench, lv.v.PC.ConnectionState())
		} else {
			err = sleepCtx(ctx, 50*time.Millisecond)
		}
		if err != nil {
			lv.close()
			return nil, err
		}
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		lv.close()
		return nil, err
	}
	return lv, nil
}

// matchPictures identifies the frame each picture decoded by t1 shows, among the matchWindow
// frames produced before its access unit arrived, and samples the latencies of the matches.
func (a *latencySamples) matchPictures(res *LatencyResult, pics []decodedPicture, times []time.Time, t1 time.Time, sc *simulate.Scene) {
	frames := scenematch.NewFrames(sc.Width, sc.Height, matchStep, sc.RenderI420)
	for _, p := range pics {
		if p.arrived.After(t1) {
			continue
		}
		res.Decoded++
		hi := lastBefore(times, p.arrived)
		if hi < 0 {
			continue
		}
		n, diff, other := frames.Match(p.luma, hi-matchWindow, hi)
		// a match must be clearly better than any frame 3 or more away, and not at the edge
		if n < 0 || n == hi-matchWindow || diff > 0.7*other {
			continue
		}
		res.Matched++
		a.diffSum += diff
		a.marginSum += other / math.Max(diff, 0.01)
		a.recv = append(a.recv, p.arrived.Sub(times[n]))
		a.decd = append(a.decd, p.decoded.Sub(times[n]))
	}
}

// detectionRecorder collects the results a subscription receives.
type detectionRecorder struct {
	sub        *results.Subscription
	dets       []results.Result
	quit, done chan struct{}
}

func recordDetections(sub *results.Subscription) *detectionRecorder {
	d := &detectionRecorder{sub: sub, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for {
			select {
			case r := <-sub.C():
				d.dets = append(d.dets, r)
			case <-d.quit:
				return
			}
		}
	}()
	return d
}

// stop unsubscribes and stops collecting.
func (d *detectionRecorder) stop() {
	d.sub.Close()
	close(d.quit)
	<-d.done
}

// drain returns the results collected and those still queued (Close does not close the
// subscription's channel).
func (d *detectionRecorder) drain() []results.Result {
	for {
		r, ok := d.sub.TryRecv()
		if !ok {
			return d.dets
		}
		d.dets = append(d.dets, r)
	}
}

// detectionLatency places the results published in [t0, t1] on the simulator's frames,
// returning the share that match the ground truth, their number, and the latency of each
// (frame produced → results published). A result's frame is n0 + its PTS offset in frames; n0 is the offset
// under which most results match their frame's ground truth.
func detectionLatency(rs []results.Result, times []time.Time, sc *simulate.Scene, t0, t1 time.Time) (share float64, n int, lat []time.Duration) {
	var in []results.Result
	for _, r := range rs {
		if !r.Time.Before(t0) && !r.Time.After(t1) {
			in = append(in, r)
		}
	}
	if len(in) == 0 {
		return 0, 0, nil
	}
	frameDur := time.Second / time.Duration(sc.FPS)
	rel := make([]int, len(in))
	for i, r := range in {
		rel[i] = int((r.PTS - in[0].PTS + frameDur/2) / frameDur)
	}
	hi := lastBefore(times, in[0].Time)
	best, bestN0 := -1, 0
	for n0 := max(hi-matchWindow, 0); n0 <= hi; n0++ {
		ok := 0
		for i, r := range in {
			if groundtruth.FrameMatches(r.Detections, sc.Objects(n0+rel[i])) {
				ok++
			}
		}
		if ok > best {
			best, bestN0 = ok, n0
		}
	}
	for i, r := range in {
		if n := bestN0 + rel[i]; n >= 0 && n < len(times) {
			lat = append(lat, r.Time.Sub(times[n]))
		}
	}
	return float64(best) / float64(len(in)), len(in), lat
}
