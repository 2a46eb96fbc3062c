package simulate

import "math"

// Script is a scripted scene: blocks that appear, follow straight paths between waypoints and
// vanish, so that tests know which block crosses which line or zone when (the tracking and
// events tests). Positions and sizes are normalised to the picture (0..1).
type Script struct {
	Blocks []Scripted
	// Frames is the script's length: frame n shows the script at n mod Frames (0: no loop).
	Frames int
}

// Scripted is one scripted block.
type Scripted struct {
	ClassID int
	W, H    float64 // size, normalised
	// Path is the block's centre at some frames, in increasing frame order: it is shown from
	// the first waypoint's frame up to (not including) the last's, moving in straight lines
	// between them.
	Path []Waypoint
}

// Waypoint places a block's centre at a frame.
type Waypoint struct {
	Frame int
	X, Y  float64
}

// Span is the frames [first, end) the block is shown in.
func (o *Scripted) Span() (first, end int) {
	if len(o.Path) == 0 {
		return 0, 0
	}
	return o.Path[0].Frame, o.Path[len(o.Path)-1].Frame
}

// At returns the block's centre at frame n and whether it is shown then.
func (o *Scripted) At(n int) (x, y float64, ok bool) {
	first, end := o.Span()
	if n < first || n >= end {
		return 0, 0, false
	}
	for i := 1; i < len(o.Path); i++ {
		a, b := o.Path[i-1], o.Path[i]
		if n < b.Frame {
			t := float64(n-a.Frame) / float64(b.Frame-a.Frame)
			return a.X + t*(b.X-a.X), a.Y + t*(b.Y-a.Y), true
		}
	}
	return 0, 0, false
}

// Objects returns the blocks shown at frame n of a w×h picture, in script order.
func (s *Script) Objects(n, w, h int) []Object {
	if s.Frames > 0 {
		n %= s.Frames
	}
	W, H := float64(w), float64(h)
	var objs []Object
	for i := range s.Blocks {
		o := &s.Blocks[i]
		x, y, ok := o.At(n)
		if !ok {
			continue
		}
		bw, bh := even(o.W*W), even(o.H*H)
		x1 := even(math.Round(x*W - bw/2))
		y1 := even(math.Round(y*H - bh/2))
		objs = append(objs, Object{ClassID: o.ClassID, ID: i + 1, Box: [4]float64{x1, y1, x1 + bw, y1 + bh}})
	}
	return objs
}

// EventsScript is the scene of the tracking and events tests (pictured for a 16:9 picture):
//   - a red block walks right across the middle, stays a while at the right, and walks back;
//   - two green blocks, in lanes below it 29 px apart at 360 px, pass each other going
//     opposite ways;
//   - a blue block rises at the right and vanishes there.
//
// Each crosses the vertical line x = 0.5 and the red and blue ones stop in the rectangle
// x 0.65..0.95, y 0.15..0.55 (see groundtruth.EventsScene for those, and the events they make).
// Events of different blocks are at least 9 frames apart. It loops every 450 frames (15 s at
// 30 fps).
func EventsScript() *Script {
	const w, h = 0.09, 0.14
	return &Script{Frames: 450, Blocks: []Scripted{
		{ClassID: 0, W: w, H: h, Path: []Waypoint{{20, 0.15, 0.25}, {95, 0.8, 0.25}, {150, 0.8, 0.25}, {240, 0.15, 0.25}, {250, 0.15, 0.25}}},
		{ClassID: 1, W: w, H: h, Path: []Waypoint{{40, 0.1, 0.66}, {200, 0.9, 0.66}, {210, 0.9, 0.66}}},
		{ClassID: 1, W: w, H: h, Path: []Waypoint{{50, 0.9, 0.88}, {130, 0.1, 0.88}}},
		{ClassID: 2, W: w, H: h, Path: []Waypoint{{300, 0.8, 0.75}, {360, 0.8, 0.3}, {380, 0.8, 0.3}}},
	}}
}
