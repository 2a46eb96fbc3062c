package inference

// Decode is Decoder.Decode with a fresh Decoder.
func Decode(out []float32, shape []int64, layout Layout, batchIndex int, conf float32) ([]Candidate, error) {
	var d Decoder
	return d.Decode(out, shape, layout, batchIndex, conf)
}
