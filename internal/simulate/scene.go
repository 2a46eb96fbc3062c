// Package simulate serves synthetic cameras over RTSP. Every camera shows coloured blocks
// moving over a grey background; the block positions are a pure function of the frame index,
// so tests can score detections against the ground truth frame by frame.
package simulate

import "math"

// Classes are the labels of the simulated objects, in class-id order. The shipped detector
// (models/blocks.onnx) is built for exactly these.
var Classes = []string{"red block", "green block", "blue block"}

// ClassRGB is the colour each class is painted with.
var ClassRGB = [][3]uint8{
	{220, 40, 40},
	{40, 200, 60},
	{40, 60, 220},
}

// Object is one simulated object in one frame.
type Object struct {
	ClassID int
	Box     [4]float64 // x1, y1, x2, y2 in pixels (x2, y2 exclusive)
	// ID is a scripted object's number (1-based index in Script.Blocks); 0 in the default
	// scene, whose blocks are told apart by their class.
	ID int
}

// Scene describes one simulated camera's picture.
type Scene struct {
	Width, Height int
	FPS           int
	Camera        int // 0-based camera index: shifts the motion so cameras differ
	// Script, when set, replaces the default bouncing blocks by scripted ones (script.go).
	Script *Script
}

// NewScene returns the scene of camera index cam at the given size and frame rate.
func NewScene(width, height, fps, cam int) *Scene {
	return &Scene{Width: width, Height: height, FPS: fps, Camera: cam}
}

// even rounds down to an even pixel so that object edges fall on 4:2:0 chroma boundaries.
func even(v float64) float64 { return float64(int(v) &^ 1) }

// Objects returns the ground truth of frame n: one block per class, each in its own horizontal
// band, bouncing left and right and bobbing up and down. Blocks never overlap.
func (s *Scene) Objects(n int) []Object {
	if s.Script != nil {
		return s.Script.Objects(n, s.Width, s.Height)
	}
	W, H := float64(s.Width), float64(s.Height)
	fps := float64(s.FPS)
	if fps <= 0 {
		fps = 30
	}
	t := float64(n)/fps + 1.7*float64(s.Camera)
	band := H / float64(len(Classes))
	objs := make([]Object, len(Classes))
	for c := range Classes {
		w := even(W * (0.10 + 0.03*float64(c)))
		h := even(band * (0.55 + 0.1*float64(c)))
		margin := (band - h) / 2
		// horizontal: triangle wave across the frame, a different period per class
		period := 4.0 + 1.3*float64(c)
		phase := math.Mod(t/period+0.31*float64(c), 1)
		tri := 2 * phase
		if tri > 1 {
			tri = 2 - tri
		}
		x := even(8 + tri*(W-w-16))
		// vertical: gentle bob inside the band
		y := even(float64(c)*band + margin + 0.8*margin*math.Sin(2*math.Pi*t/3.0+float64(c)))
		if y < float64(c)*band {
			y = even(float64(c)*band) + 2
		}
		objs[c] = Object{ClassID: c, Box: [4]float64{x, y, x + w, y + h}}
	}
	return objs
}

// rgbToYUV converts to BT.601 limited range, what H.264 decoders and videoconvert assume.
func rgbToYUV(r, g, b uint8) (y, u, v uint8) {
	R, G, B := float64(r), float64(g), float64(b)
	Y := 16 + 0.257*R + 0.504*G + 0.098*B
	U := 128 - 0.148*R - 0.291*G + 0.439*B
	V := 128 + 0.439*R - 0.368*G - 0.071*B
	clip := func(x float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(x)))) }
	return clip(Y), clip(U), clip(V)
}

// RenderI420 draws frame n into dst, which must hold Width*Height*3/2 bytes (Y, then U, then V).
// The background is a grey gradient with a faint moving texture, so the encoder has real work.
func (s *Scene) RenderI420(n int, dst []byte) {
	W, H := s.Width, s.Height
	cw, ch := W/2, H/2
	yPlane := dst[:W*H]
	uPlane := dst[W*H : W*H+cw*ch]
	vPlane := dst[W*H+cw*ch : W*H+2*cw*ch]
	shift := n % 32
	for y := 0; y < H; y++ {
		row := yPlane[y*W : (y+1)*W]
		base := 90 + 60*y/H
		for x := range row {
			tex := 0
			if ((x+shift)/16+y/16)%2 == 0 {
				tex = 6
			}
			row[x] = uint8(base + tex)
		}
	}
	for i := range uPlane {
		uPlane[i] = 128
		vPlane[i] = 128
	}
	for _, o := range s.Objects(n) {
		c := ClassRGB[o.ClassID]
		Y, U, V := rgbToYUV(c[0], c[1], c[2])
		x1, y1, x2, y2 := int(o.Box[0]), int(o.Box[1]), int(o.Box[2]), int(o.Box[3])
		x1, y1 = max(x1, 0), max(y1, 0)
		x2, y2 = min(x2, W), min(y2, H)
		for y := y1; y < y2; y++ {
			row := yPlane[y*W : (y+1)*W]
			for x := x1; x < x2; x++ {
				row[x] = Y
			}
		}
		for y := y1 / 2; y < y2/2; y++ {
			for x := x1 / 2; x < x2/2; x++ {
				uPlane[y*cw+x] = U
				vPlane[y*cw+x] = V
			}
		}
	}
}
