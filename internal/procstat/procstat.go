// Package procstat reads a process's resource use from /proc (Linux), for benchmarks and soak
// tests that watch memory over time.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

// RSSMB is the resident set size of process pid ("self" for this one) in MB, from VmRSS in
// /proc/PID/status; 0 when it cannot be read.
func RSSMB(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
