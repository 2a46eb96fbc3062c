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
func RSSMB(pid string) float64 { return StatusMB(pid, "VmRSS") }

// RSSFileMB is the part of RSSMB that maps files: mostly the code of the libraries, which
// grows as new code paths run and is given back under memory pressure; RSS growth there is
// not a leak.
func RSSFileMB(pid string) float64 { return StatusMB(pid, "RssFile") }

// StatusMB reads a field in kB of /proc/PID/status (e.g. "VmRSS") in MB; 0 when it cannot.
func StatusMB(pid, field string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
