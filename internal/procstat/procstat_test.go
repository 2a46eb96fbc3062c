package procstat

import "testing"

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
}

func TestMallocInUseMB(t *testing.T) {
	if m := MallocInUseMB(); m <= 0 {
		t.Errorf("malloc in use: %v MB", m)
	}
}
