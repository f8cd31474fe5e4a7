package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/sandbox"
)

// logHolders returns the pids of d's log holders.
func (d *daemon) logHolders() []int { return sandbox.LogHolders(d.dir) }

// checkNoLogHolder fails the test if a log holder of d is still running
// some seconds after the daemon stopped (it exits by itself then).
func (d *daemon) checkNoLogHolder() {
	var left []int
	for range 100 {
		if left = d.logHolders(); len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Errorf("log holder(s) %v still running after the daemon stopped", left)
}

// procField is the number after key in /proc/pid/status (0 if none).
func procField(pid int, key string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// rollupKB is the kB figure of key in /proc/pid/smaps_rollup.
func rollupKB(pid int, key string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// reportLogHolders reports the memory and threads of d's log holders,
// summed over them all.
func reportLogHolders(b *testing.B, d *daemon, label string) {
	b.Helper()
	pids := d.logHolders()
	var rss, pss, dirty, threads int
	for _, pid := range pids {
		rss += procField(pid, "VmRSS:")
		threads += procField(pid, "Threads:")
		pss += rollupKB(pid, "Pss:")
		dirty += rollupKB(pid, "Private_Dirty:")
	}
	b.ReportMetric(float64(len(pids)), "holders-"+label)
	b.ReportMetric(float64(rss)/1024, "holder-rss-MB-"+label)
	b.ReportMetric(float64(pss)/1024, "holder-pss-MB-"+label)
	b.ReportMetric(float64(dirty)/1024, "holder-private-dirty-MB-"+label)
	b.ReportMetric(float64(threads), "holder-threads-"+label)
	b.Logf("%s: %d log holders, RSS %.1f MB, PSS %.1f MB, Private_Dirty %.1f MB, %d threads",
		label, len(pids), float64(rss)/1024, float64(pss)/1024, float64(dirty)/1024, threads)
}
