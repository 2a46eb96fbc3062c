package test

import (
	"testing"
	"time"
)

// WaitUntil polls cond every 20 ms until it holds, failing the test (naming what it waited
// for) after timeout: the tests' one way to wait for a condition.
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
