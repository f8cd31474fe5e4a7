package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// readChunk is how much a reader asks the file for at a time.
const readChunk = 64 << 10

// Reader reads a log's records in order. Next returns io.EOF when no
// complete record follows yet; it can be called again once the file has
// grown (follow).
type Reader struct {
	f      *os.File
	legacy bool
	// buf[start:] are the bytes read but not returned; off is the file
	// offset of buf[start].
	buf   []byte
	start int
	off   int64
}

// OpenReader opens the log at path and positions it at its first
// record.
func OpenReader(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	legacy, err := isLegacy(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &Reader{f: f, legacy: legacy}
	if err := r.SeekTo(r.first()); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// Legacy reports whether the file is an older patchbay's, without
// streams or times.
func (r *Reader) Legacy() bool { return r.legacy }

func (r *Reader) first() int64 {
	if r.legacy {
		return 0
	}
	return int64(len(Magic))
}

// Offset is the file offset of the next record.
func (r *Reader) Offset() int64 { return r.off }

// SeekTo positions the reader at off, which must be a record's start (an
// Offset, or the file's size when a writer is not midway through).
func (r *Reader) SeekTo(off int64) error {
	if _, err := r.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seek log: %w", err)
	}
	r.buf, r.start, r.off = r.buf[:0], 0, off
	return nil
}

// Next returns the next record; its payload is valid until the next
// call. io.EOF means no complete record follows yet.
func (r *Reader) Next() (Record, error) {
	for {
		rec, n, err := r.parse()
		if err != nil {
			return Record{}, err
		}
		if n > 0 {
			r.start += n
			r.off += int64(n)
			return rec, nil
		}
		grew, err := r.fill()
		if err != nil {
			return Record{}, err
		}
		if !grew {
			if r.legacy && r.start < len(r.buf) {
				// Raw output has no records: a partial line is returned
				// as it is.
				rec = Record{Stream: Stdout, Payload: r.buf[r.start:]}
				r.off += int64(len(r.buf) - r.start)
				r.start = len(r.buf)
				return rec, nil
			}
			return Record{}, io.EOF
		}
	}
}

// parse decodes the record at buf[start:]; n is 0 when it is not
// complete in buf.
func (r *Reader) parse() (Record, int, error) {
	b := r.buf[r.start:]
	if r.legacy {
		i := bytes.IndexByte(b, '\n')
		switch {
		case i >= 0:
			n := min(i+1, MaxPayload)
			return Record{Stream: Stdout, Payload: b[:n]}, n, nil
		case len(b) >= MaxPayload:
			return Record{Stream: Stdout, Payload: b[:MaxPayload]}, MaxPayload, nil
		}
		return Record{}, 0, nil
	}
	if len(b) < headerSize {
		return Record{}, 0, nil
	}
	s, n, t, err := parseHeader(b[:headerSize])
	if err != nil {
		return Record{}, 0, fmt.Errorf("%w at offset %d", err, r.off)
	}
	if len(b) < headerSize+n {
		return Record{}, 0, nil
	}
	return Record{Stream: s, Time: t, Payload: b[headerSize : headerSize+n]}, headerSize + n, nil
}

// fill reads more of the file into buf and reports whether it got any.
func (r *Reader) fill() (bool, error) {
	if r.start > 0 {
		// Keep only what is not returned yet.
		r.buf = append(r.buf[:0], r.buf[r.start:]...)
		r.start = 0
	}
	if cap(r.buf)-len(r.buf) < readChunk/2 {
		r.buf = append(make([]byte, 0, len(r.buf)+readChunk), r.buf...)
	}
	n, err := r.f.Read(r.buf[len(r.buf):cap(r.buf)])
	r.buf = r.buf[:len(r.buf)+n]
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read log: %w", err)
	}
	return n > 0, nil
}

// SeekEnd positions the reader after the last complete record: what is
// written from now on (and the rest of a record being written) comes
// next.
func (r *Reader) SeekEnd() error {
	if r.legacy {
		st, err := r.f.Stat()
		if err != nil {
			return fmt.Errorf("seek log: %w", err)
		}
		return r.SeekTo(st.Size())
	}
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// Filter selects records.
type Filter struct {
	Stdout, Stderr bool
	// Since and Until, when set, keep records written at or after Since
	// and at or before Until. A record without time counts as written
	// at the epoch.
	Since, Until time.Time
}

// Keep reports whether f selects rec.
func (f Filter) Keep(rec Record) bool {
	switch {
	case rec.Stream == Stdout && !f.Stdout, rec.Stream == Stderr && !f.Stderr:
		return false
	case !f.Since.IsZero() && timeOf(rec).Before(f.Since):
		return false
	case !f.Until.IsZero() && timeOf(rec).After(f.Until):
		return false
	}
	return true
}

// After reports whether rec was written after f's Until, if set.
func (f Filter) After(rec Record) bool {
	return !f.Until.IsZero() && timeOf(rec).After(f.Until)
}

func timeOf(rec Record) time.Time {
	if rec.Time.IsZero() {
		return time.Unix(0, 0)
	}
	return rec.Time
}

// Tail positions the reader at the last n records from here to the end
// that f keeps (nowhere, at the end, when n is 0).
func (r *Reader) Tail(n int, f Filter) error {
	if n <= 0 {
		return r.SeekEnd()
	}
	ring := make([]int64, n)
	count := 0
	for {
		off := r.off
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if f.Keep(rec) {
			ring[count%n] = off
			count++
		}
	}
	if count == 0 {
		return nil // at the end already
	}
	if count < n {
		return r.SeekTo(ring[0])
	}
	return r.SeekTo(ring[count%n])
}
