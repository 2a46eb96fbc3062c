package procstat

import (
	"runtime"
	"testing"
)

func TestRSSMB(t *testing.T) {
	held := make([]byte, 64<<20)
	for i := range held {
		held[i] = 1 // touched, so resident
	}
	if r := RSSMB("self"); r < 64 {
		t.Errorf("RSS %.1f MB while holding 64 MB", r)
	}
	_ = held[len(held)-1]
	if r := RSSMB("no-such-process"); r != 0 {
		t.Errorf("RSS of a missing process: %v, want 0", r)
	}
	// The anonymous 64 MB are not file pages; the test binary's own code is.
	if f, r := RSSFileMB("self"), RSSMB("self"); f <= 0 || f > r-64 {
		t.Errorf("RSS of files %.1f MB of %.1f MB while holding 64 MB anonymous", f, r)
	}
}

func TestMallocInUseMB(t *testing.T) {
	if m := MallocInUseMB(); m <= 0 {
		t.Errorf("malloc in use: %v MB", m)
	}
}

func TestReadGoMemory(t *testing.T) {
	held := make([]byte, 32<<20)
	for i := range held {
		held[i] = 1
	}
	runtime.GC()
	m := ReadGoMemory()
	if m.LiveHeapMB < 32 || m.HeldMB < m.LiveHeapMB {
		t.Errorf("holding 32 MB: live heap %.1f MB, held %.1f MB", m.LiveHeapMB, m.HeldMB)
	}
	runtime.KeepAlive(held)
}
