package engine_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine"
)

// syncBuffer is a bytes.Buffer safe for the console's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until text shows in b (a hang guard, not a timing test).
func waitFor(t *testing.T, b *syncBuffer, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(b.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("%q never showed; got %q", text, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTerminalProcess: a process started with TTY runs on a terminal of
// the requested size as session leader; input reaches it, its output
// reaches the attached writer and the log, its exit code is recorded.
func TestTerminalProcess(t *testing.T) {
	f := newFixture(t)
	f.network(t, "mynet", "10.0.1.0/24")
	f.sandbox(t, "web", "mynet")
	ctx := context.Background()
	out := &syncBuffer{}
	script := `test -t 0 && echo is-a-tty; echo "term:$TERM"; stty size; read line; echo "read:$line"; exit 4`
	_, con, err := f.eng.StartConsole(ctx, "web", engine.ProcessSpec{
		Args: []string{"sh", "-c", script}, Detached: true, TTY: true, ConsoleSize: [2]uint16{33, 120}, Output: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if con == nil {
		t.Fatal("no console for a TTY process")
	}
	waitFor(t, out, "33 120")
	if _, err := con.Write([]byte("hello\r")); err != nil {
		t.Fatal(err)
	}
	code, err := f.eng.Wait(ctx, "web")
	if err != nil || code != 4 {
		t.Fatalf("wait = %d, %v", code, err)
	}
	<-con.Done()
	if got := out.String(); !strings.Contains(got, "is-a-tty") || !strings.Contains(got, "read:hello") || !strings.Contains(got, "term:xterm") {
		t.Errorf("terminal output %q", got)
	}
	info, err := f.eng.Sandbox("web")
	if err != nil || !info.Process.TTY {
		t.Fatalf("record %+v, %v", info.Process, err)
	}
	// StartAgain runs the recorded command on a new terminal.
	if started, err := f.eng.StartAgain(ctx, "web"); err != nil || !started {
		t.Fatalf("StartAgain = %v, %v", started, err)
	}
	con2, err := f.eng.Console("web")
	if err != nil || con2 == nil || con2 == con {
		t.Fatalf("console after StartAgain: %v, %v", con2, err)
	}
	if _, err := con2.Write([]byte("x\r")); err != nil {
		t.Fatal(err)
	}
	if code, err := f.eng.Wait(ctx, "web"); err != nil || code != 4 {
		t.Fatalf("second run: %d, %v", code, err)
	}
}

// TestExecInstances: Docker's exec instances run once, report their
// exit code, and resize only with a terminal.
func TestExecInstances(t *testing.T) {
	f := newFixture(t)
	f.network(t, "mynet", "10.0.1.0/24")
	f.sandbox(t, "web", "mynet")
	ctx := context.Background()
	if _, err := f.eng.ExecCreate("web", engine.ExecConfig{Args: []string{"true"}}); err == nil {
		t.Error("exec in a sandbox that runs nothing was accepted")
	}
	if _, err := f.eng.Start(ctx, "web", engine.ProcessSpec{Args: []string{"sleep", "600"}, Detached: true}); err != nil {
		t.Fatal(err)
	}
	id, err := f.eng.ExecCreate("web", engine.ExecConfig{Args: []string{"sh", "-c", "tty; exit 3"}, TTY: true, ConsoleSize: [2]uint16{10, 40}})
	if err != nil {
		t.Fatal(err)
	}
	if x, err := f.eng.ExecInspect(id); err != nil || x.Running || x.ExitCode != nil {
		t.Fatalf("created exec: %+v, %v", x, err)
	}
	out := &syncBuffer{}
	con, done, err := f.eng.ExecStart(ctx, id, engine.ExecIO{Output: out})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	<-con.Done()
	x, err := f.eng.ExecInspect(id)
	if err != nil || x.Running || x.ExitCode == nil || *x.ExitCode != 3 {
		t.Fatalf("finished exec: %+v, %v", x, err)
	}
	if !strings.Contains(out.String(), "/dev/pts/") {
		t.Errorf("exec output %q", out.String())
	}
	if _, _, err := f.eng.ExecStart(ctx, id, engine.ExecIO{}); err == nil {
		t.Error("an exec instance started twice")
	}
	plain, err := f.eng.ExecCreate("web", engine.ExecConfig{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.eng.ExecResize(plain, 10, 10); err == nil {
		t.Error("resized an exec without a terminal")
	}
	if _, err := f.eng.ExecInspect("nope"); err == nil {
		t.Error("inspected a missing exec instance")
	}
}
