package tracking

// Config are the tracker's thresholds. The zero value of a field takes its default.
type Config struct {
	// HighScore: detections at or above it are matched first and may start tracks.
	HighScore float32
	// LowScore: detections from it up to HighScore only extend existing tracks (ByteTrack's
	// second stage: an occluded object's weak detection keeps its ID); below it they are
	// ignored.
	LowScore float32
	// MatchIoU is the least IoU between a track's predicted box and a detection to match them.
	MatchIoU float32
	// MinHits is how many consecutive analysed frames a new track must be matched in before it
	// is confirmed and gets an ID.
	MinHits int
	// MaxAge is how many camera frames a confirmed track lives on without a match (predicted
	// by its motion) before it is lost.
	MaxAge int
}

// Defaults.
const (
	DefaultHighScore = 0.5
	DefaultLowScore  = 0.1
	DefaultMatchIoU  = 0.2
	DefaultMinHits   = 3
	DefaultMaxAge    = 30
)

// lowMatchIoU is the IoU the low-score stage needs: weak detections only extend tracks they
// clearly overlap (ByteTrack's 0.5).
const lowMatchIoU = 0.5

func (c Config) withDefaults() Config {
	if c.HighScore <= 0 {
		c.HighScore = DefaultHighScore
	}
	if c.LowScore <= 0 {
		c.LowScore = DefaultLowScore
	}
	if c.MatchIoU <= 0 {
		c.MatchIoU = DefaultMatchIoU
	}
	if c.MinHits <= 0 {
		c.MinHits = DefaultMinHits
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	return c
}
