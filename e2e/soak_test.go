//go:build e2e

package e2e

// The soak benchmark: not a timed CI test. It runs only when GSTVISION_SOAK holds a duration:
//
//	GSTVISION_SOAK=10m go test -run '^TestSoak$' -timeout 30m -v ./e2e/
//
// Optional: GSTVISION_SOAK_MODE=unified|decoupled (default decoupled), GSTVISION_SOAK_OUT=file
// (the markdown report is also written there), GSTVISION_SOAK_CAMERAS (default 8),
// GSTVISION_SOAK_EVERY_N (inference.every_n_frames, default 1). With GSTVISION_SOAK_OUT, Go heap
// profiles at warm-up and at the end are written beside it (OUT.heap-warmup.pprof,
// OUT.heap-end.pprof: `go tool pprof -base` shows what grew). The simulator runs in a child
// process (this test binary, TestSoakSimulator), so that what is measured is gstvision alone.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/internal/app"
	"github.com/gstvision/gstvision/internal/camera"
	"github.com/gstvision/gstvision/internal/procstat"
	"github.com/gstvision/gstvision/internal/simulate"
	"github.com/gstvision/gstvision/internal/whepclient"
)

// soakSim is the soak's simulator, run in a child process (this test binary, running
// TestSoakSimulator) so that RSS, goroutines and file descriptors measured here are
// gstvision's alone. It is driven over the child's stdin: "stop N", "start N".
type soakSim struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	in   io.Writer
	acks chan string
	urls map[int]string
}

func startSoakSimulator(t testing.TB, n int) *soakSim {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakSimulator$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), "GSTVISION_SOAK_SIMULATOR="+strconv.Itoa(n))
	cmd.Stderr = io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &soakSim{cmd: cmd, in: in, acks: make(chan string, 1), urls: map[int]string{}}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "URL":
				i, _ := strconv.Atoi(f[1])
				s.urls[i] = f[2]
			case len(f) == 1 && f[0] == "READY":
				close(ready)
			case len(f) >= 1 && (f[0] == "OK" || f[0] == "ERR"):
				s.acks <- sc.Text()
			}
		}
	}()
	t.Cleanup(func() {
		in.Close() // EOF: the child closes its simulator and exits
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("simulator process did not start")
	}
	return s
}

func (s *soakSim) URL(i int) string { return s.urls[i] }

func (s *soakSim) do(cmd string, i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.in, "%s %d\n", cmd, i); err != nil {
		return err
	}
	select {
	case a := <-s.acks:
		if !strings.HasPrefix(a, "OK") {
			return fmt.Errorf("simulator: %s", a)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("simulator: no answer to %s %d", cmd, i)
	}
}

func (s *soakSim) StopCamera(i int) error  { return s.do("stop", i) }
func (s *soakSim) StartCamera(i int) error { return s.do("start", i) }

// rssMB reads VmRSS of the simulator process.
func (s *soakSim) rssMB() float64 {
	return procstat.RSSMB(strconv.Itoa(s.cmd.Process.Pid))
}

// TestSoakSimulator is the soak's simulator process (see soakSim); it is skipped otherwise.
func TestSoakSimulator(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("GSTVISION_SOAK_SIMULATOR"))
	if err != nil {
		t.Skip("the soak's simulator process")
	}
	sim, err := simulate.Start(context.Background(), simulate.Options{Cameras: n, Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		return
	}
	defer sim.Close()
	for i := 1; i <= n; i++ {
		fmt.Printf("URL %d %s\n", i, sim.URL(i))
	}
	fmt.Println("READY")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var cmd string
		var i int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &cmd, &i); err != nil {
			fmt.Printf("ERR %v\n", err)
			continue
		}
		switch cmd {
		case "stop":
			err = sim.StopCamera(i)
		case "start":
			err = sim.StartCamera(i)
		default:
			err = fmt.Errorf("unknown command %q", cmd)
		}
		if err != nil {
			fmt.Printf("ERR %v\n", err)
		} else {
			fmt.Println("OK")
		}
	}
}

// soakSample is one row of the soak table.
type soakSample struct {
	at         time.Duration
	rssMB      float64
	simRSSMB   float64 // the simulator process
	heapMB     float64 // Go heap alive at the last collection
	goHeldMB   float64 // memory the Go runtime holds (heap with garbage, stacks), not returned to the OS
	goroutines int
	fds        int
	cpuPct     float64  // process CPU over the interval, 100 = one core
	minFPS     float64  // lowest decoded fps among the stable cameras over the interval
	flapStates []string // states of the flapping cameras
	reconnects uint64   // reconnects of the flapping cameras, total
	wsFast     int64    // messages the fast client received, total
	wsSlow     int64    // messages the slow client received, total
	slowCuts   int64    // times the server disconnected the slow client, total
	wsDropped  uint64   // results dropped from full subscriber queues (clients, viewers), total
	wsClients  int      // WebSocket clients the server has
	inferDrop  uint64   // frames dropped before the detector (stable cameras), total
	scrapeMS   float64  // time to scrape /metrics
	gpuMB      float64  // GPU memory used on the device (nvidia-smi), 0 without a GPU
	mallocMB   float64  // memory C code holds through malloc (GStreamer, drivers)
	mallocFree float64  // memory malloc holds free in its arenas
	rssFileMB  float64  // the part of RSS that maps files (library code)
}

// gpuUsedMB is the memory used on GPU 0 as the driver reports it (the whole device: run
// nothing else on it meanwhile), or 0 where there is no nvidia-smi.
func gpuUsedMB() float64 {
	out, err := exec.Command("nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0").Output()
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	return v
}

// procRSSMB reads this process's VmRSS in MB.
func procRSSMB() float64 { return procstat.RSSMB("self") }

// procCPUTicks returns utime+stime of this process in clock ticks.
func procCPUTicks() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name, which is in parentheses and may hold spaces.
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return u + st
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// wsReader is a WebSocket client that reads one message per delay (0: as fast as it can).
// When the server cuts it off (a client that cannot keep up is disconnected once a write or a
// ping stalls), it reconnects after a second, as a browser page would.
type wsReader struct {
	n           atomic.Int64 // messages received
	disconnects atomic.Int64 // times the server cut it off
	lastErr     atomic.Pointer[string]

	track bool // decode messages and keep each camera's stream span
	mu    sync.Mutex
	spans map[string]*streamSpan
}

// streamSpan is the first and last result seen of one camera's stream: the decoder's frame
// index and the source's PTS. Over a span, PTS advances one frame period per frame the
// simulator sent, and the index one per frame decoded, so their difference is the frames
// lost between the two, whatever the CPU load (a starved simulator sends fewer frames, but
// numbers and stamps them all).
type streamSpan struct {
	firstFrame, lastFrame uint64
	firstPTS, lastPTS     time.Duration
	restarts              int // the PTS went back: a new pipeline (spans are then not comparable)
}

// lost returns the frames the source sent that the decoder did not decode, over the span.
func (s *streamSpan) lost(fps int) int64 {
	sent := int64(math.Round((s.lastPTS - s.firstPTS).Seconds() * float64(fps)))
	return sent - int64(s.lastFrame-s.firstFrame)
}

func (r *wsReader) note(data []byte) {
	var m struct {
		Camera string        `json:"camera"`
		Frame  uint64        `json:"frame"`
		PTS    time.Duration `json:"pts"`
	}
	if json.Unmarshal(data, &m) != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sp := r.spans[m.Camera]
	switch {
	case sp == nil:
		r.spans[m.Camera] = &streamSpan{firstFrame: m.Frame, lastFrame: m.Frame, firstPTS: m.PTS, lastPTS: m.PTS}
	case m.PTS < sp.lastPTS || m.Frame < sp.lastFrame:
		// A new pipeline: its PTS start over (frame numbers carry on across reconnects).
		*sp = streamSpan{firstFrame: m.Frame, lastFrame: m.Frame, firstPTS: m.PTS, lastPTS: m.PTS, restarts: sp.restarts + 1}
	default:
		sp.lastFrame, sp.lastPTS = m.Frame, m.PTS
	}
}

// span returns a copy of camera's span.
func (r *wsReader) span(cam string) (streamSpan, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sp, ok := r.spans[cam]
	if !ok {
		return streamSpan{}, false
	}
	return *sp, true
}

func startWSReader(ctx context.Context, t testing.TB, url string, delay time.Duration, track bool, wg *sync.WaitGroup) *wsReader {
	t.Helper()
	r := &wsReader{track: track, spans: map[string]*streamSpan{}}
	dial := func() (*websocket.Conn, error) {
		conn, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		conn.SetReadLimit(1 << 20)
		return conn, nil
	}
	conn, err := dial()
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			err := r.read(ctx, conn, delay)
			conn.CloseNow()
			if ctx.Err() != nil {
				return
			}
			r.disconnects.Add(1)
			msg := err.Error()
			r.lastErr.Store(&msg)
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				if conn, err = dial(); err == nil {
					break
				}
			}
		}
	}()
	return r
}

// read reads until the connection fails or ctx ends.
func (r *wsReader) read(ctx context.Context, conn *websocket.Conn, delay time.Duration) error {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		r.n.Add(1)
		if r.track {
			r.note(data)
		}
		if delay > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
		}
	}
}

// linearSlope is the least-squares slope of ys over xs.
func linearSlope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// TestSoak: 8 simulated cameras for GSTVISION_SOAK, two of them flapping (their RTSP server
// goes away for 5 s every 30 s), two WebSocket clients (one reading a message a second), a
// ninth camera added and deleted through the API every minute, the API and /metrics polled;
// every 10 s it records RSS, Go heap, goroutines, open fds and CPU,
// then reports the growth after warm-up. Stable cameras must decode at ~30 fps throughout and
// never reconnect.
func TestSoak(t *testing.T) {
	spec := os.Getenv("GSTVISION_SOAK")
	if spec == "" {
		t.Skip("set GSTVISION_SOAK=10m to run the soak benchmark")
	}
	total, err := time.ParseDuration(spec)
	if err != nil || total < time.Minute {
		t.Fatalf("GSTVISION_SOAK=%q: want a duration of at least 1m", spec)
	}
	mode := os.Getenv("GSTVISION_SOAK_MODE")
	if mode == "" {
		mode = "decoupled"
	}
	nCams := envInt("GSTVISION_SOAK_CAMERAS", 8)
	everyN := envInt("GSTVISION_SOAK_EVERY_N", 1)
	device := os.Getenv("GSTVISION_SOAK_DEVICE") // "cuda" on the GPU machine; default cpu
	const (
		interval  = 10 * time.Second
		flapEvery = 30 * time.Second
		flapDown  = 5 * time.Second
		fps       = 30
	)
	warmup := max(time.Minute, total/10)
	flapping := []int{nCams - 1, nCams} // the last two cameras
	isFlapping := func(i int) bool { return i >= nCams-1 }

	// The supervisor resets its backoff after a run of StableAfter; a camera up for 25 s of
	// every 30 s never reaches the production minute, so its retries would back off to 30 s
	// and it would hardly run. 20 s keeps each flap a real reconnect cycle.
	backoff := app.WithCameraBackoff(camera.Backoff{StableAfter: 20 * time.Second})

	sim := startSoakSimulator(t, nCams)
	var cams []string
	for i := 1; i <= nCams; i++ {
		cams = append(cams, camJSON(fmt.Sprintf("cam%d", i), sim.URL(i)))
	}
	cfg, _ := opsConfig(t, mode == "decoupled", cams...)
	cfg.LogLevel = "info"
	cfg.Inference.EveryNFrames = everyN
	batch := 8
	cfg.Processing.MaxBatch = &batch
	cfg.Processing.StatsEveryFrames = 3000
	if device != "" {
		cfg.Device = device
	}
	a, base, stop := runApp(t, cfg, testLogger(t), backoff)
	waitFor(t, 60*time.Second, "every camera running", func() bool {
		for i := 1; i <= nCams; i++ {
			if !flowing(a, fmt.Sprintf("cam%d", i), 0) {
				return false
			}
		}
		return true
	})
	start := time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wsURL := strings.Replace(base, "http", "ws", 1) + "/ws?token=tok"
	fast := startWSReader(ctx, t, wsURL, 0, true, &wg)
	slow := startWSReader(ctx, t, wsURL, time.Second, false, &wg)

	// Flapping: every 30 s the flapping cameras' server mounts go away for 5 s.
	var flaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(flapEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, i := range flapping {
				_ = sim.StopCamera(i)
			}
			select {
			case <-ctx.Done():
			case <-time.After(flapDown):
			}
			for _, i := range flapping {
				_ = sim.StartCamera(i)
			}
			flaps.Add(1)
		}
	}()

	// API churn: every 60 s a ninth camera (a second client of cam1's stream) is added through
	// the API and deleted 20 s later, so that add/remove paths run many times too.
	var churns, churnErrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		req := func(method, url, body string) int {
			r, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
			if err != nil {
				return 0
			}
			r.Header.Set("Authorization", "Bearer tok")
			r.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				return 0
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if req("POST", base+"/api/cameras", camJSON("churn", sim.URL(1))) != 201 {
				if ctx.Err() != nil {
					return // the soak ended during the request
				}
				churnErrs.Add(1)
				continue
			}
			select {
			case <-ctx.Done():
				return // the app stops with the camera in it
			case <-time.After(20 * time.Second):
			}
			if req("DELETE", base+"/api/cameras/churn", "") != 204 {
				if ctx.Err() != nil {
					return
				}
				churnErrs.Add(1)
				continue
			}
			churns.Add(1)
		}
	}()

	frames := func() map[string]defs.Status {
		out := map[string]defs.Status{}
		for _, st := range a.CameraAPI().List() {
			out[st.ID] = st
		}
		return out
	}
	first := frames()
	prev, prevAt, prevCPU := first, time.Now(), procCPUTicks()
	// Viewers come and go: one joins a stable camera (a different one each time) at every
	// other sample and leaves at the next, after receiving video.
	var viewer *whepclient.Client
	viewerJoins, viewerCam := 0, 0
	const clk = 100.0 // USER_HZ on Linux
	var rows []soakSample
	var violations []string
	slowIntervals := 0 // camera-intervals under 95% of 30 fps
	heapAtWarmup := false
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for time.Since(start) < total {
		<-tick.C
		now := time.Now()
		cur := frames()
		cpu := procCPUTicks()
		gm := procstat.ReadGoMemory()
		t0 := time.Now()
		scrape(t, base)
		scrapeMS := float64(time.Since(t0).Microseconds()) / 1000
		call(t, "GET", base+"/api/cameras", "")
		hub := a.Hub().Stats()
		wsClients, _ := a.Server().WSClients()
		dt := now.Sub(prevAt).Seconds()
		if viewer == nil {
			viewerCam = viewerCam%(nCams-len(flapping)) + 1
			viewer = whepclient.Dial(t, base+fmt.Sprintf("/whep/cam%d?token=tok", viewerCam), 30)
		} else {
			viewer.Wait(t, 10*time.Second) // 30 frames of video arrived while it watched
			viewer.HangUp(t, base+viewer.Location+"?token=tok")
			viewer = nil
			viewerJoins++
		}
		row := soakSample{
			at: now.Sub(start).Round(time.Second), rssMB: procRSSMB(), rssFileMB: procstat.RSSFileMB("self"), simRSSMB: sim.rssMB(), heapMB: gm.LiveHeapMB, goHeldMB: gm.HeldMB, gpuMB: gpuUsedMB(),
			mallocMB: procstat.MallocInUseMB(), mallocFree: procstat.MallocFreeMB(),
			goroutines: runtime.NumGoroutine(), fds: openFDs(), cpuPct: 100 * (cpu - prevCPU) / clk / dt,
			minFPS: math.Inf(1), wsFast: fast.n.Load(), wsSlow: slow.n.Load(), slowCuts: slow.disconnects.Load(), wsDropped: hub.Dropped, wsClients: wsClients, scrapeMS: scrapeMS,
		}
		for i := 1; i <= nCams; i++ {
			id := fmt.Sprintf("cam%d", i)
			c, p := cur[id], prev[id]
			if isFlapping(i) {
				row.flapStates = append(row.flapStates, string(c.State))
				row.reconnects += c.Reconnects
				continue
			}
			row.inferDrop += c.Dropped
			rate := float64(c.Frames-p.Frames) / dt
			row.minFPS = min(row.minFPS, rate)
			if c.Reconnects != 0 || c.State != defs.StateRunning {
				violations = append(violations, fmt.Sprintf("%v: stable %s is %s with %d reconnects (%s)", row.at, id, c.State, c.Reconnects, c.LastError))
			}
			// A stall shows as a collapse to 0; a shared, busy CPU as a dip, in which the
			// in-process simulator itself sends fewer frames (it never catches up faster than
			// real time). The PTS check below tells frames lost from frames never sent.
			if rate < fps/3 {
				violations = append(violations, fmt.Sprintf("%v: stable %s decoded %.1f fps over the last %.0f s", row.at, id, rate, dt))
			} else if rate < 0.95*fps {
				slowIntervals++
			}
		}
		rows = append(rows, row)
		if !heapAtWarmup && row.at >= warmup {
			writeHeapProfile(t, "warmup")
			heapAtWarmup = true
		}
		prev, prevAt, prevCPU = cur, now, cpu
		t.Logf("%6v rss %.0f MB C malloc %.0f MB Go live heap %.0f MB Go held %.0f MB goroutines %d fds %d cpu %.0f%% min fps %.1f flapping %v (%d reconnects) ws %d/%d (slow cut off %d) dropped %d",
			row.at, row.rssMB, row.mallocMB, row.heapMB, row.goHeldMB, row.goroutines, row.fds, row.cpuPct, row.minFPS, row.flapStates, row.reconnects,
			row.wsFast, row.wsSlow, row.slowCuts, row.wsDropped)
	}
	if viewer != nil {
		viewer.HangUp(t, base+viewer.Location+"?token=tok")
	}
	elapsed := time.Since(start)
	writeHeapProfile(t, "end")
	final := frames()
	subs, _ := a.Server().WSClients()
	cancel()
	wg.Wait()
	stop()

	// Stable cameras: every frame the simulator sent was decoded (PTS span against the
	// decoder's frame index, from the results the fast client saw).
	var lost []string
	lostBy := map[string]int64{}
	for i := 1; i <= nCams; i++ {
		if isFlapping(i) {
			continue
		}
		id := fmt.Sprintf("cam%d", i)
		sp, ok := fast.span(id)
		if !ok || sp.restarts > 0 || sp.lastPTS-sp.firstPTS < total/2 {
			lost = append(lost, fmt.Sprintf("%s: the fast client saw no usable span: %+v", id, sp))
			continue
		}
		lostBy[id] = sp.lost(fps)
		if n := lostBy[id]; n < -1 || n > 1 {
			lost = append(lost, fmt.Sprintf("%s: %d frames lost between the simulator and the decoder (PTS span %v, frames %d → %d)",
				id, n, sp.lastPTS-sp.firstPTS, sp.firstFrame, sp.lastFrame))
		}
	}

	report := soakReport(rows, warmup, soakInfo{
		mode: mode, cams: nCams, everyN: everyN, elapsed: elapsed, flaps: flaps.Load(), warmup: warmup,
		churns: churns.Load(), viewers: viewerJoins, device: cfg.Device, final: final, first: first, flapping: flapping, subs: subs, lost: lostBy, slowIntervals: slowIntervals, slowCuts: slow.disconnects.Load(), slowErr: slow.lastErr.Load(),
	})
	t.Log("\n" + report)
	if out := os.Getenv("GSTVISION_SOAK_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Errorf("writing %s: %v", out, err)
		}
	}
	for _, v := range violations {
		t.Error(v)
	}
	for _, l := range lost {
		t.Error(l)
	}
	// The fast client keeps up and must never be cut off; the slow one may be (and comes back).
	if n := fast.disconnects.Load(); n != 0 {
		t.Errorf("the fast WebSocket client was disconnected %d times (last: %s)", n, *fast.lastErr.Load())
	}
	if n := churnErrs.Load(); n != 0 {
		t.Errorf("%d API add/delete requests failed", n)
	}
	if subs < 1 {
		t.Errorf("%d WebSocket clients connected at the end", subs)
	}
}

// writeHeapProfile writes the Go heap's live objects beside GSTVISION_SOAK_OUT, if set.
func writeHeapProfile(t testing.TB, when string) {
	out := os.Getenv("GSTVISION_SOAK_OUT")
	if out == "" {
		return
	}
	runtime.GC() // the profile's in-use figures are as of the last collection
	f, err := os.Create(out + ".heap-" + when + ".pprof")
	if err != nil {
		t.Errorf("heap profile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Errorf("heap profile: %v", err)
	}
}

type soakInfo struct {
	mode          string
	cams, everyN  int
	elapsed       time.Duration
	warmup        time.Duration
	flaps         int64
	first, final  map[string]defs.Status
	flapping      []int
	subs          int
	slowCuts      int64
	slowErr       *string
	lost          map[string]int64
	slowIntervals int
	churns        int64
	viewers       int // WHEP viewers that joined, received video and left
	device        string
}

// soakReport renders the samples and the growth after warm-up as markdown.
func soakReport(rows []soakSample, warmup time.Duration, info soakInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak: device %s, %d cameras (%d flapping: down 5 s every 30 s, %d flaps), %s mode, every_n_frames %d, %v, %d CPU cores, 2 WebSocket clients (one reading 1 msg/s), "+
		"a WHEP viewer joining and leaving every 20 s; the simulator runs in its own process, so RSS, heap, goroutines and fds are gstvision's (with the test harness)\n\n",
		info.device, info.cams, len(info.flapping), info.flaps, info.mode, info.everyN, info.elapsed.Round(time.Second), runtime.NumCPU())
	b.WriteString("| t | RSS MB | RSS files MB | C malloc MB | malloc free MB | Go live heap MB | Go held MB | GPU MB | sim RSS MB | goroutines | open fds | CPU % | min stable fps | flapping cams | flap reconnects | ws fast msgs | ws slow msgs | slow cut off | ws clients (server) | results dropped | /metrics ms |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %v | %.0f | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %.0f | %d | %d | %.0f | %.1f | %s | %d | %d | %d | %d | %d | %d | %.1f |\n",
			r.at, r.rssMB, r.rssFileMB, r.mallocMB, r.mallocFree, r.heapMB, r.goHeldMB, r.gpuMB, r.simRSSMB, r.goroutines, r.fds, r.cpuPct, r.minFPS, strings.Join(r.flapStates, ","),
			r.reconnects, r.wsFast, r.wsSlow, r.slowCuts, r.wsClients, r.wsDropped, r.scrapeMS)
	}
	// Growth after warm-up: from the first sample at or past warmup to the last, and the
	// least-squares slope over those samples, per hour.
	var xs, rss, rssFile, cmalloc, cfree, gpu, simRSS, heap, held, gor, fds []float64
	for _, r := range rows {
		if r.at < warmup {
			continue
		}
		xs = append(xs, r.at.Hours())
		rss = append(rss, r.rssMB)
		rssFile = append(rssFile, r.rssFileMB)
		gpu = append(gpu, r.gpuMB)
		cmalloc = append(cmalloc, r.mallocMB)
		cfree = append(cfree, r.mallocFree)
		simRSS = append(simRSS, r.simRSSMB)
		heap = append(heap, r.heapMB)
		held = append(held, r.goHeldMB)
		gor = append(gor, float64(r.goroutines))
		fds = append(fds, float64(r.fds))
	}
	if len(xs) >= 2 {
		last := len(xs) - 1
		fmt.Fprintf(&b, "\nGrowth after the %v warm-up (%v → %v):\n\n", warmup.Round(time.Second),
			time.Duration(xs[0]*float64(time.Hour)).Round(time.Second), time.Duration(xs[last]*float64(time.Hour)).Round(time.Second))
		b.WriteString("| measure | at warm-up | at end | change | trend per hour (least squares) |\n|---|---|---|---|---|\n")
		for _, m := range []struct {
			name string
			ys   []float64
		}{{"RSS MB", rss}, {"RSS of files MB", rssFile}, {"C malloc in use MB", cmalloc}, {"malloc free MB", cfree}, {"GPU memory MB (device)", gpu}, {"Go live heap MB", heap}, {"Go held MB", held}, {"goroutines", gor}, {"open fds", fds}, {"simulator RSS MB", simRSS}} {
			fmt.Fprintf(&b, "| %s | %.1f | %.1f | %+.1f | %+.1f |\n", m.name, m.ys[0], m.ys[last], m.ys[last]-m.ys[0], linearSlope(xs, m.ys))
		}
	}
	b.WriteString("\nPer camera over the run (lost: frames the simulator sent that were not decoded, from PTS; stable cameras only):\n\n| camera | frames decoded | avg fps | lost | inferred | dropped before detector | reconnects | state at end |\n|---|---|---|---|---|---|---|---|\n")
	ids := make([]string, 0, len(info.final))
	for i := 1; i <= info.cams; i++ {
		ids = append(ids, fmt.Sprintf("cam%d", i))
	}
	for _, id := range ids {
		f, s := info.final[id], info.first[id]
		lost := "-"
		if n, ok := info.lost[id]; ok {
			lost = strconv.FormatInt(n, 10)
		}
		// A rebuilt pipeline counts its drops afresh: then only those since its last reconnect.
		dropped := strconv.FormatUint(f.Dropped-s.Dropped, 10)
		if f.Dropped < s.Dropped {
			dropped = strconv.FormatUint(f.Dropped, 10) + " (since its last reconnect)"
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %d | %s | %d | %s |\n", id, f.Frames-s.Frames,
			float64(f.Frames-s.Frames)/info.elapsed.Seconds(), lost, f.Inferred-s.Inferred, dropped, f.Reconnects, f.State)
	}
	fmt.Fprintf(&b, "\nAPI churn: a camera added and deleted %d times. Viewers: %d joined, received video and left.\n", info.churns, info.viewers)
	fmt.Fprintf(&b, "Stable camera 10 s intervals under 28.5 fps (CPU contention): %d of %d.\n", info.slowIntervals, (info.cams-len(info.flapping))*len(rows))
	fmt.Fprintf(&b, "WebSocket clients connected at the end (server side): %d; the slow client noticed being cut off %d times", info.subs, info.slowCuts)
	if info.slowErr != nil {
		fmt.Fprintf(&b, " (last: %s)", *info.slowErr)
	}
	b.WriteString("\n")
	return b.String()
}
