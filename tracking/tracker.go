package tracking

import (
	"cmp"
	"slices"

	"github.com/gstvision/gstvision/defs"
)

// Track is a confirmed track as an update leaves it.
type Track struct {
	ID      uint64
	ClassID int
	Label   string
	Score   float32    // score of its latest detection
	Box     [4]float32 // the filtered box (x1, y1, x2, y2) at this frame
	Det     int        // index of the detection matched this frame, -1 if none
}

// Output is what one update found. Its slices are reused by the next update.
type Output struct {
	// Updated are the confirmed tracks matched in this frame, in detection order.
	Updated []Track
	// Appeared are the tracks confirmed in this frame (also in Updated).
	Appeared []Track
	// Lost are the tracks dropped in this frame after MaxAge frames without a match, with
	// their last predicted box.
	Lost []Track
}

type trackState uint8

const (
	tentative trackState = iota // not yet MinHits hits; no ID
	tracked                     // confirmed, matched recently
	lost                        // confirmed, missed in the latest frame
)

type track struct {
	id      uint64
	classID int
	label   string
	score   float32
	kf      [4]kf1 // centre x, centre y, width, height
	frame   uint64 // frame the filter state is at
	seen    uint64 // last frame matched
	hits    int
	state   trackState
	det     int // detection matched in this update, -1
}

// box is the filter's box as x1, y1, x2, y2.
func (t *track) box() [4]float32 {
	cx, cy, w, h := t.kf[0].p, t.kf[1].p, max(t.kf[2].p, 1), max(t.kf[3].p, 1)
	return [4]float32{cx - w/2, cy - h/2, cx + w/2, cy + h/2}
}

func (t *track) scale() float32 { return max(t.kf[3].p, 1) }

func (t *track) predictTo(frame uint64) {
	if frame <= t.frame {
		return
	}
	dt, s := float32(frame-t.frame), t.scale()
	for i := range t.kf {
		t.kf[i].predict(dt, s)
	}
	t.frame = frame
}

func (t *track) measure(d *defs.Detection) {
	z := measurement(d.Box)
	s := max(z[3], 1)
	for i := range t.kf {
		t.kf[i].update(z[i], s)
	}
	t.score = d.Score
}

func measurement(b [4]float32) [4]float32 {
	return [4]float32{(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]}
}

// pair is a candidate match.
type pair struct {
	t, d int
	iou  float32
}

// Tracker tracks one camera's objects. It is not safe for concurrent use: each camera's
// results are fed to its own tracker in order.
type Tracker struct {
	cfg    Config
	nextID uint64
	last   uint64 // latest frame updated
	began  bool

	tracks []*track // live tracks (tentative, tracked, lost)
	free   []*track // reused track structs

	// scratch, reused every update
	pairs   []pair
	detUsed []bool
	cands   []int // track indices of a stage
	dets    []int // detection indices of a stage
	out     Output
}

// New returns a tracker with cfg's thresholds.
func New(cfg Config) *Tracker {
	return &Tracker{cfg: cfg.withDefaults(), nextID: 1}
}

// Config returns the thresholds in use (defaults filled in).
func (tr *Tracker) Config() Config { return tr.cfg }

// Len is the number of live tracks, tentative ones included.
func (tr *Tracker) Len() int { return len(tr.tracks) }

// Update advances the tracks to frame (the camera's frame index: with frames skipped between
// analysed ones the motion is predicted across them), matches them with dets and writes each
// detection's TrackID in place (0 when it belongs to no confirmed track). The returned Output
// is valid until the next call. A frame older than the latest one gets IDs by overlap only and
// ErrStale.
func (tr *Tracker) Update(frame uint64, dets []defs.Detection) (*Output, error) {
	out := &tr.out
	out.Updated, out.Appeared, out.Lost = out.Updated[:0], out.Appeared[:0], out.Lost[:0]
	if tr.began && frame < tr.last {
		tr.labelStale(dets)
		return out, ErrStale
	}
	tr.began, tr.last = true, frame
	for i := range dets {
		dets[i].TrackID = 0
	}
	for _, t := range tr.tracks {
		t.predictTo(frame)
		t.det = -1
	}
	tr.detUsed = slices.Grow(tr.detUsed[:0], len(dets))[:len(dets)]
	clear(tr.detUsed)

	// Stage 1: high-score detections against confirmed tracks (tracked and lost).
	tr.selectDets(dets, tr.cfg.HighScore, 2)
	tr.selectTracks(func(t *track) bool { return t.state != tentative })
	tr.associate(dets, tr.cfg.MatchIoU)
	// Stage 2: low-score detections against the confirmed tracks still unmatched that were
	// seen in the previous update (a lost track is not revived by a weak detection).
	tr.selectDets(dets, tr.cfg.LowScore, tr.cfg.HighScore)
	tr.selectTracks(func(t *track) bool { return t.state == tracked && t.det < 0 })
	tr.associate(dets, lowMatchIoU)
	// Stage 3: remaining high-score detections against tentative tracks.
	tr.selectDets(dets, tr.cfg.HighScore, 2)
	tr.selectTracks(func(t *track) bool { return t.state == tentative })
	tr.associate(dets, tr.cfg.MatchIoU)

	tr.settle(frame, dets)
	// New tentative tracks from the high-score detections nobody took.
	for i := range dets {
		if tr.detUsed[i] || dets[i].Score < tr.cfg.HighScore {
			continue
		}
		tr.birth(frame, &dets[i], i)
	}
	return out, nil
}

// selectDets lists the unmatched detections with lo <= score < hi.
func (tr *Tracker) selectDets(dets []defs.Detection, lo, hi float32) {
	tr.dets = tr.dets[:0]
	for i := range dets {
		if !tr.detUsed[i] && dets[i].Score >= lo && dets[i].Score < hi {
			tr.dets = append(tr.dets, i)
		}
	}
}

func (tr *Tracker) selectTracks(keep func(*track) bool) {
	tr.cands = tr.cands[:0]
	for i, t := range tr.tracks {
		if t.det < 0 && keep(t) {
			tr.cands = append(tr.cands, i)
		}
	}
}

// associate matches tr.cands with tr.dets greedily by decreasing IoU, same class only.
//
// The stage's detections are sorted by left edge, so each track looks only at those whose left
// edge lies within the widest detection's width before its own left edge and before its right
// edge: the others cannot overlap it. A crowded frame (hundreds of boxes) then costs about
// N log N instead of N × M IoUs.
func (tr *Tracker) associate(dets []defs.Detection, minIoU float32) {
	if len(tr.cands) == 0 || len(tr.dets) == 0 {
		return
	}
	slices.SortFunc(tr.dets, func(a, b int) int { return cmp.Compare(dets[a].Box[0], dets[b].Box[0]) })
	var widest float32
	for _, di := range tr.dets {
		widest = max(widest, dets[di].Box[2]-dets[di].Box[0])
	}
	tr.pairs = tr.pairs[:0]
	for _, ti := range tr.cands {
		t := tr.tracks[ti]
		b := t.box()
		from, _ := slices.BinarySearchFunc(tr.dets, b[0]-widest, func(di int, x float32) int { return cmp.Compare(dets[di].Box[0], x) })
		for _, di := range tr.dets[from:] {
			d := &dets[di]
			if d.Box[0] >= b[2] {
				break
			}
			if d.ClassID != t.classID {
				continue
			}
			if iou := defs.IoU(b, d.Box); iou >= minIoU {
				tr.pairs = append(tr.pairs, pair{t: ti, d: di, iou: iou})
			}
		}
	}
	slices.SortFunc(tr.pairs, func(a, b pair) int {
		if c := cmp.Compare(b.iou, a.iou); c != 0 {
			return c
		}
		return cmp.Compare(a.d, b.d) // deterministic on ties
	})
	for _, p := range tr.pairs {
		t := tr.tracks[p.t]
		if t.det >= 0 || tr.detUsed[p.d] {
			continue
		}
		t.det = p.d
		tr.detUsed[p.d] = true
	}
}

// settle applies the matches: measured tracks advance, tentative ones get confirmed or die,
// confirmed ones unmatched for longer than MaxAge are lost.
func (tr *Tracker) settle(frame uint64, dets []defs.Detection) {
	out := &tr.out
	live := tr.tracks[:0]
	for _, t := range tr.tracks {
		if t.det >= 0 {
			d := &dets[t.det]
			t.measure(d)
			t.seen = frame
			t.hits++
			if t.state == tentative && t.hits >= tr.cfg.MinHits {
				t.id = tr.nextID
				tr.nextID++
				t.state = tracked
				out.Appeared = append(out.Appeared, t.public())
			}
			if t.state != tentative {
				t.state = tracked
				d.TrackID = t.id
				out.Updated = append(out.Updated, t.public())
			}
			live = append(live, t)
			continue
		}
		switch {
		case t.state == tentative:
			tr.free = append(tr.free, t)
		case frame-t.seen > uint64(tr.cfg.MaxAge):
			out.Lost = append(out.Lost, t.public())
			tr.free = append(tr.free, t)
		default:
			t.state = lost
			live = append(live, t)
		}
	}
	clear(tr.tracks[len(live):])
	tr.tracks = live
	slices.SortFunc(out.Updated, func(a, b Track) int { return cmp.Compare(a.Det, b.Det) })
}

func (t *track) public() Track {
	return Track{ID: t.id, ClassID: t.classID, Label: t.label, Score: t.score, Box: t.box(), Det: t.det}
}

func (tr *Tracker) birth(frame uint64, d *defs.Detection, i int) {
	var t *track
	if n := len(tr.free); n > 0 {
		t = tr.free[n-1]
		tr.free = tr.free[:n-1]
	} else {
		t = new(track)
	}
	z := measurement(d.Box)
	s := max(z[3], 1)
	*t = track{classID: d.ClassID, label: d.Label, score: d.Score, frame: frame, seen: frame, hits: 1, det: -1}
	for k := range t.kf {
		t.kf[k].init(z[k], s)
	}
	if tr.cfg.MinHits <= 1 {
		t.id = tr.nextID
		tr.nextID++
		t.state = tracked
		d.TrackID = t.id
		t.det = i
		tr.out.Appeared = append(tr.out.Appeared, t.public())
		tr.out.Updated = append(tr.out.Updated, t.public())
		t.det = -1
	}
	tr.tracks = append(tr.tracks, t)
}

// labelStale gives the detections of an out-of-order frame the ID of the confirmed track of
// their class they overlap most, without changing any track.
func (tr *Tracker) labelStale(dets []defs.Detection) {
	for i := range dets {
		d := &dets[i]
		d.TrackID = 0
		best := tr.cfg.MatchIoU
		for _, t := range tr.tracks {
			if t.state == tentative || t.classID != d.ClassID {
				continue
			}
			if iou := defs.IoU(t.box(), d.Box); iou >= best {
				best, d.TrackID = iou, t.id
			}
		}
	}
}

// Last is the latest frame updated, and false before the first update.
func (tr *Tracker) Last() (uint64, bool) { return tr.last, tr.began }

// Flush ends every track, as when the camera's stream starts over: the confirmed ones are
// returned as Lost (valid until the next call), and the next Update may start from any frame.
// IDs keep increasing.
func (tr *Tracker) Flush() *Output {
	out := &tr.out
	out.Updated, out.Appeared, out.Lost = out.Updated[:0], out.Appeared[:0], out.Lost[:0]
	for _, t := range tr.tracks {
		if t.state != tentative {
			t.det = -1
			out.Lost = append(out.Lost, t.public())
		}
	}
	tr.Reset()
	return out
}

// Reset forgets every track (IDs keep increasing).
func (tr *Tracker) Reset() {
	tr.free = append(tr.free, tr.tracks...)
	clear(tr.tracks)
	tr.tracks = tr.tracks[:0]
	tr.began = false
}
