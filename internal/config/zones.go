package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gstvision/gstvision/zones"
)

// Zone is a polygon of a camera's picture whose objects are followed: zone_entered and
// zone_left events and an occupancy count per class.
type Zone struct {
	// Name names the zone in events, unique among the camera's zones and lines.
	Name string `json:"name"`
	// Polygon lists at least 3 [x, y] points, normalised to the picture (0..1, origin top
	// left), in order around a simple (not self-intersecting) polygon.
	Polygon [][]float64 `json:"polygon"`
	// Classes limits the zone to these labels of the model; empty means every class.
	Classes []string `json:"classes,omitempty"`
	// MinDwellMS is how long an object must stay inside before it counts as entered.
	MinDwellMS int `json:"min_dwell_ms,omitempty"`
}

// Line is a segment of a camera's picture whose crossings make line_crossed events.
type Line struct {
	// Name names the line in events, unique among the camera's zones and lines.
	Name string `json:"name"`
	// Points are the segment's two ends [[x1, y1], [x2, y2]], normalised to the picture.
	Points [][]float64 `json:"points"`
	// Classes limits the line to these labels of the model; empty means every class.
	Classes []string `json:"classes,omitempty"`
	// Directions optionally names the two crossing directions: the first for a crossing to
	// the left of the line seen on the screen from its first point to its second, the second
	// for one to its right. Absent, they are "left" and "right".
	Directions []string `json:"directions,omitempty"`
}

// maxZonePoints bounds a polygon's points (the per-frame cost grows with them).
const maxZonePoints = 64

// Engine returns the zone for the zones engine.
func (z Zone) Engine() zones.Zone {
	return zones.Zone{Name: z.Name, Polygon: toPoints(z.Polygon), Classes: slices.Clone(z.Classes),
		MinDwell: msDuration(z.MinDwellMS)}
}

// Engine returns the line for the zones engine.
func (l Line) Engine() zones.Line {
	out := zones.Line{Name: l.Name, Classes: slices.Clone(l.Classes)}
	if p := toPoints(l.Points); len(p) == 2 {
		out.A, out.B = p[0], p[1]
	}
	if len(l.Directions) == 2 {
		out.Directions = [2]string{l.Directions[0], l.Directions[1]}
	}
	return out
}

func toPoints(xy [][]float64) []zones.Point {
	out := make([]zones.Point, 0, len(xy))
	for _, p := range xy {
		if len(p) == 2 {
			out = append(out, zones.Point{X: p[0], Y: p[1]})
		}
	}
	return out
}

func cloneZones(zs []Zone) []Zone {
	if zs == nil {
		return nil
	}
	out := make([]Zone, len(zs))
	for i, z := range zs {
		z.Polygon = clonePoints(z.Polygon)
		z.Classes = slices.Clone(z.Classes)
		out[i] = z
	}
	return out
}

func cloneLines(ls []Line) []Line {
	if ls == nil {
		return nil
	}
	out := make([]Line, len(ls))
	for i, l := range ls {
		l.Points = clonePoints(l.Points)
		l.Classes = slices.Clone(l.Classes)
		l.Directions = slices.Clone(l.Directions)
		out[i] = l
	}
	return out
}

func clonePoints(ps [][]float64) [][]float64 {
	if ps == nil {
		return nil
	}
	out := make([][]float64, len(ps))
	for i, p := range ps {
		out[i] = slices.Clone(p)
	}
	return out
}

// zonesAndLines checks a camera's zones and lines (pre is "cameras[i].").
func (v *validator) zonesAndLines(pre string, cam Camera) {
	names := map[string]string{} // name → path of its first use
	name := func(path, n string) {
		switch {
		case n == "":
			v.add(path, "required")
			return
		case len(n) > 64 || strings.ContainsAny(n, "/#+") ||
			strings.IndexFunc(n, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
			v.add(path, "must be 1 to 64 characters without '/', '#', '+' or control characters, got %s", quote(n))
			return
		}
		if first, dup := names[n]; dup {
			v.add(path, "duplicate of %s %s", first, quote(n))
			return
		}
		names[n] = path
	}
	for i, z := range cam.Zones {
		zp := fmt.Sprintf("%szones[%d]", pre, i)
		name(zp+".name", z.Name)
		if v.points(zp+".polygon", z.Polygon) {
			v.polygon(zp+".polygon", z.Polygon)
		}
		v.classes(zp+".classes", z.Classes)
		v.between(zp+".min_dwell_ms", int64(z.MinDwellMS), 0, 3_600_000)
	}
	for i, l := range cam.Lines {
		lp := fmt.Sprintf("%slines[%d]", pre, i)
		name(lp+".name", l.Name)
		if v.points(lp+".points", l.Points) {
			switch {
			case len(l.Points) != 2:
				v.add(lp+".points", "must be 2 points [[x1, y1], [x2, y2]], got %d", len(l.Points))
			case l.Points[0][0] == l.Points[1][0] && l.Points[0][1] == l.Points[1][1]:
				v.add(lp+".points", "the two points must differ")
			}
		}
		v.classes(lp+".classes", l.Classes)
		switch {
		case len(l.Directions) == 0:
		case len(l.Directions) != 2:
			v.add(lp+".directions", "must name 2 directions (to the left, to the right), got %d", len(l.Directions))
		case l.Directions[0] == "" || l.Directions[1] == "":
			v.add(lp+".directions", "must not be empty")
		case l.Directions[0] == l.Directions[1]:
			v.add(lp+".directions", "must differ, got %s twice", quote(l.Directions[0]))
		}
	}
}

// points checks that every point is [x, y] within 0..1, and reports whether all are.
func (v *validator) points(path string, ps [][]float64) bool {
	ok := true
	for j, p := range ps {
		pp := fmt.Sprintf("%s[%d]", path, j)
		if len(p) != 2 {
			v.add(pp, "must be [x, y], got %d numbers", len(p))
			ok = false
			continue
		}
		for k, c := range p {
			if !(c >= 0 && c <= 1) {
				v.add(fmt.Sprintf("%s[%d]", pp, k), "must be between 0 and 1 (a fraction of the picture's %s), got %s",
					[]string{"width", "height"}[k], strconv.FormatFloat(c, 'g', -1, 64))
				ok = false
			}
		}
	}
	return ok
}

func (v *validator) polygon(path string, ps [][]float64) {
	poly := toPoints(ps)
	switch {
	case len(poly) < 3:
		v.add(path, "must have at least 3 points, got %d", len(poly))
		return
	case len(poly) > maxZonePoints:
		v.add(path, "must have at most %d points, got %d", maxZonePoints, len(poly))
		return
	}
	if i, j, bad := zones.SelfIntersecting(poly); bad {
		v.add(path, "must not intersect itself: the edge from point %d crosses or touches the edge from point %d", i, j)
		return
	}
	if zones.Area(poly) < 1e-9 || math.IsNaN(zones.Area(poly)) {
		v.add(path, "must enclose an area")
	}
}

func (v *validator) classes(path string, cs []string) {
	for j, c := range cs {
		if strings.TrimSpace(c) == "" {
			v.add(fmt.Sprintf("%s[%d]", path, j), "must not be empty")
		} else if k := slices.Index(cs, c); k < j {
			v.add(fmt.Sprintf("%s[%d]", path, j), "duplicate of %s[%d] %s", path, k, quote(c))
		}
	}
}

// CheckClasses checks that every class a camera's zones and lines name is one of the model's
// labels, which the config alone does not know: the app runs it at start (the problems then
// stop it, as a bad config does) and on every camera change. index is the position of
// cameras[0] in the config.
func CheckClasses(cams []Camera, index int, labels []string) error {
	v := &validator{}
	for i, cam := range cams {
		check := func(path string, cs []string) {
			for j, c := range cs {
				if c != "" && !slices.Contains(labels, c) {
					v.add(fmt.Sprintf("%s[%d]", path, j), "unknown class %s (the model's classes: %s)", quote(c), labelList(labels))
				}
			}
		}
		for k, z := range cam.Zones {
			check(fmt.Sprintf("cameras[%d].zones[%d].classes", index+i, k), z.Classes)
		}
		for k, l := range cam.Lines {
			check(fmt.Sprintf("cameras[%d].lines[%d].classes", index+i, k), l.Classes)
		}
	}
	return v.err()
}

// labelList shows at most 12 labels.
func labelList(labels []string) string {
	const show = 12
	qs := make([]string, 0, show+1)
	for i, l := range labels {
		if i == show {
			qs = append(qs, fmt.Sprintf("... %d more", len(labels)-show))
			break
		}
		qs = append(qs, strconv.Quote(l))
	}
	return strings.Join(qs, ", ")
}

func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

// normalizeGeometry turns empty lists into absent ones, as the file saves them (omitempty), so
// that a camera saved and loaded again is the same.
func normalizeGeometry(cam *Camera) {
	if len(cam.Zones) == 0 {
		cam.Zones = nil
	}
	if len(cam.Lines) == 0 {
		cam.Lines = nil
	}
	for i := range cam.Zones {
		if len(cam.Zones[i].Classes) == 0 {
			cam.Zones[i].Classes = nil
		}
	}
	for i := range cam.Lines {
		if len(cam.Lines[i].Classes) == 0 {
			cam.Lines[i].Classes = nil
		}
		if len(cam.Lines[i].Directions) == 0 {
			cam.Lines[i].Directions = nil
		}
	}
}
