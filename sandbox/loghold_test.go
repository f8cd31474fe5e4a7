package sandbox

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/internal/logfile"
)

func TestHoldLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	w, err := logfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h, stdout, stderr, err := HoldLog(w.File(), nil)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stdout.Write([]byte("out one\nout ")); err != nil {
		t.Fatal(err)
	}
	if _, err := stderr.Write([]byte("err\n")); err != nil {
		t.Fatal(err)
	}
	_, _ = stdout.Write([]byte("two\n"))
	stdout.Close()
	stderr.Close()
	// It exits once both pipes have ended, everything written.
	if code, err := h.Wait(); code != 0 || err != nil {
		t.Fatalf("holder exit: %d, %v", code, err)
	}
	r, err := logfile.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out, errs string
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
		switch rec.Stream {
		case logfile.Stdout:
			out += string(rec.Payload)
		case logfile.Stderr:
			errs += string(rec.Payload)
		}
	}
	if out != "out one\nout two\n" || errs != "err\n" {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}
}
