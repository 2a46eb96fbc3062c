package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/onnxgen/ortest"
	"github.com/gstvision/gstvision/internal/simulate"
)

const (
	imgsz     = 640
	confThres = 0.5
	nmsIoU    = 0.5
)

// committedDir is the repository's models directory, relative to this package.
const committedDir = "../../models"

func TestCommittedModelIsReproducible(t *testing.T) {
	dir := t.TempDir()
	if err := write(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ModelFile, LabelsFile} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(committedDir, name))
		if err != nil {
			t.Fatalf("committed file: %v (regenerate with: go run ./tools/mkdetector -out models)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output; regenerate with: go run ./tools/mkdetector -out models", name)
		}
	}
	if fi, err := os.Stat(filepath.Join(committedDir, ModelFile)); err == nil && fi.Size() > 1<<20 {
		t.Errorf("%s is %d bytes; keep it under 1 MiB", ModelFile, fi.Size())
	}
}

func TestShape(t *testing.T) {
	p := DefaultParams()
	if p.Grid() != 80 || p.Anchors() != 19200 || p.Iterations() != 15 {
		t.Fatalf("grid %d, anchors %d, iterations %d; want 80, 19200, 15", p.Grid(), p.Anchors(), p.Iterations())
	}
	// The propagation must reach across the largest block: Iterations·radius ≥ cells spanned − 1.
	span := int(p.MaxSpan*float64(p.Size))/p.Stride + 1
	if p.Iterations()*(p.Kernel/2) < span {
		t.Fatalf("%d iterations of radius %d do not cross %d cells", p.Iterations(), p.Kernel/2, span)
	}
}

func TestLabels(t *testing.T) {
	want := "red block\ngreen block\nblue block\n"
	if got := string(labels()); got != want {
		t.Fatalf("labels = %q, want %q", got, want)
	}
}

func TestParamsValidate(t *testing.T) {
	bad := []func(p *Params){
		func(p *Params) { p.Kernel = 4 },
		func(p *Params) { p.Stride = 6 },
		func(p *Params) { p.Ramp = 0.5 },
		func(p *Params) { p.ClassRGB = p.ClassRGB[:2] },
		func(p *Params) { p.ClassRGB = [][3]uint8{{200, 40, 40}, {210, 60, 60}, {40, 40, 200}} },
		func(p *Params) { p.ClassRGB = [][3]uint8{{120, 110, 100}, {40, 200, 40}, {40, 40, 200}} },
	}
	for i, mod := range bad {
		p := DefaultParams()
		p.ClassRGB = slices.Clone(p.ClassRGB)
		mod(&p)
		if _, err := Build(p); err == nil {
			t.Errorf("case %d: Build accepted bad params", i)
		}
	}
}

// frame is one letterboxed picture with its ground truth in source pixels.
type frame struct {
	name       string
	w, h       int
	input      []float32 // [3, imgsz, imgsz]
	scale      float64
	padX, padY int
	truth      []simulate.Object
	minIoU     float64
}

// detection is one decoded box in source pixels.
type detection struct {
	class int
	score float32
	box   [4]float64
}

// i420ToRGB converts a BT.601 limited-range I420 picture to interleaved 8-bit RGB (nearest chroma).
func i420ToRGB(w, h int, yuv []byte) []byte {
	cw := w / 2
	yp, up, vp := yuv[:w*h], yuv[w*h:w*h+cw*(h/2)], yuv[w*h+cw*(h/2):]
	rgb := make([]byte, w*h*3)
	clip := func(v float64) byte { return byte(math.Max(0, math.Min(255, math.Round(v)))) }
	for y := range h {
		for x := range w {
			Y := 1.164 * (float64(yp[y*w+x]) - 16)
			U := float64(up[(y/2)*cw+x/2]) - 128
			V := float64(vp[(y/2)*cw+x/2]) - 128
			i := (y*w + x) * 3
			rgb[i] = clip(Y + 1.596*V)
			rgb[i+1] = clip(Y - 0.392*U - 0.813*V)
			rgb[i+2] = clip(Y + 2.017*U)
		}
	}
	return rgb
}

// degrade imitates codec loss: chroma averaged over 2×2 chroma samples, ±2 chroma and ±3 luma
// noise.
func degrade(w, h int, yuv []byte, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	cw, ch := w/2, h/2
	noisy := func(v byte, a int) byte { return byte(min(255, max(0, int(v)+rng.IntN(2*a+1)-a))) }
	for i := range w * h {
		yuv[i] = noisy(yuv[i], 3)
	}
	for p := range 2 {
		plane := yuv[w*h+p*cw*ch : w*h+(p+1)*cw*ch]
		src := slices.Clone(plane)
		for y := range ch {
			for x := range cw {
				x1, y1 := min(x+1, cw-1), min(y+1, ch-1)
				s := int(src[y*cw+x]) + int(src[y*cw+x1]) + int(src[y1*cw+x]) + int(src[y1*cw+x1])
				plane[y*cw+x] = noisy(byte((s+2)/4), 2)
			}
		}
	}
}

// letterbox resizes rgb (bilinear, half-pixel centres like cv2.INTER_LINEAR) into a
// imgsz×imgsz planar float picture padded with 114/255, the way YOLO preprocessing does.
func letterbox(w, h int, rgb []byte) (out []float32, scale float64, padX, padY int) {
	scale = math.Min(float64(imgsz)/float64(w), float64(imgsz)/float64(h))
	nw, nh := int(math.Round(float64(w)*scale)), int(math.Round(float64(h)*scale))
	padX = int(math.Round(float64(imgsz-nw)/2 - 0.1))
	padY = int(math.Round(float64(imgsz-nh)/2 - 0.1))
	out = make([]float32, 3*imgsz*imgsz)
	for i := range out {
		out[i] = 114.0 / 255
	}
	sx, sy := float64(w)/float64(nw), float64(h)/float64(nh)
	plane := imgsz * imgsz
	for oy := range nh {
		fy := math.Max(0, (float64(oy)+0.5)*sy-0.5)
		y0 := min(int(fy), h-1)
		y1 := min(y0+1, h-1)
		wy := fy - float64(y0)
		for ox := range nw {
			fx := math.Max(0, (float64(ox)+0.5)*sx-0.5)
			x0 := min(int(fx), w-1)
			x1 := min(x0+1, w-1)
			wx := fx - float64(x0)
			o := (oy+padY)*imgsz + ox + padX
			for c := range 3 {
				a := float64(rgb[(y0*w+x0)*3+c])*(1-wx) + float64(rgb[(y0*w+x1)*3+c])*wx
				b := float64(rgb[(y1*w+x0)*3+c])*(1-wx) + float64(rgb[(y1*w+x1)*3+c])*wx
				out[c*plane+o] = float32((a*(1-wy) + b*wy) / 255)
			}
		}
	}
	return out, scale, padX, padY
}

func iou(a, b [4]float64) float64 {
	iw := math.Min(a[2], b[2]) - math.Max(a[0], b[0])
	ih := math.Min(a[3], b[3]) - math.Max(a[1], b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	return inter / ((a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter)
}

// decode turns one image's [4+K, A] output into detections in source pixels: confidence
// threshold on the best class, then greedy class-wise NMS.
func decode(out []float32, classes, anchors int, f *frame) []detection {
	keep := nms(candidates(out, classes, anchors, f, confThres))
	return keep
}

// candidates returns every anchor whose best class score reaches thres, in source pixels.
func candidates(out []float32, classes, anchors int, f *frame, thres float32) []detection {
	var cands []detection
	for a := range anchors {
		best, score := -1, float32(0)
		for c := range classes {
			if s := out[(4+c)*anchors+a]; s > score {
				best, score = c, s
			}
		}
		if best < 0 || score < thres {
			continue
		}
		cx, cy, w, h := float64(out[a]), float64(out[anchors+a]), float64(out[2*anchors+a]), float64(out[3*anchors+a])
		box := [4]float64{cx - w/2, cy - h/2, cx + w/2, cy + h/2}
		for i := range box {
			pad := float64(f.padX)
			lim := float64(f.w)
			if i%2 == 1 {
				pad, lim = float64(f.padY), float64(f.h)
			}
			box[i] = math.Max(0, math.Min(lim, (box[i]-pad)/f.scale))
		}
		cands = append(cands, detection{class: best, score: score, box: box})
	}
	return cands
}

// nms is greedy class-wise non-maximum suppression.
func nms(cands []detection) []detection {
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	var keep []detection
	for _, d := range cands {
		dup := false
		for _, k := range keep {
			if k.class == d.class && iou(k.box, d.box) > nmsIoU {
				dup = true
				break
			}
		}
		if !dup {
			keep = append(keep, d)
		}
	}
	return keep
}

// makeFrames renders the test pictures: several sizes, cameras and frame indexes, some degraded.
func makeFrames() []frame {
	type shot struct {
		w, h, cam, n int
		degrade      bool
	}
	var shots []shot
	for _, sz := range [][2]int{{640, 360}, {1280, 720}, {854, 480}, {480, 640}} {
		for cam := range 3 {
			for _, n := range []int{0, 37, 151, 290} {
				shots = append(shots, shot{sz[0], sz[1], cam, n + 11*cam, false})
			}
		}
		for i := range 4 {
			shots = append(shots, shot{sz[0], sz[1], i, 60*i + 23, true})
		}
	}
	frames := make([]frame, 0, len(shots))
	for i, s := range shots {
		sc := simulate.NewScene(s.w, s.h, 30, s.cam)
		yuv := make([]byte, s.w*s.h*3/2)
		sc.RenderI420(s.n, yuv)
		f := frame{
			name:   fmt.Sprintf("%dx%d/cam%d/frame%d", s.w, s.h, s.cam, s.n),
			w:      s.w,
			h:      s.h,
			truth:  sc.Objects(s.n),
			minIoU: 0.8,
		}
		if s.degrade {
			degrade(s.w, s.h, yuv, uint64(i))
			f.name += "/degraded"
			f.minIoU = 0.7
		}
		f.input, f.scale, f.padX, f.padY = letterbox(s.w, s.h, i420ToRGB(s.w, s.h, yuv))
		frames = append(frames, f)
	}
	return frames
}

// check scores one frame's detections against its ground truth and returns the worst IoU.
func check(t *testing.T, f *frame, dets []detection) float64 {
	t.Helper()
	worst := 1.0
	used := make([]bool, len(dets))
	for _, o := range f.truth {
		best, bi := 0.0, -1
		for i, d := range dets {
			if v := iou(d.box, o.Box); d.class == o.ClassID && !used[i] && v > best {
				best, bi = v, i
			}
		}
		if bi < 0 || best < f.minIoU {
			t.Errorf("%s: %s at %v: best IoU %.3f < %.2f (detections %+v)", f.name,
				simulate.Classes[o.ClassID], o.Box, best, f.minIoU, dets)
			continue
		}
		used[bi] = true
		worst = math.Min(worst, best)
	}
	for i, d := range dets {
		if !used[i] {
			t.Errorf("%s: false positive %s %.2f at %v", f.name, simulate.Classes[d.class], d.score, d.box)
		}
	}
	return worst
}

// sameBoxes checks that every anchor with any score (every member cell of a block) reports
// the box of its block's detection, so the output does not depend on the NMS settings.
func sameBoxes(t *testing.T, f *frame, out []float32, classes, anchors int, dets []detection) {
	t.Helper()
	for _, c := range candidates(out, classes, anchors, f, 1e-6) {
		best := 0.0
		for _, d := range dets {
			if d.class == c.class {
				best = math.Max(best, iou(c.box, d.box))
			}
		}
		if best < 0.97 {
			t.Errorf("%s: anchor %s %.2f at %v: IoU %.3f with the detections", f.name,
				simulate.Classes[c.class], c.score, c.box, best)
			return
		}
	}
}

func newDetectorSession(t testing.TB, threads int) *ortest.Session {
	t.Helper()
	ortest.Init(t)
	model, err := os.ReadFile(filepath.Join(committedDir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ortest.NewSession(model, []string{"images"}, []string{"output0"}, threads)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDetectsSimulatedBlocks(t *testing.T) {
	sess := newDetectorSession(t, 1)
	p := DefaultParams()
	A, K := p.Anchors(), len(p.Classes)
	frames := makeFrames()
	plane := 3 * imgsz * imgsz
	worst := map[bool]float64{false: 1, true: 1}

	for _, batch := range []int{1, 4} {
		for start := 0; start < len(frames); start += batch {
			n := min(batch, len(frames)-start)
			in := make([]float32, 0, n*plane)
			for i := range n {
				in = append(in, frames[start+i].input...)
			}
			out, err := sess.Run(ortest.Tensor{Name: "images", Shape: []int64{int64(n), 3, imgsz, imgsz}, Data: in})
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{int64(n), int64(4 + K), int64(A)}; !slices.Equal(out[0].Shape, want) {
				t.Fatalf("output shape %v, want %v", out[0].Shape, want)
			}
			per := (4 + K) * A
			for i := range n {
				f := &frames[start+i]
				one := out[0].Data[i*per : (i+1)*per]
				dets := decode(one, K, A, f)
				v := check(t, f, dets)
				if batch == 1 {
					sameBoxes(t, f, one, K, A, dets)
				}
				deg := f.minIoU < 0.8
				worst[deg] = math.Min(worst[deg], v)
			}
		}
	}
	t.Logf("%d frames at batch 1 and 4: worst IoU %.3f clean, %.3f degraded", len(frames), worst[false], worst[true])
}

// cpuTime returns the CPU time (user + system) this process has used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDetectorSpeed reports the time per image at batch 1 on one intra-op thread: wall time and
// the process's CPU time, which stays meaningful when other work shares the cores.
func TestDetectorSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("timing skipped in -short mode")
	}
	sess := newDetectorSession(t, 1)
	f := makeFrames()[0]
	in := ortest.Tensor{Name: "images", Shape: []int64{1, 3, imgsz, imgsz}, Data: f.input}
	for range 3 {
		if _, err := sess.Run(in); err != nil {
			t.Fatal(err)
		}
	}
	const runs = 50
	times := make([]time.Duration, runs)
	cpu0 := cpuTime(t)
	for i := range runs {
		start := time.Now()
		if _, err := sess.Run(in); err != nil {
			t.Fatal(err)
		}
		times[i] = time.Since(start)
	}
	cpu := (cpuTime(t) - cpu0) / runs
	slices.Sort(times)
	t.Logf("batch 1, 1 thread, per 640×640 image (incl. Go tensor copies): CPU %v; wall median %v, min %v, max %v",
		cpu, times[runs/2], times[0], times[runs-1])
}

// BenchmarkDetector measures one batch-1 inference on one intra-op thread.
func BenchmarkDetector(b *testing.B) {
	sess := newDetectorSession(b, 1)
	f := makeFrames()[0]
	in := ortest.Tensor{Name: "images", Shape: []int64{1, 3, imgsz, imgsz}, Data: f.input}
	for b.Loop() {
		if _, err := sess.Run(in); err != nil {
			b.Fatal(err)
		}
	}
}

// h264RoundTrip encodes frames (I420, tightly packed) with x264enc at kbps and decodes them with
// avdec_h264 through gst-launch-1.0, returning the decoded pictures. It skips t when GStreamer or
// one of the elements is missing.
func h264RoundTrip(t *testing.T, w, h, kbps int, frames [][]byte) [][]byte {
	t.Helper()
	if w%8 != 0 || h%4 != 0 {
		t.Fatalf("%dx%d: use sizes whose I420 planes have no row padding", w, h)
	}
	for _, tool := range []string{"gst-launch-1.0", "gst-inspect-1.0"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed", tool)
		}
	}
	for _, el := range []string{"rawvideoparse", "x264enc", "h264parse", "avdec_h264", "videoconvert"} {
		if err := exec.Command("gst-inspect-1.0", "--exists", el).Run(); err != nil {
			t.Skipf("skipping: GStreamer element %s not available", el)
		}
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.yuv"), filepath.Join(dir, "out.yuv")
	if err := os.WriteFile(in, bytes.Join(frames, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-q",
		"filesrc", "location="+in, "!",
		"rawvideoparse", fmt.Sprintf("width=%d", w), fmt.Sprintf("height=%d", h), "format=i420", "framerate=30/1", "!",
		"x264enc", fmt.Sprintf("bitrate=%d", kbps), "speed-preset=ultrafast", "tune=zerolatency", "key-int-max=60", "!",
		"h264parse", "!", "avdec_h264", "!", "videoconvert", "!", "video/x-raw,format=I420", "!",
		"filesink", "location="+out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gst-launch-1.0: %v: %s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	size := w * h * 3 / 2
	if len(data) != size*len(frames) {
		t.Fatalf("decoded %d bytes, want %d frames of %d", len(data), len(frames), size)
	}
	res := make([][]byte, len(frames))
	for i := range res {
		res[i] = data[i*size : (i+1)*size]
	}
	return res
}

// TestDetectsThroughH264 runs the detector on pictures that went through a real H.264 encoder
// and decoder at modest bitrates (skipped without GStreamer's x264enc and avdec_h264).
func TestDetectsThroughH264(t *testing.T) {
	if testing.Short() {
		t.Skip("codec round trip skipped in -short mode")
	}
	sess := newDetectorSession(t, 1)
	p := DefaultParams()
	A, K := p.Anchors(), len(p.Classes)
	worst := 1.0
	for _, c := range []struct{ w, h, cam, kbps int }{
		{640, 360, 0, 400}, {640, 360, 2, 1000}, {1280, 720, 1, 1500}, {960, 544, 2, 800},
	} {
		sc := simulate.NewScene(c.w, c.h, 30, c.cam)
		const count, first = 30, 100
		raw := make([][]byte, count)
		for i := range raw {
			raw[i] = make([]byte, c.w*c.h*3/2)
			sc.RenderI420(first+i, raw[i])
		}
		decoded := h264RoundTrip(t, c.w, c.h, c.kbps, raw)
		for i := 0; i < count; i += 3 {
			f := frame{
				name:   fmt.Sprintf("%dx%d/cam%d/frame%d/h264@%dkbps", c.w, c.h, c.cam, first+i, c.kbps),
				w:      c.w,
				h:      c.h,
				truth:  sc.Objects(first + i),
				minIoU: 0.7,
			}
			f.input, f.scale, f.padX, f.padY = letterbox(c.w, c.h, i420ToRGB(c.w, c.h, decoded[i]))
			out, err := sess.Run(ortest.Tensor{Name: "images", Shape: []int64{1, 3, imgsz, imgsz}, Data: f.input})
			if err != nil {
				t.Fatal(err)
			}
			dets := decode(out[0].Data, K, A, &f)
			worst = math.Min(worst, check(t, &f, dets))
			sameBoxes(t, &f, out[0].Data, K, A, dets)
		}
	}
	t.Logf("through x264 (400–1500 kbps): worst IoU %.3f", worst)
}
