package camera

import "testing"

func TestDroppedSoFar(t *testing.T) {
	steps := []struct {
		decoded, arrived, queued, want uint64
	}{
		{0, 0, 0, 0},
		{10, 6, 4, 0},   // four frames wait in the queue: none dropped
		{20, 12, 4, 4},  // 20 decoded, 12 arrived, 4 waiting: 4 dropped
		{22, 16, 4, 4},  // the queue drained into the sink: still 4
		{23, 16, 4, 4},  // read mid-move (one frame counted nowhere yet): the counter holds
		{30, 20, 6, 4},  // more waiting than the queue holds (a racy read): never below 4, never negative
		{40, 21, 25, 4}, // arrived + queued above decoded (racy): no underflow
		{50, 30, 4, 16},
	}
	var got uint64
	for i, s := range steps {
		got = droppedSoFar(got, s.decoded, s.arrived, s.queued)
		if got != s.want {
			t.Errorf("step %d (decoded %d, arrived %d, queued %d): dropped %d, want %d", i, s.decoded, s.arrived, s.queued, got, s.want)
		}
	}
}
