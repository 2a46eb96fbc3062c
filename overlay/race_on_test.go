//go:build race

package overlay

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = true
