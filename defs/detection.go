package defs

// Detection is one object found in a frame, in source-frame pixels.
type Detection struct {
	ClassID int        `json:"class_id"`
	Label   string     `json:"label"`
	Score   float32    `json:"score"`
	Box     [4]float32 `json:"box"` // x1, y1, x2, y2
}
