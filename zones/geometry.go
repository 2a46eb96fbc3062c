package zones

// Point is a position in normalised picture coordinates (0..1, origin top left, y down).
type Point struct{ X, Y float64 }

// cross is the z component of (b-a)×(p-a): its sign says on which side of a→b p lies. On the
// screen (y down) a negative value is the left of a→b, a positive one the right.
func cross(a, b, p Point) float64 { return (b.X-a.X)*(p.Y-a.Y) - (b.Y-a.Y)*(p.X-a.X) }

// sign is -1, 0 or 1.
func sign(v float64) int8 {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// Contains reports whether p lies inside the polygon (even-odd rule; points on an edge may go
// either way).
func Contains(poly []Point, p Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}

// SegmentsIntersect reports whether segments p1-p2 and q1-q2 share a point.
func SegmentsIntersect(p1, p2, q1, q2 Point) bool {
	d1, d2 := sign(cross(q1, q2, p1)), sign(cross(q1, q2, p2))
	d3, d4 := sign(cross(p1, p2, q1)), sign(cross(p1, p2, q2))
	if d1 != d2 && d3 != d4 && d1*d2 <= 0 && d3*d4 <= 0 && (d1 != 0 || d2 != 0) {
		return true
	}
	// collinear overlaps and touching ends
	return d1 == 0 && onSegment(q1, q2, p1) || d2 == 0 && onSegment(q1, q2, p2) ||
		d3 == 0 && onSegment(p1, p2, q1) || d4 == 0 && onSegment(p1, p2, q2)
}

// onSegment reports whether p, collinear with a-b, lies between them.
func onSegment(a, b, p Point) bool {
	return min(a.X, b.X) <= p.X && p.X <= max(a.X, b.X) && min(a.Y, b.Y) <= p.Y && p.Y <= max(a.Y, b.Y)
}

// SelfIntersecting returns the indices of two edges of the closed polygon that cross or touch
// (edge i runs from point i to point i+1), and false when the polygon is simple. Adjacent
// edges may share only their common point.
func SelfIntersecting(poly []Point) (int, int, bool) {
	n := len(poly)
	for i := range n {
		a1, a2 := poly[i], poly[(i+1)%n]
		for j := i + 1; j < n; j++ {
			b1, b2 := poly[j], poly[(j+1)%n]
			adjacent := j == i+1 || (i == 0 && j == n-1)
			if adjacent {
				// only a fold back along the shared point counts
				shared, other, far := a2, b2, a1
				if i == 0 && j == n-1 {
					shared, other, far = a1, b1, a2
				}
				if sign(cross(shared, far, other)) == 0 && (onSegment(shared, far, other) || onSegment(shared, other, far)) {
					return i, j, true
				}
				continue
			}
			if SegmentsIntersect(a1, a2, b1, b2) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// Area is the polygon's unsigned area.
func Area(poly []Point) float64 {
	s := 0.0
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		s += poly[j].X*poly[i].Y - poly[i].X*poly[j].Y
	}
	if s < 0 {
		s = -s
	}
	return s / 2
}
