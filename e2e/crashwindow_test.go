package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/sandbox"
)

// crashEnv is the daemon's test-only crash hook (engine/crashpoint.go):
// the daemon SIGKILLs itself on reaching the named point.
const crashEnv = "PATCHBAY_TEST_CRASH"

// netnsProcs lists the processes running in the namespace bound at path.
func netnsProcs(t *testing.T, key sandbox.NetnsKey) []sandbox.NetnsProcess {
	t.Helper()
	procs, err := sandbox.ProcessesIn(map[sandbox.NetnsKey]bool{key: true})
	if err != nil {
		t.Fatal(err)
	}
	return procs
}

// sandboxKey returns the namespace path of a sandbox and its identity.
func sandboxKey(t *testing.T, d *daemon, name string) (string, sandbox.NetnsKey) {
	t.Helper()
	sb, err := d.client().SandboxInspect(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	path := sb.NetworkSettings.SandboxKey
	key, err := sandbox.NetnsKeyOf(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, key
}

// removedAndFreed removes a sandbox with rm -f and checks that nothing
// runs in its namespace and that its namespace file goes away (the
// unmount is queued behind the interface removals, so it is awaited).
func removedAndFreed(t *testing.T, d *daemon, name, path string, key sandbox.NetnsKey) {
	t.Helper()
	d.ok("rm", "-f", name)
	if procs := netnsProcs(t, key); len(procs) > 0 {
		t.Errorf("processes left in %s's namespace after rm -f: %+v", name, procs)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		if i == 500 {
			t.Fatalf("namespace file %s of %s was not removed", path, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashWindowRunDetached kills the daemon inside `run -d` at the
// injected points between starting the process and recording it, and
// between recording it and letting it run: after a restart the command
// never ran, nothing runs in the sandbox's namespace, and rm -f removes
// the sandbox and frees the namespace.
func TestCrashWindowRunDetached(t *testing.T) {
	for _, point := range []string{"after-fork", "after-commit"} {
		t.Run(point, func(t *testing.T) {
			t.Setenv(crashEnv, point)
			d := startDaemon(t)
			marker := filepath.Join(t.TempDir(), "ran")
			r := d.pb("run", "-d", "--name", "cw", "--", "sh", "-c", "touch "+marker+"; exec sleep 600")
			if err := d.client().Ping(context.Background()); r.code == 0 || err == nil {
				t.Fatalf("the daemon did not die at %s: run -d gave %s", point, r)
			}
			_ = d.cmd.Wait()
			if ws := d.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
				t.Fatalf("daemon ended with %v, want SIGKILL at %s:\n%s", d.cmd.ProcessState, point, d.log)
			}
			t.Setenv(crashEnv, "")
			d.start()

			path, key := sandboxKey(t, d, "cw")
			// Recorded but never released, the process is gone or going:
			// wait for the exit the record expects.
			if point == "after-commit" {
				d.ok("wait", "cw")
			}
			sb, err := d.client().SandboxInspect(context.Background(), "cw")
			if err != nil {
				t.Fatal(err)
			}
			if sb.State.Running {
				t.Errorf("cw is running after the restart: %+v", sb.State)
			}
			if procs := netnsProcs(t, key); len(procs) > 0 {
				t.Errorf("processes running in cw's namespace after the restart: %+v", procs)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the command ran although the daemon died before letting it")
			}
			removedAndFreed(t, d, "cw", path, key)
			// The daemon goes on: the same name runs a process.
			d.ok("run", "-d", "--name", "cw", "--", "sleep", "600")
			d.ok("rm", "-f", "cw")
		})
	}
}

// TestCrashWindowStrayProcess: a process in a sandbox's namespace that
// no record explains (as a daemon killed between fork and record left
// before processes were held at a gate) is killed at restart; the
// recorded process and its children live on.
func TestCrashWindowStrayProcess(t *testing.T) {
	d := startDaemon(t)
	d.ok("run", "-d", "--name", "web", "--", "sh", "-c", "sleep 600 & wait")
	path, key := sandboxKey(t, d, "web")
	// run -d returns once the shell runs; it starts sleep a moment later.
	var before []sandbox.NetnsProcess
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if before = netnsProcs(t, key); len(before) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(before) != 2 {
		t.Fatalf("web runs %+v, want its shell and sleep", before)
	}
	stray := exec.Command("nsenter", "--net="+path, "--", "sleep", "600")
	stray.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stray.Process.Kill(); _ = stray.Wait() })
	d.kill9()
	d.start()

	// Killed during restore, before the daemon answers: a zombie of ours
	// now, or reaped.
	st, err := sandbox.ReadProcStat(stray.Process.Pid)
	if err == nil && st.State != 'Z' {
		t.Fatalf("stray process %d is %c after the restart, want killed", stray.Process.Pid, st.State)
	}
	if err := stray.Wait(); err == nil || stray.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("stray process ended with %v, want SIGKILL", err)
	}
	if after := netnsProcs(t, key); identities(after) != identities(before) {
		t.Errorf("web's processes changed over the restart: %+v -> %+v", before, after)
	}
	removedAndFreed(t, d, "web", path, key)
}

// identities names processes by pid and start time, in listing order.
func identities(procs []sandbox.NetnsProcess) string {
	s := ""
	for _, p := range procs {
		s += fmt.Sprintf("%d@%d ", p.Pid, p.StartTime)
	}
	return s
}

// isServerError reports a 5xx answer.
func isServerError(err error) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.Status >= 500
}

// TestConcurrentRemoversNo500 races removers on one running sandbox:
// 20 parallel rm -f, then rounds of rm -f, stop and disconnect -f
// together. Each succeeds or answers a clear 404/409; none gets a 500
// for signalling a process another already reaped.
func TestConcurrentRemoversNo500(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "racenet")
	c := d.client()
	ctx := context.Background()
	race := func(round int, ops []func() error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, len(ops))
		for _, op := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- op()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if isServerError(err) {
				t.Errorf("round %d: %v", round, err)
			} else if err != nil && !isClientError(err) {
				t.Errorf("round %d: unexpected %v", round, err)
			}
		}
		if _, err := c.SandboxInspect(ctx, "victim"); err == nil {
			d.ok("rm", "-f", "victim")
		}
	}

	d.ok("run", "-d", "--name", "victim", "--network", "racenet", "--", "sleep", "600")
	var ops []func() error
	for range 20 {
		ops = append(ops, func() error { return c.SandboxRemove(ctx, "victim", true) })
	}
	race(0, ops)

	for round := 1; round <= 10; round++ {
		d.ok("run", "-d", "--name", "victim", "--network", "racenet", "--", "sleep", "600")
		ops = ops[:0]
		for range 3 {
			ops = append(ops,
				func() error { return c.SandboxRemove(ctx, "victim", true) },
				func() error { return c.SandboxStop(ctx, "victim", 1) },
				func() error {
					return c.NetworkDisconnect(ctx, "racenet", types.NetworkDisconnectRequest{Container: "victim", Force: true})
				},
			)
		}
		race(round, ops)
	}
}

// isClientError reports a 4xx answer.
func isClientError(err error) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500
}
