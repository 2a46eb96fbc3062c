package bench

import (
	"context"
	"log/slog"
	"sync"
)

// encoderLog is a slog.Handler that counts the viewer's "viewer encoding started/stopped"
// records per camera (one x264 pipeline each) and passes every record on to next.
type encoderLog struct {
	next  slog.Handler
	attrs []slog.Attr
	st    *encoderCounts
}

type encoderCounts struct {
	mu      sync.Mutex
	started map[string]int
	stopped map[string]int
	max     int // most encoders running at once since resetMax
}

func newEncoderLog(next slog.Handler) *encoderLog {
	return &encoderLog{next: next, st: &encoderCounts{started: map[string]int{}, stopped: map[string]int{}}}
}

func (l *encoderLog) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelInfo || l.next.Enabled(ctx, lv)
}

func (l *encoderLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "viewer encoding started" || r.Message == "viewer encoding stopped" {
		cam := ""
		for _, a := range l.attrs {
			if a.Key == "camera" {
				cam = a.Value.String()
			}
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "camera" {
				cam = a.Value.String()
			}
			return true
		})
		c := l.st
		c.mu.Lock()
		if r.Message == "viewer encoding started" {
			c.started[cam]++
		} else {
			c.stopped[cam]++
		}
		c.max = max(c.max, c.runningLocked())
		c.mu.Unlock()
	}
	if l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}

func (l *encoderLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &encoderLog{next: l.next.WithAttrs(attrs), attrs: append(append([]slog.Attr(nil), l.attrs...), attrs...), st: l.st}
}

func (l *encoderLog) WithGroup(name string) slog.Handler {
	return &encoderLog{next: l.next.WithGroup(name), attrs: l.attrs, st: l.st}
}

func (c *encoderCounts) runningLocked() int {
	n := 0
	for cam, s := range c.started {
		n += s - c.stopped[cam]
	}
	return n
}

func (l *encoderLog) runningAll() int {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	return l.st.runningLocked()
}

func (l *encoderLog) starts(cam string) int {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	return l.st.started[cam]
}

func (l *encoderLog) maxRunning() int {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	return l.st.max
}

func (l *encoderLog) resetMax() {
	l.st.mu.Lock()
	l.st.max = l.st.runningLocked()
	l.st.mu.Unlock()
}
