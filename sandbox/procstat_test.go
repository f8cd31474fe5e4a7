package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSignalGroup(t *testing.T) {
	requireRoot(t)
	// The shell's child sleep is in the same group and dies with it.
	p, err := Start(ProcSpec{Args: []string{"sh", "-c", "sleep 30 & wait"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 128+int(syscall.SIGTERM) {
		t.Errorf("Wait = %d, %v; want 143", code, err)
	}
	if pids := groupMembers(t, p.Pid); len(pids) > 0 {
		t.Errorf("process group %d still has members %v", p.Pid, pids)
		_ = unix.Kill(-p.Pid, syscall.SIGKILL)
	}
	// Reaped: the pidfd is closed and the process reported done, never
	// another process that took the number.
	if err := p.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after Wait = %v, want os.ErrProcessDone", err)
	}
}

func TestAliveStartTime(t *testing.T) {
	requireRoot(t)
	p, _, _ := startSleeper(t)
	st, err := ProcStartTime(p.Pid)
	if err != nil || st != p.StartTime || st == 0 {
		t.Fatalf("ProcStartTime = %d, %v; want %d", st, err, p.StartTime)
	}
	if !Alive(p.Pid, p.StartTime) {
		t.Errorf("Alive = false for a running process")
	}
	if Alive(p.Pid, p.StartTime+1) {
		t.Errorf("Alive = true for another start time")
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitExit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if Alive(p.Pid, p.StartTime) {
		t.Errorf("Alive = true for a zombie")
	}
	if code, err := p.Wait(); err != nil || code != 128+int(syscall.SIGKILL) {
		t.Errorf("Wait = %d, %v", code, err)
	}
	if _, err := ProcStartTime(p.Pid); err == nil {
		t.Errorf("ProcStartTime of a reaped process succeeded")
	}
}

func TestWaitExit(t *testing.T) {
	requireRoot(t)
	p, _, _ := startSleeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.WaitExit(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitExit on a running process = %v, want deadline", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := pollAlive(ctx, p.Pid, p.StartTime); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pollAlive on a running process = %v, want deadline", err)
	}

	q, err := Start(ProcSpec{Args: []string{"sleep", "0.3"}})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.WaitExit(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < 200*time.Millisecond {
		t.Errorf("WaitExit returned after %v, before the process exited", d)
	}
	if code, err := q.Wait(); err != nil || code != 0 {
		t.Errorf("Wait = %d, %v", code, err)
	}
	if err := q.WaitExit(ctx); err != nil {
		t.Errorf("WaitExit on a gone process = %v", err)
	}
	if _, err := (&Process{Pid: os.Getpid()}).Wait(); err == nil {
		t.Errorf("Wait on a non-child succeeded")
	}
}

// groupMembers lists the live (non-zombie) processes of group pgid,
// giving dying members a moment to go.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	var pids []int
	for range 50 {
		pids = pids[:0]
		procs, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, f := range procs {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			s := string(b)
			fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(fields) > 2 && fields[2] == fmt.Sprint(pgid) && fields[0] != "Z" {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pids
}
