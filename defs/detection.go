package defs

// Detection is one object found in a frame, in source-frame pixels.
type Detection struct {
	ClassID int     `json:"class_id"`
	Label   string  `json:"label"`
	Score   float32 `json:"score"`
	// TrackID is the tracker's stable ID of the object across frames; 0 (omitted) when
	// tracking is off or the object is not (yet) a confirmed track.
	TrackID uint64     `json:"track_id,omitempty"`
	Box     [4]float32 `json:"box"` // x1, y1, x2, y2
}
