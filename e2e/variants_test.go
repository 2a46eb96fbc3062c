//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/groundtruth"
	"github.com/gstvision/gstvision/internal/simulate"
)

// TestServeStreamVariants: cameras as they come in the field — H.265, an odd resolution,
// timestamps that jump — are decoded and analysed like the plain case.
func TestServeStreamVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	cases := []struct {
		name string
		opts simulate.Options
	}{
		{"h265", simulate.Options{Codec: simulate.CodecH265}},
		{"854x480", simulate.Options{Width: 854, Height: 480}},
		{"timestamp jumps", simulate.Options{JumpEverySec: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			o.Cameras, o.Listen = 1, "127.0.0.1:0"
			sim, err := simulate.Start(context.Background(), o)
			if err != nil {
				t.Fatalf("simulate: %v", err)
			}
			defer sim.Close()
			cfg := configFor(t, false, sim.URL(1))
			_, base := startApp(t, cfg)
			got := collect(t, base, 60, 60*time.Second, "cam1")
			rs := got["cam1"]
			if len(rs) < 60 {
				t.Fatalf("only %d results in 60 s", len(rs))
			}
			w, h := sim.Options().Width, sim.Options().Height
			if rs[0].Width != w || rs[0].Height != h {
				t.Fatalf("result size %dx%d, want %dx%d", rs[0].Width, rs[0].Height, w, h)
			}
			frac, off := groundtruth.Score(rs, sim.Scene(1), 150, groundtruth.ByIndex)
			t.Logf("%s: %d results, %.1f%% match the ground truth (frame offset %d)", c.name, len(rs), 100*frac, off)
			if frac < 0.9 {
				t.Errorf("only %.1f%% of frames match the ground truth", 100*frac)
			}
		})
	}
}

// TestEveryNFrames: with inference.every_n_frames = 3 only every third decoded frame is
// analysed, and those results still match the ground truth.
func TestEveryNFrames(t *testing.T) {
	sim := startSim(t, 1)
	cfg := configFor(t, false, sim.URL(1))
	cfg.Inference.EveryNFrames = 3
	_, base := startApp(t, cfg)
	rs := collect(t, base, 30, 60*time.Second, "cam1")["cam1"]
	if len(rs) < 30 {
		t.Fatalf("only %d results", len(rs))
	}
	for _, r := range rs {
		if r.Frame%3 != 0 {
			t.Fatalf("frame %d was analysed; want only multiples of 3", r.Frame)
		}
	}
	if span := rs[len(rs)-1].Frame - rs[0].Frame; span < uint64(3*(len(rs)-1)) {
		t.Fatalf("%d results over %d frames: more than one in three analysed", len(rs), span)
	}
	if frac, _ := groundtruth.Score(rs, sim.Scene(1), 150, groundtruth.ByIndex); frac < 0.9 {
		t.Errorf("only %.1f%% of frames match the ground truth", 100*frac)
	}
}
