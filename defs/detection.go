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

// IoU is the intersection over union of two boxes (x1, y1, x2, y2): 0 when they do not overlap
// or either is empty. NMS and the tracker both match boxes by it.
func IoU(a, b [4]float32) float32 {
	iw := min(a[2], b[2]) - max(a[0], b[0])
	ih := min(a[3], b[3]) - max(a[1], b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}
