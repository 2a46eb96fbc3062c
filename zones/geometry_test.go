package zones_test

import (
	"testing"

	"github.com/gstvision/gstvision/zones"
)

func pts(xy ...float64) []zones.Point {
	out := make([]zones.Point, len(xy)/2)
	for i := range out {
		out[i] = zones.Point{X: xy[2*i], Y: xy[2*i+1]}
	}
	return out
}

func TestContains(t *testing.T) {
	l := pts(0.1, 0.1, 0.5, 0.1, 0.5, 0.3, 0.3, 0.3, 0.3, 0.5, 0.1, 0.5) // an L
	for _, c := range []struct {
		x, y float64
		in   bool
	}{{0.2, 0.2, true}, {0.4, 0.2, true}, {0.2, 0.4, true}, {0.4, 0.4, false}, {0.6, 0.2, false}, {0, 0, false}} {
		if got := zones.Contains(l, zones.Point{X: c.x, Y: c.y}); got != c.in {
			t.Errorf("Contains(%v, %v) = %v", c.x, c.y, got)
		}
	}
}

func TestSelfIntersecting(t *testing.T) {
	for _, c := range []struct {
		name string
		poly []zones.Point
		bad  bool
	}{
		{"square", pts(0, 0, 1, 0, 1, 1, 0, 1), false},
		{"triangle", pts(0, 0, 1, 0, 0, 1), false},
		{"concave L", pts(0.1, 0.1, 0.5, 0.1, 0.5, 0.3, 0.3, 0.3, 0.3, 0.5, 0.1, 0.5), false},
		{"bow tie", pts(0, 0, 1, 1, 1, 0, 0, 1), true},
		{"fold back", pts(0, 0, 1, 0, 0.5, 0, 0.5, 1), true},
		{"touching vertex", pts(0, 0, 1, 0, 0.5, 0.5, 1, 1, 0, 1, 0.5, 0.5), true},
		{"repeated point", pts(0, 0, 1, 0, 1, 0, 0, 1), true},
	} {
		if _, _, got := zones.SelfIntersecting(c.poly); got != c.bad {
			t.Errorf("%s: SelfIntersecting = %v, want %v", c.name, got, c.bad)
		}
	}
}

func TestSegmentsIntersect(t *testing.T) {
	p := func(x, y float64) zones.Point { return zones.Point{X: x, Y: y} }
	if !zones.SegmentsIntersect(p(0, 0), p(1, 1), p(0, 1), p(1, 0)) {
		t.Error("X does not intersect")
	}
	if zones.SegmentsIntersect(p(0, 0), p(1, 0), p(0, 1), p(1, 1)) {
		t.Error("parallel segments intersect")
	}
	if zones.SegmentsIntersect(p(0, 0), p(0.4, 0.4), p(0, 1), p(1, 0)) {
		t.Error("short segment reaches the other")
	}
	if !zones.SegmentsIntersect(p(0, 0), p(0.5, 0.5), p(0, 1), p(1, 0)) {
		t.Error("touching end does not count")
	}
}
