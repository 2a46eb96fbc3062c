package camera

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/elements"
	"github.com/gstvision/gstvision/gst"
)

// These tests supervise fake pipelines (fake_test.go) on synctest's fake clock: every wait
// is exact and none takes real time.

// outcome is what the supervisor made of one run: the state and last error it showed after
// the run ended, and how long it waited before building the next pipeline.
type outcome struct {
	state defs.State
	err   string // the last error contains this
	wait  time.Duration
}

var (
	errDown    = fmt.Errorf("%w: src: Could not open resource for reading", gst.ErrPipeline)
	errRefused = fmt.Errorf("%w: %w: src: Unauthorized", gst.ErrUnauthorized, gst.ErrPipeline)
	errNoDec   = fmt.Errorf("%w: no H264 decoder (avdec_h264)", gst.ErrMissingElement)
	errCodec   = fmt.Errorf("%w: camera sends \"JPEG\" video", gst.ErrCodec)
)

// seconds decodes for d (at frameGap), then ends with end.
func seconds(d time.Duration, end error) run { return run{frames: int(d / frameGap), end: end} }

// supervised runs a camera over the scripted runs until each has played, stops it, and
// returns the builds and the camera.
func supervised(t *testing.T, cfg Config, an Analyzer, runs []run) ([]*built, *Camera) {
	t.Helper()
	f := newFakeFactory(t, runs)
	cfg.ID, cfg.RedactedURL, cfg.NewPipeline = "cam", "rtsp://***@10.0.0.9/s", f.build
	log, _ := testLog()
	c := New(cfg, an, nil, log)
	f.cam = c
	c.Start()
	defer c.Stop()
	select {
	case <-f.finished:
	case <-time.After(2 * time.Hour): // of the fake clock
		t.Fatalf("after 2 h the camera has built %d of %d pipelines", len(f.builds()), len(runs)+1)
	}
	c.Stop()
	return f.builds(), c
}

// checkOutcomes compares each run's outcome (seen when the next pipeline was built) with want.
func checkOutcomes(t *testing.T, b []*built, want []outcome) {
	t.Helper()
	for i, w := range want {
		before, next := b[i], b[i+1]
		got := outcome{state: next.before.State, err: next.before.LastError, wait: next.at.Sub(before.stopped)}
		if got.state != w.state || got.wait != w.wait || !strings.Contains(got.err, w.err) {
			t.Errorf("run %d: %s after %s with %q; want %s after %s with %q", i, got.state, got.wait, got.err, w.state, w.wait, w.err)
		}
		if next.before.Reconnects != uint64(i+1) {
			t.Errorf("run %d: %d reconnects, want %d", i, next.before.Reconnects, i+1)
		}
	}
}

// TestSupervisorRetries: how faults of every kind turn into states, last errors and waits.
func TestSupervisorRetries(t *testing.T) {
	fast := Backoff{Min: time.Second, Max: 8 * time.Second, StableAfter: 20 * time.Second}
	quiet := func(d time.Duration) run { return run{frames: int(d / frameGap)} } // then no frame
	cases := []struct {
		name    string
		backoff Backoff
		runs    []run
		want    []outcome
	}{
		{"flapping: the wait doubles to Max and a stable run resets it", fast,
			[]run{seconds(3*time.Second, errDown), seconds(3*time.Second, errDown), seconds(3*time.Second, errDown),
				seconds(3*time.Second, errDown), seconds(3*time.Second, errDown),
				seconds(25*time.Second, errDown), // longer than StableAfter
				seconds(3*time.Second, errDown)},
			[]outcome{{defs.StateReconnecting, "Could not open", time.Second}, {defs.StateReconnecting, "Could not open", 2 * time.Second},
				{defs.StateReconnecting, "Could not open", 4 * time.Second}, {defs.StateReconnecting, "Could not open", 8 * time.Second},
				{defs.StateReconnecting, "Could not open", 8 * time.Second},
				{defs.StateReconnecting, "Could not open", time.Second}, {defs.StateReconnecting, "Could not open", 2 * time.Second}}},
		{"end of stream is an ordinary fault", fast,
			[]run{seconds(time.Second, gst.ErrEOS)},
			[]outcome{{defs.StateReconnecting, gst.ErrEOS.Error(), time.Second}}},
		{"stall: no frame for Stall while running", Backoff{Stall: 5 * time.Second},
			[]run{quiet(3 * time.Second)},
			[]outcome{{defs.StateReconnecting, "no frames for 6s", time.Second}}},
		{"start deadline: no first frame", Backoff{StartDeadline: 7 * time.Second},
			[]run{quiet(0)},
			[]outcome{{defs.StateReconnecting, "no frames: none decoded within 7s of connecting", time.Second}}},
		{"credentials refused three times in a row: unauthorized, retried every AuthWait", DefaultBackoff(),
			[]run{{end: errRefused}, {end: errRefused}, {end: errRefused}, {end: errRefused},
				seconds(time.Second, errRefused), // the credentials worked before the refusal: a new row
				{end: errRefused}, {end: errRefused}},
			[]outcome{{defs.StateReconnecting, "Unauthorized", time.Second}, {defs.StateReconnecting, "Unauthorized", 2 * time.Second},
				{defs.StateUnauthorized, "rtsp://***@10.0.0.9/s answered 401 Unauthorized 3 times in a row", 10 * time.Minute},
				{defs.StateUnauthorized, "401 Unauthorized 4 times in a row; check the user and password in the camera's URL (retrying every 10m0s)", 10 * time.Minute},
				{defs.StateReconnecting, "Unauthorized", 4 * time.Second}, {defs.StateReconnecting, "Unauthorized", 8 * time.Second},
				{defs.StateUnauthorized, "3 times in a row", 10 * time.Minute}}},
		{"permanent faults: failed, waiting Max", fast,
			[]run{{buildErr: errNoDec}, {end: errCodec}, seconds(time.Second, errDown)},
			[]outcome{{defs.StateFailed, "no H264 decoder", 8 * time.Second}, {defs.StateFailed, "JPEG", 8 * time.Second},
				{defs.StateReconnecting, "Could not open", 8 * time.Second}}},
		{"the camera closing the connection is fatal; other warnings are not", fast,
			[]run{{frames: 10, warn: "Could not read from resource."}, {frames: 10, warn: "Could not write to resource.", end: errDown}},
			[]outcome{{defs.StateReconnecting, "pipeline error: src: Could not read from resource.", time.Second},
				{defs.StateReconnecting, "Could not open", 2 * time.Second}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, _ := supervised(t, Config{Backoff: tc.backoff}, newCountingAnalyzer(), tc.runs)
				checkOutcomes(t, b, tc.want)
			})
		})
	}
}

// TestSupervisorStallTimes: a stall is declared once Stall has passed without a frame (within
// one tick of the check), and a silent start once StartDeadline has.
func TestSupervisorStallTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bo := Backoff{Stall: 5 * time.Second, StartDeadline: 7 * time.Second}
		b, _ := supervised(t, Config{Backoff: bo}, newCountingAnalyzer(), []run{{frames: 30}, {}})
		if quiet := b[0].stopped.Sub(b[0].lastSeen); quiet <= bo.Stall || quiet > bo.Stall+time.Second {
			t.Errorf("stalled run stopped %s after its last frame; want just over %s", quiet, bo.Stall)
		}
		if silent := b[1].stopped.Sub(b[1].started); silent <= bo.StartDeadline || silent > bo.StartDeadline+time.Second {
			t.Errorf("silent run stopped %s after its start; want just over %s", silent, bo.StartDeadline)
		}
	})
}

// TestSupervisorHandlerPanic: a panic in the analyzer ends the run with an error wrapping
// elements.ErrHandlerPanic (not the sink's plain error it caused); the camera restarts after
// Min, and its frame numbers go on across the restart.
func TestSupervisorHandlerPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		an := newCountingAnalyzer()
		an.panics["cam"] = &panicPlan{at: 12}
		b, c := supervised(t, Config{}, an, []run{{frames: 30}, seconds(2*time.Second, errDown)})
		checkOutcomes(t, b, []outcome{
			{defs.StateReconnecting, elements.ErrHandlerPanic.Error() + ": analyzer bug on frame 12", time.Second},
			{defs.StateReconnecting, "Could not open", 2 * time.Second},
		})
		if b[1].from != 13 {
			t.Errorf("the second pipeline numbers from %d; want 13 (frames 0-12 decoded before the panic)", b[1].from)
		}
		seen := an.seen("cam")
		checkIncreasing(t, "cam", seen)
		if len(seen) != 13+20 || seen[len(seen)-1] != 32 {
			t.Errorf("analyzer saw %d frames, the last %d; want 33, the last 32", len(seen), seen[len(seen)-1])
		}
		if st := c.Status(); st.Frames != 33 {
			t.Errorf("%d frames counted across the runs, want 33", st.Frames)
		}
	})
}

// TestSupervisorNumbersAcrossReconnects: each pipeline numbers its frames on from the frames
// all earlier pipelines decoded, and Frames counts them all.
func TestSupervisorNumbersAcrossReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		an := newCountingAnalyzer()
		runs := []run{seconds(time.Second, errDown), {end: errDown}, seconds(2*time.Second, gst.ErrEOS), seconds(time.Second, errDown)}
		b, c := supervised(t, Config{}, an, runs)
		wantFrom := []uint64{0, 10, 10, 30, 40}
		for i, w := range wantFrom {
			if b[i].from != w {
				t.Errorf("pipeline %d numbers from %d, want %d", i, b[i].from, w)
			}
		}
		seen := an.seen("cam")
		checkIncreasing(t, "cam", seen)
		if len(seen) != 40 {
			t.Errorf("analyzer saw %d frames, want 40", len(seen))
		}
		if st := c.Status(); st.Frames != 40 || st.Reconnects != 4 {
			t.Errorf("%d frames over %d reconnects, want 40 over 4", st.Frames, st.Reconnects)
		}
	})
}

// TestSupervisorCountsDrops: while a pipeline runs, the frames it decoded that neither reached
// the handler nor wait in its queue are dropped; once it is gone, the ones that waited are too.
// Only every EveryN-th frame that arrives reaches the analyzer.
func TestSupervisorCountsDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var during defs.Status
		r := run{frames: 100, lost: func(i int) bool { return i%4 == 3 }, queued: 5, end: errDown,
			during: func(t *testing.T, c *Camera) {
				time.Sleep(time.Second) // a tick: the camera shows running
				during = c.Status()
			}}
		an := newCountingAnalyzer()
		_, c := supervised(t, Config{EveryN: 3}, an, []run{r})
		if during.State != defs.StateRunning || during.Frames != 100 || during.Dropped != 20 || during.Inferred != 25 {
			t.Errorf("while running: %s, %d frames, %d dropped, %d inferred; want running, 100, 20 (25 lost, 5 queued), 25 (every 3rd of the 75 that arrived)",
				during.State, during.Frames, during.Dropped, during.Inferred)
		}
		if during.Width != 320 || during.Height != 180 || during.Codec != "H264" {
			t.Errorf("while running: %dx%d %q, want 320x180 H264", during.Width, during.Height, during.Codec)
		}
		if st := c.Status(); st.Frames != 100 || st.Dropped != 25 {
			t.Errorf("after the run: %d frames, %d dropped; want 100, 25 (the queued frames never arrived)", st.Frames, st.Dropped)
		}
		if got := len(an.seen("cam")); got != 25 {
			t.Errorf("the analyzer got %d frames, want 25", got)
		}
	})
}

// TestBackoffDefaults: zero fields take the production values, set ones stay.
func TestBackoffDefaults(t *testing.T) {
	got := Backoff{Min: time.Millisecond, AuthFailures: 5}.withDefaults()
	want := DefaultBackoff()
	want.Min, want.AuthFailures = time.Millisecond, 5
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if (Backoff{}).withDefaults() != DefaultBackoff() {
		t.Errorf("the zero Backoff is not the default one")
	}
}

// TestFatalWarning: only rtspsrc's closed connection is fatal, as a pipeline error.
func TestFatalWarning(t *testing.T) {
	for _, c := range []struct {
		source, text string
		fatal        bool
	}{
		{"src", "Could not read from resource.", true},
		{"src", "Could not write to resource.", false},
		{"dec", "Could not read from resource.", false},
	} {
		err := fatalWarning(c.source, c.text)
		if (err != nil) != c.fatal || (err != nil && !errors.Is(err, gst.ErrPipeline)) {
			t.Errorf("%s %q: %v; want fatal %v, wrapping gst.ErrPipeline", c.source, c.text, err, c.fatal)
		}
	}
}
