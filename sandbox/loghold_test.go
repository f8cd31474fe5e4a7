package sandbox

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/logfile"
)

// heldPipes are a process's stdio as a test plays it: the write ends of
// stdout and stderr, the read end of stdin.
type heldPipes struct {
	stdout, stderr, stdin *os.File
}

// holdTestLog hands h a new log at path with pipes as a process's, and
// returns the process's ends and the drained channel.
func holdTestLog(t *testing.T, h *LogHolder, key LogKey, path string, withStdin bool) (heldPipes, <-chan struct{}) {
	t.Helper()
	w, err := logfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var inR, inW *os.File
	if withStdin {
		if inR, inW, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		defer inW.Close()
	}
	drained, err := h.Hold(key, outR, errR, w.File(), inW)
	outR.Close()
	errR.Close()
	if err != nil {
		t.Fatal(err)
	}
	return heldPipes{stdout: outW, stderr: errW, stdin: inR}, drained
}

// readTestLog returns the log's stdout and stderr, failing on a record
// without a time.
func readTestLog(t *testing.T, path string) (string, string) {
	t.Helper()
	r, err := logfile.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out, errs string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, errs
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Time.IsZero() {
			t.Errorf("record without time: %q", rec.Payload)
		}
		switch rec.Stream {
		case logfile.Stdout:
			out += string(rec.Payload)
		case logfile.Stderr:
			errs += string(rec.Payload)
		}
	}
}

// awaitHolderExit fails unless the holder pid exits after Close.
func awaitHolderExit(t *testing.T, pid int) {
	t.Helper()
	start, err := ProcStartTime(pid)
	if err != nil {
		return // gone already
	}
	p, err := Adopt(pid, start)
	if err != nil {
		return
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitExit(ctx); err != nil {
		t.Errorf("log holder %d did not exit: %v", pid, err)
	}
}

func TestLogHolder(t *testing.T) {
	dir := t.TempDir()
	h := NewLogHolder(filepath.Join(dir, "loghold.sock"))
	if err := h.Ensure(); err != nil {
		t.Fatal(err)
	}
	pid := h.Pid()
	if pid <= 0 {
		t.Fatalf("holder pid %d", pid)
	}
	path := filepath.Join(dir, "a.log")
	key := LogKey{ID: "a", Pid: 1, Start: 1}
	p, drained := holdTestLog(t, h, key, path, false)
	if _, err := p.stdout.Write([]byte("out one\nout ")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.stderr.Write([]byte("err\n")); err != nil {
		t.Fatal(err)
	}
	_, _ = p.stdout.Write([]byte("two\n"))
	p.stdout.Close()
	p.stderr.Close()
	// It says so once both pipes have ended, everything written.
	<-drained
	if out, errs := readTestLog(t, path); out != "out one\nout two\n" || errs != "err\n" {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// Told to, it exits once it holds nothing.
	awaitHolderExit(t, pid)
}

// TestLogHolderReconnect: a daemon that connects to a running holder
// learns which outputs it still writes, is told when they end and gets
// a process's stdin back; one that finds none starts another.
func TestLogHolderReconnect(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "loghold.sock")
	first := NewLogHolder(sock)
	path := filepath.Join(dir, "b.log")
	key := LogKey{ID: "b", Pid: 2, Start: 2}
	done := LogKey{ID: "c", Pid: 3, Start: 3}
	p, _ := holdTestLog(t, first, key, path, true)
	q, qDrained := holdTestLog(t, first, done, filepath.Join(dir, "c.log"), false)
	q.stdout.Close()
	q.stderr.Close()
	<-qDrained
	pid := first.Pid()
	// The daemon goes away without a word (as when killed).
	first.mu.Lock()
	first.conn.Close()
	first.mu.Unlock()
	first.readers.Wait()

	second := NewLogHolder(sock)
	if err := second.Connect(); err != nil {
		t.Fatal(err)
	}
	if second.Pid() != pid {
		t.Errorf("reconnected to holder %d, want %d", second.Pid(), pid)
	}
	if second.Draining(done) != nil {
		t.Errorf("an ended output is listed as held")
	}
	drained := second.Draining(key)
	if drained == nil {
		t.Fatal("a held output is not listed")
	}
	in, err := second.TakeStdin(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	in.Close()
	b := make([]byte, 1)
	if _, err := io.ReadFull(p.stdin, b); err != nil || b[0] != 'x' {
		t.Errorf("stdin read %q, %v", b, err)
	}
	_, _ = p.stdout.Write([]byte("after\n"))
	p.stdout.Close()
	p.stderr.Close()
	<-drained
	// The holder kept the stdin write end until then: now the process
	// reads the end of its input.
	if _, err := p.stdin.Read(b); !errors.Is(err, io.EOF) {
		t.Errorf("stdin after the output ended: %v", err)
	}
	p.stdin.Close()
	if out, _ := readTestLog(t, path); out != "after\n" {
		t.Errorf("stdout %q", out)
	}
	if _, err := second.TakeStdin(context.Background(), key); err == nil {
		t.Error("took the stdin of an ended output")
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	awaitHolderExit(t, pid)

	// None running: Ensure starts another.
	third := NewLogHolder(sock)
	if err := third.Connect(); err == nil {
		t.Error("connected to a holder that exited")
	}
	if err := third.Ensure(); err != nil {
		t.Fatal(err)
	}
	if third.Pid() == pid || third.Pid() <= 0 {
		t.Errorf("new holder pid %d (old %d)", third.Pid(), pid)
	}
	newPid := third.Pid()
	third.Close()
	awaitHolderExit(t, newPid)
}
