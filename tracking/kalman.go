package tracking

// kf1 is a constant-velocity Kalman filter of one coordinate (position, velocity per frame).
// A box's four coordinates (centre x, centre y, width, height) move independently, so four of
// these are exactly the 8-state filter ByteTrack uses, without 8×8 matrices or allocations.
type kf1 struct {
	p, v          float32 // state
	p00, p01, p11 float32 // covariance (symmetric)
}

// Noise weights relative to the box height, as in ByteTrack (SORT's values).
const (
	stdPosition = 1.0 / 20
	stdVelocity = 1.0 / 160
)

func (k *kf1) init(z, scale float32) {
	sp, sv := 2*stdPosition*scale, 10*stdVelocity*scale
	*k = kf1{p: z, p00: sp * sp, p11: sv * sv}
}

// predict moves the state dt frames on; the process noise grows with dt.
func (k *kf1) predict(dt, scale float32) {
	if dt <= 0 {
		return
	}
	k.p += k.v * dt
	// P = F P Fᵀ + Q, F = [[1, dt], [0, 1]]
	p00 := k.p00 + dt*(2*k.p01+dt*k.p11)
	p01 := k.p01 + dt*k.p11
	sp, sv := stdPosition*scale, stdVelocity*scale
	k.p00 = p00 + dt*sp*sp
	k.p01 = p01
	k.p11 += dt * sv * sv
}

// update folds in a measurement z of the position.
func (k *kf1) update(z, scale float32) {
	r := stdPosition * scale
	s := k.p00 + r*r
	if s <= 0 {
		return
	}
	k0, k1 := k.p00/s, k.p01/s
	y := z - k.p
	k.p += k0 * y
	k.v += k1 * y
	p00, p01, p11 := k.p00, k.p01, k.p11
	k.p00 = (1 - k0) * p00
	k.p01 = (1 - k0) * p01
	k.p11 = p11 - k1*p01
}
