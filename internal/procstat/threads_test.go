package procstat

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// comm may hold spaces and parentheses; utime and stime are fields 14 and 15
	line := "1234 (queue3:src) (x)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0"
	th, ok := parseStat(1234, line)
	if !ok || th.Name != "queue3:src) (x)" && th.Name != "queue3:src) (x" {
		t.Fatalf("parsed %+v, %v", th, ok)
	}
	if th.CPU != 3*time.Second {
		t.Errorf("CPU %v, want 3s (300 ticks)", th.CPU)
	}
}

func TestGroupDelta(t *testing.T) {
	before := []Thread{{1, "queue1:src", time.Second}, {2, "queue2:src", time.Second}, {3, "gstvision", 0}}
	after := []Thread{{1, "queue1:src", 2 * time.Second}, {2, "queue2:src", 3 * time.Second}, {3, "gstvision", time.Second}, {4, "dec:src", time.Second}}
	g := GroupDelta(before, after)
	if len(g) != 3 || g[0].Name != "queue:src" || g[0].Threads != 2 || g[0].CPU != 3*time.Second {
		t.Fatalf("groups %+v", g)
	}
}

func TestThreadsSelf(t *testing.T) {
	th := Threads("self")
	if len(th) == 0 {
		t.Fatal("no thread of this process")
	}
	if _, ok := ProcessCPU("self"); !ok {
		t.Error("no CPU time for this process")
	}
}
