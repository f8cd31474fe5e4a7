package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Writer appends records to a log file. It is safe for concurrent use.
type Writer struct {
	f *os.File
	// legacy: the file has no header (it is written to by an older
	// patchbay's process as well); records are then appended raw.
	legacy bool

	// mu guards buf.
	mu  sync.Mutex
	buf []byte
}

// Open opens the log at path for appending, creating it with its header
// if it does not exist and converting a file without the header (an
// older patchbay's) to records of stdout with no time. Only one writer
// should have a file open at a time, except for a holder that was given
// its file (NewWriter).
func Open(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		if err := create(path, nil, false); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	legacy, err := isLegacy(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if !legacy {
		return &Writer{f: f}, nil
	}
	f.Close()
	if err := convert(path); err != nil {
		return nil, err
	}
	return Open(path)
}

// NewWriter writes to f, a log file opened O_APPEND by Open (and handed
// to another process): a file without the header gets raw output.
func NewWriter(f *os.File) (*Writer, error) {
	legacy, err := isLegacy(f)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, legacy: legacy}, nil
}

// File returns the writer's file (to hand to a holder).
func (w *Writer) File() *os.File { return w.f }

// Write appends p, written to stream s at t, as records in one write.
func (w *Writer) Write(s Stream, t time.Time, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.legacy {
		if _, err := w.f.Write(p); err != nil {
			return fmt.Errorf("write log: %w", err)
		}
		return nil
	}
	w.buf = appendRecords(w.buf[:0], s, t, p)
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if cap(w.buf) > 1<<20 {
		w.buf = nil
	}
	return nil
}

// WriteBuf is Write building the records in buf instead of the
// writer's own buffer, for a writer of many logs that shares its
// buffers between them; it returns buf, grown as needed, for reuse.
// Calls with different buffers may run concurrently.
func (w *Writer) WriteBuf(buf []byte, s Stream, t time.Time, p []byte) ([]byte, error) {
	if len(p) == 0 {
		return buf, nil
	}
	if w.legacy {
		if _, err := w.f.Write(p); err != nil {
			return buf, fmt.Errorf("write log: %w", err)
		}
		return buf, nil
	}
	buf = appendRecords(buf[:0], s, t, p)
	if _, err := w.f.Write(buf); err != nil {
		return buf, fmt.Errorf("write log: %w", err)
	}
	return buf, nil
}

// Close closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// isLegacy reports whether f lacks the header.
func isLegacy(f *os.File) (bool, error) {
	var h [len(Magic)]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		// Opened write-only: read it through /proc.
		r, oerr := os.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
		if oerr != nil {
			return false, fmt.Errorf("read log header: %w", err)
		}
		defer r.Close()
		n, err = r.ReadAt(h[:], 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("read log header: %w", err)
		}
	}
	return string(h[:n]) != Magic, nil
}

// create makes the file at path holding the header and records, whole
// or not at all: it is written aside and linked into place (renamed over
// path if replace), so a reader never sees a file without its header.
// Without replace it fails with os.ErrExist if path exists.
func create(path string, records []byte, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new*")
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append([]byte(Magic), records...))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	return nil
}

// convert rewrites a file without the header as records of stdout with
// no time.
func convert(path string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("convert log: %w", err)
	}
	var b []byte
	for line := range bytes.Lines(old) {
		b = appendRecords(b, Stdout, time.Time{}, line)
	}
	if err := create(path, b, true); err != nil {
		return fmt.Errorf("convert log: %w", err)
	}
	return nil
}
