package simulate

import "testing"

// A scripted block is shown over its span, moves in straight lines between waypoints, has an
// even-pixel box of its size, and the script loops.
func TestScriptObjects(t *testing.T) {
	s := &Script{Frames: 100, Blocks: []Scripted{
		{ClassID: 2, W: 0.1, H: 0.2, Path: []Waypoint{{10, 0.2, 0.5}, {30, 0.6, 0.5}, {40, 0.6, 0.5}}},
	}}
	if objs := s.Objects(9, 640, 360); len(objs) != 0 {
		t.Fatalf("frame 9: %+v before the block's first frame", objs)
	}
	o := s.Objects(20, 640, 360)
	if len(o) != 1 || o[0].ID != 1 || o[0].ClassID != 2 {
		t.Fatalf("frame 20: %+v", o)
	}
	b := o[0].Box
	if cx := (b[0] + b[2]) / 2; cx < 0.4*640-2 || cx > 0.4*640+2 {
		t.Errorf("frame 20: centre x %v, want about %v", cx, 0.4*640)
	}
	if b[2]-b[0] != 64 || b[3]-b[1] != 72 || int(b[0])%2 != 0 || int(b[1])%2 != 0 {
		t.Errorf("box %v: want 64×72 at even pixels", b)
	}
	if objs := s.Objects(40, 640, 360); len(objs) != 0 {
		t.Fatalf("frame 40: %+v after the block's last frame", objs)
	}
	if a, c := s.Objects(20, 640, 360), s.Objects(120, 640, 360); a[0] != c[0] {
		t.Fatalf("no loop: %+v, %+v", a, c)
	}
	// The scene uses the script and leaves the default motion alone.
	sc := NewScene(640, 360, 30, 0)
	def := sc.Objects(5)
	sc.Script = EventsScript()
	if got := sc.Objects(25); len(got) != 1 || got[0].ClassID != 0 || got[0].ID != 1 {
		t.Fatalf("scripted scene at 25: %+v", got)
	}
	if sc.Script = nil; sc.Objects(5)[0] != def[0] || len(def) != len(Classes) {
		t.Fatal("default scene changed")
	}
}
