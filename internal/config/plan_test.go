package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestPlan: explicit processing fields are honoured; absent ones are chosen so that the enabled
// cameras are carried on the device, and each automatic choice says why.
func TestPlan(t *testing.T) {
	cams := func(n, disabled int) string {
		var list []string
		for i := range n + disabled {
			enabled := i < n
			list = append(list, fmt.Sprintf(`{"id": "c%d", "url": "rtsp://h/%d", "enabled": %v}`, i, i, enabled))
		}
		return "[" + strings.Join(list, ",") + "]"
	}
	cases := []struct {
		name       string
		device     string
		processing string
		cameras    string
		want       Plan
		why        []string // substrings of Reason, in order
	}{
		{"cpu, 2 cameras", "cpu", `{}`, cams(2, 0),
			Plan{Decoupled: false, MaxBatch: 2}, []string{"unified mode: 2 cameras"}},
		{"cuda, 8 cameras stay unified", "cuda", `{}`, cams(8, 0),
			Plan{Decoupled: false, MaxBatch: 8}, []string{"unified mode: 8 cameras"}},
		{"disabled cameras do not count", "cuda", `{}`, cams(8, 30),
			Plan{Decoupled: false, MaxBatch: 8}, []string{"unified mode: 8 cameras"}},
		{"cuda, 9 cameras: decoupled with a graph", "cuda", `{}`, cams(9, 0),
			Plan{Decoupled: true, MaxBatch: 16, CUDAGraph: true},
			[]string{"decoupled mode: 9 cameras", "max_batch 16", "cuda_graph on"}},
		{"cuda, 105 cameras: batch capped at 32", "cuda", `{}`, cams(105, 0),
			Plan{Decoupled: true, MaxBatch: 32, CUDAGraph: true}, []string{"decoupled mode: 105 cameras", "max_batch 32", "cuda_graph on"}},
		{"cpu, 20 cameras: batch capped at 8, no graph", "cpu", `{}`, cams(20, 0),
			Plan{Decoupled: true, MaxBatch: 8}, []string{"decoupled mode: 20 cameras", "max_batch 8"}},
		{"explicit unified is honoured at 40 cameras", "cuda", `{"ENABLE_DECOUPLED_PIPELINE": false}`, cams(40, 0),
			Plan{Decoupled: false, MaxBatch: 32}, nil},
		{"explicit decoupled with 3 cameras: batch 4 and the graph", "cuda", `{"ENABLE_DECOUPLED_PIPELINE": true}`, cams(3, 0),
			Plan{Decoupled: true, MaxBatch: 4, CUDAGraph: true}, []string{"max_batch 4", "cuda_graph on"}},
		{"explicit batch and graph off", "cuda", `{"ENABLE_DECOUPLED_PIPELINE": true, "max_batch": 24, "cuda_graph": false}`, cams(50, 0),
			Plan{Decoupled: true, MaxBatch: 24, CUDAGraph: false}, nil},
		{"graph asked for picks decoupled", "cuda", `{"cuda_graph": true}`, cams(1, 0),
			Plan{Decoupled: true, MaxBatch: 1, CUDAGraph: true}, []string{"decoupled mode: processing.cuda_graph needs it", "max_batch 1"}},
		{"no cameras yet: the old default batch", "cuda", `{"ENABLE_DECOUPLED_PIPELINE": true}`, `[]`,
			Plan{Decoupled: true, MaxBatch: DefaultMaxBatch, CUDAGraph: true}, []string{"max_batch 8: no camera configured yet", "cuda_graph on"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mustParse(t, fmt.Sprintf(`{"device": %q, "inference": {"model": "m"}, "processing": %s, "cameras": %s}`,
				c.device, c.processing, c.cameras))
			got := cfg.Plan()
			if got.Decoupled != c.want.Decoupled || got.MaxBatch != c.want.MaxBatch || got.CUDAGraph != c.want.CUDAGraph {
				t.Errorf("plan decoupled %v, max_batch %d, cuda_graph %v; want %v, %d, %v (why: %s)",
					got.Decoupled, got.MaxBatch, got.CUDAGraph, c.want.Decoupled, c.want.MaxBatch, c.want.CUDAGraph, got.Reason())
			}
			if len(got.Why) != len(c.why) {
				t.Errorf("why %q: want %d clauses like %q", got.Why, len(c.why), c.why)
			}
			for i, w := range c.why {
				if i < len(got.Why) && !strings.Contains(got.Why[i], w) {
					t.Errorf("why[%d] = %q, want it to contain %q", i, got.Why[i], w)
				}
			}
			if got.Mode() != cfg.DecoupledMode() {
				t.Errorf("Mode %s, DecoupledMode %s", got.Mode(), cfg.DecoupledMode())
			}
		})
	}
}

// An environment override of the mode is explicit, and an automatic field is not written back
// by Save: the next start chooses again.
func TestPlanEnvAndSave(t *testing.T) {
	cfg, err := ParseWithEnv([]byte(`{"device": "cuda", "inference": {"model": "m"}, "cameras": [{"id": "a", "url": "rtsp://h/a"}]}`),
		"", envMap(map[string]string{"ENABLE_DECOUPLED_PIPELINE": "yes"}))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Plan(); !p.Decoupled || !p.CUDAGraph || p.MaxBatch != 1 {
		t.Errorf("with ENABLE_DECOUPLED_PIPELINE=yes: %+v, want decoupled, graph, batch 1", p)
	}
	data, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"ENABLE_DECOUPLED_PIPELINE", "max_batch", "cuda_graph"} {
		if strings.Contains(string(data), field) {
			t.Errorf("saved file holds %s, which the file left to the automatic choice:\n%s", field, data)
		}
	}
}

// The drop warning's remedy fits the mode and device: switching to the decoupled mode is only
// offered where it is not already on.
func TestDropRemedy(t *testing.T) {
	for _, c := range []struct {
		plan   Plan
		device string
		want   string
		not    string
	}{
		{Plan{}, DeviceCUDA, "ENABLE_DECOUPLED_PIPELINE to true", "device cuda"},
		{Plan{}, DeviceCPU, "use device cuda", "ENABLE_DECOUPLED_PIPELINE"},
		{Plan{Decoupled: true, CUDAGraph: true}, DeviceCUDA, "every_n_frames", "ENABLE_DECOUPLED_PIPELINE"},
		{Plan{Decoupled: true}, DeviceCUDA, "cuda_graph to true", "ENABLE_DECOUPLED_PIPELINE"},
		{Plan{Decoupled: true}, DeviceCPU, "use device cuda", "ENABLE_DECOUPLED_PIPELINE"},
	} {
		got := c.plan.DropRemedy(c.device)
		if !strings.Contains(got, c.want) || strings.Contains(got, c.not) {
			t.Errorf("%+v on %s: %q, want it to say %q and not %q", c.plan, c.device, got, c.want, c.not)
		}
	}
}
