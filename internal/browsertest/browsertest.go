// Package browsertest drives headless browsers for the viewer page's tests (web, e2e): Chromium
// over the DevTools protocol and Firefox over WebDriver BiDi, each a few lines over the
// WebSocket library the server already uses rather than a client library or a driver binary.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/gstvision/gstvision/internal/test"
)

// Page is the browser tab that shows the page under test.
type Page interface {
	// Evaluate runs a JavaScript expression in the page, awaits it when it is a promise, and
	// decodes its value (which must survive JSON.stringify) into out; out nil discards it.
	Evaluate(ctx context.Context, expr string, out any) error
	// Screenshot saves the visible part of the page as a PNG.
	Screenshot(ctx context.Context, path string) error
}

// Poll polls cond until it holds, failing the test after timeout.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	test.WaitUntil(t, timeout, what, cond)
}

// startBrowser starts cmd in its own process group with its output in logPath, and registers a
// cleanup that stops the group (SIGTERM, SIGKILL after 10 s), prints the log when the test
// failed, and removes dir (the profile, which holds the log).
func startBrowser(t testing.TB, cmd *exec.Cmd, dir, logPath, name string) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM) // both browsers shut down cleanly on SIGTERM
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log:\n%s", name, b)
			}
		}
		// Not t.TempDir: its removal races with helper processes still writing there for a moment.
		for i := 0; i < 50 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
}
