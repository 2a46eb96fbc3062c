package procstat

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on every Linux platform Go runs
// on; reading sysconf would take cgo).
const clockTick = 10 * time.Millisecond

// Thread is one thread of a process: its name (comm, at most 15 bytes: GStreamer names its
// streaming threads after the element and pad, e.g. "queue3:src") and its CPU time so far.
type Thread struct {
	TID  int
	Name string
	CPU  time.Duration
}

// Threads lists the threads of process pid ("self" for this one) from /proc/PID/task; nil
// when it cannot be read.
func Threads(pid string) []Thread {
	dir := "/proc/" + pid + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make([]Thread, 0, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if t, ok := parseStat(tid, string(b)); ok {
			out = append(out, t)
		}
	}
	return out
}

// ProcessCPU is the CPU time (user + system) of process pid so far, from /proc/PID/stat.
func ProcessCPU(pid string) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	t, ok := parseStat(0, string(b))
	return t.CPU, ok
}

// parseStat reads comm (field 2, in parentheses: it may hold spaces) and utime + stime
// (fields 14 and 15) of a stat line.
func parseStat(tid int, s string) (Thread, bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Thread{}, false
	}
	f := strings.Fields(s[end+1:]) // from field 3 (state)
	if len(f) < 13 {
		return Thread{}, false
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return Thread{}, false
	}
	return Thread{TID: tid, Name: s[open+1 : end], CPU: time.Duration(ut+st) * clockTick}, true
}

// ThreadGroup is the CPU that the threads of one kind used in a window.
type ThreadGroup struct {
	Name    string        `json:"name"`    // the threads' name with digits removed
	Threads int           `json:"threads"` // how many threads of that name ran in the window
	CPU     time.Duration `json:"cpu_ns"`
}

// GroupName is a thread name with its digits removed, so that the same thread of every
// camera ("queue12:src", "queue13:src") counts as one kind.
func GroupName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, name)
}

// GroupDelta is the CPU each kind of thread used between the samples before and after,
// largest first. A thread that started in between counts from zero; one that ended is lost
// (best effort: short-lived threads go uncounted).
func GroupDelta(before, after []Thread) []ThreadGroup {
	prev := make(map[int]Thread, len(before))
	for _, t := range before {
		prev[t.TID] = t
	}
	groups := map[string]*ThreadGroup{}
	for _, t := range after {
		d := t.CPU
		if p, ok := prev[t.TID]; ok && p.Name == t.Name {
			d -= p.CPU
		}
		g := groups[GroupName(t.Name)]
		if g == nil {
			g = &ThreadGroup{Name: GroupName(t.Name)}
			groups[g.Name] = g
		}
		g.Threads++
		g.CPU += max(d, 0)
	}
	out := make([]ThreadGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CPU != out[j].CPU {
			return out[i].CPU > out[j].CPU
		}
		return out[i].Name < out[j].Name
	})
	return out
}
