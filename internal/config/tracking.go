package config

import "strconv"

// Defaults of the tracking section, resolved by (Tracking).Effective rather than written into
// the config (a saved file keeps only what the user wrote).
const (
	DefaultTrackHighScore = 0.5
	DefaultTrackLowScore  = 0.1
	DefaultTrackMatchIoU  = 0.2
	DefaultTrackMinHits   = 3
	DefaultTrackMaxAge    = 30
)

// Tracking configures the per-camera multi-object tracker (track IDs, and the events built on
// them). Zero values mean the defaults: see Effective.
type Tracking struct {
	// Enabled turns tracking on; nil (absent) means true. Off, detections carry no track_id
	// and no events are made.
	Enabled *bool `json:"enabled,omitempty"`
	// HighScore: detections scoring at least this are matched first and may start tracks.
	HighScore float64 `json:"high_score,omitempty"`
	// LowScore: detections from it up to HighScore only extend existing tracks. Detections
	// below inference.confidence never reach the tracker, so lower that to use this.
	LowScore float64 `json:"low_score,omitempty"`
	// MatchIoU is the least overlap between a track's predicted box and a detection.
	MatchIoU float64 `json:"match_iou,omitempty"`
	// MinHits is how many analysed frames in a row a new object must be seen in before it
	// gets an ID (and object_appeared).
	MinHits int `json:"min_hits,omitempty"`
	// MaxAge is how many camera frames a track survives without a detection before
	// object_lost.
	MaxAge int `json:"max_age,omitempty"`
}

// IsEnabled reports whether tracking is on; nil Enabled means true.
func (t Tracking) IsEnabled() bool { return t.Enabled == nil || *t.Enabled }

// Effective returns t with every default filled in.
func (t Tracking) Effective() Tracking {
	e := t.IsEnabled()
	t.Enabled = &e
	if t.HighScore == 0 {
		t.HighScore = DefaultTrackHighScore
	}
	if t.LowScore == 0 {
		t.LowScore = DefaultTrackLowScore
	}
	if t.MatchIoU == 0 {
		t.MatchIoU = DefaultTrackMatchIoU
	}
	if t.MinHits == 0 {
		t.MinHits = DefaultTrackMinHits
	}
	if t.MaxAge == 0 {
		t.MaxAge = DefaultTrackMaxAge
	}
	return t
}

// Clone returns a copy of t that shares no pointers with it.
func (t Tracking) Clone() Tracking {
	t.Enabled = clonePtr(t.Enabled)
	return t
}

func (v *validator) tracking(path string, t Tracking) {
	unit := func(name string, x float64) {
		if x != 0 {
			v.unitInterval(path+"."+name, x)
		}
	}
	unit("high_score", t.HighScore)
	unit("low_score", t.LowScore)
	unit("match_iou", t.MatchIoU)
	v.between(path+".min_hits", int64(t.MinHits), 0, 100)
	v.between(path+".max_age", int64(t.MaxAge), 0, 100000)
	if e := t.Effective(); e.LowScore > e.HighScore && t.LowScore > 0 && t.LowScore <= 1 {
		v.add(path+".low_score", "must not exceed tracking.high_score (%s), got %s",
			strconv.FormatFloat(e.HighScore, 'g', -1, 64), strconv.FormatFloat(t.LowScore, 'g', -1, 64))
	}
}
