package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

// startHeld starts a held process that would create marker when it runs.
func startHeld(t *testing.T, ns string) (*Process, string) {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "ran")
	p, err := Start(ProcSpec{Args: []string{"touch", marker}, NetnsPath: ns, Hold: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Wait() })
	// Held: still the init child, set up in the sandbox but not exec'd.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.Pid))
	if err != nil || !strings.Contains(string(cmdline), InitArg) {
		t.Fatalf("held process runs %q (%v), want the init child", cmdline, err)
	}
	if nsLink(t, fmt.Sprintf("/proc/%d/ns/net", p.Pid)) != nsLink(t, ns) {
		t.Errorf("held process is not in the sandbox namespace yet")
	}
	return p, marker
}

func TestHoldRelease(t *testing.T) {
	requireRoot(t)
	p, marker := startHeld(t, newNetns(t))
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("held process ran its command")
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("released process did not run its command: %v", err)
	}
}

func TestHoldAbort(t *testing.T) {
	requireRoot(t)
	// Abort is what the child sees when the daemon dies: EOF on the gate.
	p, marker := startHeld(t, newNetns(t))
	p.Abort()
	if code, err := p.Wait(); err != nil || code != codeSetup {
		t.Errorf("Wait = %d, %v; want %d", code, err, codeSetup)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("aborted process ran its command")
	}
	// A failure after the gate (exec itself) is reported by Release.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	q, err := Start(ProcSpec{Args: []string{bad}, Hold: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Release(); !errors.Is(err, cnm.ErrForbidden) {
		t.Errorf("Release of a bad executable = %v, want forbidden", err)
	}
	if code, err := q.Wait(); err != nil || code != codeNotExec {
		t.Errorf("Wait = %d, %v; want %d", code, err, codeNotExec)
	}
}

func TestAdopt(t *testing.T) {
	requireRoot(t)
	p, _, _ := startSleeper(t)
	if _, err := Adopt(p.Pid, p.StartTime+1); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Adopt with another start time = %v, want os.ErrProcessDone", err)
	}
	a, err := Adopt(p.Pid, p.StartTime)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitExit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 128+int(syscall.SIGKILL) {
		t.Errorf("Wait = %d, %v", code, err)
	}
	// Reaped, yet the adopter's pidfd still names it, and only it.
	if err := a.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal of a reaped process = %v, want os.ErrProcessDone", err)
	}
	if _, err := Exec(ExecSpec{Target: a, Args: []string{"true"}}); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Exec in a reaped process = %v, want os.ErrProcessDone", err)
	}
	a.Close()
	if err := a.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after Close = %v, want os.ErrProcessDone", err)
	}
	if _, err := Adopt(p.Pid, p.StartTime); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Adopt of a reaped process = %v, want os.ErrProcessDone", err)
	}
}

func TestKillInNetns(t *testing.T) {
	requireRoot(t)
	p, ns, _ := startSleeper(t)
	key, err := NetnsKeyOf(ns)
	if err != nil {
		t.Fatal(err)
	}
	procs, err := ProcessesIn(map[NetnsKey]bool{key: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 1 || procs[0].Pid != p.Pid || procs[0].StartTime != p.StartTime || procs[0].Session != p.Pid {
		t.Fatalf("ProcessesIn = %+v, want only the sleeper %d", procs, p.Pid)
	}
	// Another namespace, or another start time, is not that process.
	other := procs[0]
	other.Netns.Ino++
	if err := KillInNetns(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	other = procs[0]
	other.StartTime++
	if err := KillInNetns(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if !Alive(p.Pid, p.StartTime) {
		t.Fatal("KillInNetns killed a process that did not match")
	}
	if err := KillInNetns(context.Background(), procs[0]); err != nil {
		t.Fatal(err)
	}
	// KillInNetns returned after the exit: only a zombie is left.
	if Alive(p.Pid, p.StartTime) {
		t.Error("process still alive after KillInNetns")
	}
	if code, err := p.Wait(); err != nil || code != 128+int(syscall.SIGKILL) {
		t.Errorf("Wait = %d, %v", code, err)
	}
	if procs, _ := ProcessesIn(map[NetnsKey]bool{key: true}); len(procs) > 0 {
		t.Errorf("processes left in the namespace: %+v", procs)
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in   string
		want ProcStat
		ok   bool
	}{
		{"42 (sleep) S 7 42 42 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 9876 2240512 256", ProcStat{Pid: 42, State: 'S', PPid: 7, Session: 42, StartTime: 9876}, true},
		{"43 (a) b (c) Z 1 43 40 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", ProcStat{Pid: 43, State: 'Z', PPid: 1, Session: 40, StartTime: 5}, true},
		{"44 no name", ProcStat{}, false},
		{"45 (x) S 1 2", ProcStat{}, false},
		{"46 (x) S one 46 46 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", ProcStat{}, false},
	}
	for _, tt := range tests {
		var pid int
		fmt.Sscan(tt.in, &pid)
		got, err := parseProcStat(pid, tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseProcStat(%q) = %+v, %v; want %+v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
