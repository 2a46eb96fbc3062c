// Package groundtruth scores detections against the simulated cameras' ground truth; the end
// to end tests on CPU (e2e) and on the GPU machine (gpu) share it.
package groundtruth

import (
	"time"

	"github.com/gstvision/gstvision/defs"
	"github.com/gstvision/gstvision/inference"
	"github.com/gstvision/gstvision/internal/results"
	"github.com/gstvision/gstvision/internal/simulate"
)

// FrameMatches tells whether dets match the ground truth: every object found with its class at
// IoU >= 0.5, and nothing else reported.
func FrameMatches(dets []defs.Detection, truth []simulate.Object) bool {
	used := make([]bool, len(dets))
	for _, o := range truth {
		gt := [4]float32{float32(o.Box[0]), float32(o.Box[1]), float32(o.Box[2]), float32(o.Box[3])}
		found := false
		for i, d := range dets {
			if !used[i] && d.ClassID == o.ClassID && inference.IoU(d.Box, gt) >= 0.5 {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, u := range used {
		if !u {
			return false
		}
	}
	return true
}

// Position places a result in the simulated stream (before the constant offset Score finds).
type Position func(r results.Result) int

// ByPTS positions results by their timestamps relative to the first one: frames dropped on the
// way (leaky queues under load) do not shift the ones after them.
func ByPTS(rs []results.Result, fps int) Position {
	dur := time.Second / time.Duration(fps)
	pts0 := rs[0].PTS
	return func(r results.Result) int { return int((r.PTS - pts0 + dur/2) / dur) }
}

// ByIndex positions results by the decoded-frame index stamped at the decoder's output (for
// streams whose timestamps jump).
func ByIndex(r results.Result) int { return int(r.Frame) }

// Score returns the fraction of results matching the ground truth under the best constant frame
// offset in [-maxOff, maxOff] (the only alignment allowed between the simulator's frame numbers
// and the stream as received), and that offset.
func Score(rs []results.Result, scene *simulate.Scene, maxOff int, pos Position) (float64, int) {
	best, bestOff := -1.0, 0
	for off := -maxOff; off <= maxOff; off++ {
		ok := 0
		for _, r := range rs {
			n := pos(r) + off
			if n >= 0 && FrameMatches(r.Detections, scene.Objects(n)) {
				ok++
			}
		}
		if f := float64(ok) / float64(len(rs)); f > best {
			best, bestOff = f, off
		}
	}
	return best, bestOff
}
