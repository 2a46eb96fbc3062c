package inference

// normalizeImageNet applies (v - mean) / std per channel to one planar RGB slot of plane
// pixels per channel (RF-DETR's Normalize after ToTensor).
func normalizeImageNet(slot []float32, plane int) {
	for ch := range 3 {
		p := slot[ch*plane : (ch+1)*plane]
		m, inv := ImageNetMean[ch], 1/ImageNetStd[ch]
		for i, v := range p {
			p[i] = (v - m) * inv
		}
	}
}
