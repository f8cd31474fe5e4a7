package engine

import (
	"os"
	"syscall"
)

// crashEnv is a test-only hook. When the daemon's environment sets
// PATCHBAY_TEST_CRASH to the name of a crash point, the process kills
// itself with SIGKILL on reaching that point, so tests can cut an
// operation at a chosen step instead of by luck of timing. Unset, it
// costs one getenv per point passed. Never set it outside tests.
const crashEnv = "PATCHBAY_TEST_CRASH"

// Crash points.
const (
	// crashAfterFork: a process is started (held before exec), its PID
	// not yet recorded.
	crashAfterFork = "after-fork"
	// crashAfterCommit: the PID is recorded, the process not yet told to
	// exec.
	crashAfterCommit = "after-commit"
)

// crashPoint kills the process if crashEnv names point.
func crashPoint(point string) {
	if os.Getenv(crashEnv) != point {
		return
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // never go on past the point, whatever the scheduler does
}
