package engine_test

import (
	"testing"
	"time"

	"github.com/patchbay/patchbay/sandbox"
)

// checkNoLogHolder fails t if a log holder of execRoot still runs a
// while after its engine closed with nothing running (it exits by
// itself then).
func checkNoLogHolder(t *testing.T, execRoot string) {
	t.Helper()
	var left []int
	for range 100 {
		if left = sandbox.LogHolders(execRoot); len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("log holder(s) %v still running after the engine closed", left)
}
