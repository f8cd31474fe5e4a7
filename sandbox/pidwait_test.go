package sandbox

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// threads is how many OS threads this process has.
func threads(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestWaitHoldsNoThread checks that processes being waited for do not
// each hold an OS thread, and that Wait still reports how they ended.
func TestWaitHoldsNoThread(t *testing.T) {
	requireRoot(t)
	const n = 40
	var procs []*Process
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Signal(syscall.SIGKILL)
		}
	})
	for range n {
		p, err := Start(ProcSpec{Args: []string{"sleep", "60"}})
		if err != nil {
			t.Fatal(err)
		}
		if p.pidfd == nil {
			t.Skip("no pidfd support")
		}
		procs = append(procs, p)
	}
	before := threads(t)
	var wg sync.WaitGroup
	codes := make([]int, n)
	waiting := make(chan struct{}, n)
	for i, p := range procs {
		wg.Go(func() {
			waiting <- struct{}{}
			code, err := p.Wait()
			if err != nil {
				t.Errorf("wait %d: %v", p.Pid, err)
			}
			codes[i] = code
		})
	}
	for range n {
		<-waiting
	}
	// Every waiter has started; let them reach their wait. A wait in a
	// system call would have cost each its own thread by then.
	time.Sleep(200 * time.Millisecond)
	if during := threads(t); during >= before+n/2 {
		t.Fatalf("threads: %d before waiting for %d processes, %d while waiting", before, n, during)
	}
	for _, p := range procs {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, c := range codes {
		if c != 128+int(syscall.SIGTERM) {
			t.Errorf("process %d: exit code %d, want %d", procs[i].Pid, c, 128+int(syscall.SIGTERM))
		}
	}
}
