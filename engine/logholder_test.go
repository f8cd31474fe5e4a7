package engine_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// logHolders returns the pids of the log holders serving execRoot.
func logHolders(execRoot string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
		if len(args) == 3 && string(args[1]) == "__patchbay_loghold" && bytes.HasPrefix(args[2], []byte(execRoot+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// checkNoLogHolder fails t if a log holder of execRoot still runs a
// while after its engine closed with nothing running (it exits by
// itself then).
func checkNoLogHolder(t *testing.T, execRoot string) {
	t.Helper()
	var left []int
	for range 100 {
		if left = logHolders(execRoot); len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("log holder(s) %v still running after the engine closed", left)
}
