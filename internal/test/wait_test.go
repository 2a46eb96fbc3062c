package test

import (
	"testing"
	"time"
)

func TestWaitUntil(t *testing.T) {
	start := time.Now()
	WaitUntil(t, time.Second, "a flag set 50 ms in", func() bool { return time.Since(start) > 50*time.Millisecond })
	if el := time.Since(start); el < 50*time.Millisecond || el > 500*time.Millisecond {
		t.Errorf("returned after %v", el)
	}
}
