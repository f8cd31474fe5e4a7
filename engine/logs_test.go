package engine_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/internal/logfile"
)

// TestDetachedLog: a detached process's stdout and stderr are in its
// log as records of their streams, all of them once Wait returns.
func TestDetachedLog(t *testing.T) {
	f := newFixture(t)
	f.network(t, "mynet", "10.0.1.0/24")
	f.sandbox(t, "talker", "mynet")
	ctx := context.Background()
	if _, err := f.eng.Start(ctx, "talker", engine.ProcessSpec{Args: []string{"sh", "-c", "echo a; echo b >&2; printf c; exit 3"}, Detached: true}); err != nil {
		t.Fatal(err)
	}
	if code, err := f.eng.Wait(ctx, "talker"); code != 3 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	path, err := f.eng.LogPath("talker")
	if err != nil {
		t.Fatal(err)
	}
	r, err := logfile.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[logfile.Stream]string{}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Time.IsZero() {
			t.Errorf("record without time: %q", rec.Payload)
		}
		got[rec.Stream] += string(rec.Payload)
	}
	if got[logfile.Stdout] != "a\nc" || got[logfile.Stderr] != "b\n" {
		t.Errorf("log: stdout %q, stderr %q", got[logfile.Stdout], got[logfile.Stderr])
	}
}

// TestDetachedLogAcrossRestart: a detached process reading input keeps
// writing its log through the log holder while the engine is away; the
// next engine gets its stdin back from the holder, and once Wait
// returns all its output is in the log.
func TestDetachedLogAcrossRestart(t *testing.T) {
	f := newFixture(t)
	f.network(t, "mynet", "10.0.1.0/24")
	f.sandbox(t, "reader", "mynet")
	ctx := context.Background()
	if _, err := f.eng.Start(ctx, "reader", engine.ProcessSpec{Args: []string{"sh", "-c", "echo before; read x; echo got $x; echo bye >&2"},
		Detached: true, OpenStdin: true}); err != nil {
		t.Fatal(err)
	}
	f.eng.Close()
	f.open(t)
	in, err := f.eng.Stdin("reader")
	if err != nil || in == nil {
		t.Fatalf("Stdin after the restart = %v, %v", in, err)
	}
	if _, err := in.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if code, err := f.eng.Wait(ctx, "reader"); code != -1 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	path, err := f.eng.LogPath("reader")
	if err != nil {
		t.Fatal(err)
	}
	r, err := logfile.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[logfile.Stream]string{}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[rec.Stream] += string(rec.Payload)
	}
	if got[logfile.Stdout] != "before\ngot hi\n" || got[logfile.Stderr] != "bye\n" {
		t.Errorf("log: stdout %q, stderr %q", got[logfile.Stdout], got[logfile.Stderr])
	}
}
