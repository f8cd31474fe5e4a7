package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/sandbox"
)

// startIn starts a process in a namespace behind the engine's back; the
// test reaps it.
func startIn(t *testing.T, netns string, args ...string) *sandbox.Process {
	t.Helper()
	p, err := sandbox.Start(sandbox.ProcSpec{Args: args, NetnsPath: netns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Signal(syscall.SIGKILL); _, _ = p.Wait() })
	return p
}

// TestRestoreKillsUnexplainedProcesses: after a restart, a process in a
// sandbox's namespace that no record explains is killed; the recorded
// process, its children, and processes in adopted namespaces live on.
func TestRestoreKillsUnexplainedProcesses(t *testing.T) {
	f := newFixture(t)
	f.network(t, "mynet", "10.0.1.0/24")
	web := f.sandbox(t, "web", "mynet")
	ctx := context.Background()
	if _, err := f.eng.Start(ctx, "web", engine.ProcessSpec{Args: []string{"sh", "-c", "sleep 600 & wait"}, Detached: true}); err != nil {
		t.Fatal(err)
	}
	shared, err := f.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "side", Network: "container:web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Start(ctx, shared.Name, engine.ProcessSpec{Args: []string{"sleep", "600"}, Detached: true}); err != nil {
		t.Fatal(err)
	}
	// An adopted namespace holds processes that are not ours.
	foreign := filepath.Join(t.TempDir(), "foreign")
	if err := sandbox.CreateNetns(foreign); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sandbox.RemoveNetns(foreign) })
	if _, err := f.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "adopted", Network: "mynet", AdoptNetns: foreign}); err != nil {
		t.Fatal(err)
	}
	theirs := startIn(t, foreign, "sleep", "600")
	f.eng.Close()
	f.eng = nil

	// A stray in web's namespace, as a daemon killed between fork and
	// record would leave, and a child of its own.
	stray := startIn(t, web.NetnsPath, "sh", "-c", "sleep 600 & wait")
	f.open(t)
	// Restore returned after the kill took effect.
	if code, err := stray.Wait(); err != nil || code != 128+int(syscall.SIGKILL) {
		t.Errorf("stray process: Wait = %d, %v; want killed", code, err)
	}
	key, err := sandbox.NetnsKeyOf(web.NetnsPath)
	if err != nil {
		t.Fatal(err)
	}
	procs, err := sandbox.ProcessesIn(map[sandbox.NetnsKey]bool{key: true})
	if err != nil {
		t.Fatal(err)
	}
	// Left: web's shell and its sleep, side's sleep.
	sbs := map[string]engine.SandboxInfo{}
	for _, name := range []string{"web", "side"} {
		if sbs[name], err = f.eng.Sandbox(name); err != nil {
			t.Fatal(err)
		}
		if !sbs[name].Running() {
			t.Errorf("%s's process is not running after the restart", name)
		}
	}
	if len(procs) != 3 {
		t.Errorf("processes in web's namespace after restore: %+v, want web's two and side's one", procs)
	}
	for _, p := range procs {
		if p.Session != sbs["web"].Process.Pid && p.Pid != sbs["side"].Process.Pid {
			t.Errorf("unexplained process %d left in web's namespace", p.Pid)
		}
	}
	if !sandbox.Alive(theirs.Pid, theirs.StartTime) {
		t.Error("a process in an adopted namespace was killed")
	}
	// And the held processes are still signalled by the new engine.
	if err := f.eng.Stop(ctx, "web", 0); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Stop(ctx, "side", 0); err != nil {
		t.Fatal(err)
	}
	if procs, _ := sandbox.ProcessesIn(map[sandbox.NetnsKey]bool{key: true}); len(procs) > 0 {
		t.Errorf("processes left after stop: %+v", procs)
	}
}

// TestConcurrentRemovers: forced removal, stop and kill racing on one
// running sandbox succeed or say clearly that it is gone or not running;
// none fails signalling a process that another already reaped.
func TestConcurrentRemovers(t *testing.T) {
	f := newFixture(t)
	f.network(t, "mynet", "10.0.1.0/24")
	ctx := context.Background()
	for round := range 5 {
		f.sandbox(t, "victim", "mynet")
		if _, err := f.eng.Start(ctx, "victim", engine.ProcessSpec{Args: []string{"sleep", "600"}, Detached: true}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				switch i % 4 {
				case 0, 1:
					err = f.eng.RemoveSandbox(ctx, "victim", true)
				case 2:
					err = f.eng.Stop(ctx, "victim", time.Second)
				case 3:
					err = f.eng.Kill("victim", syscall.SIGKILL)
				}
				if err != nil && !errors.Is(err, cnm.ErrNotFound) && !errors.Is(err, cnm.ErrConflict) {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		if _, err := f.eng.Sandbox("victim"); !errors.Is(err, cnm.ErrNotFound) {
			t.Fatalf("round %d: victim still there: %v", round, err)
		}
	}
}
