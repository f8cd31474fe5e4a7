package logfile

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Magic starts every log file in this format.
const Magic = "\x00PBLOG\x01\n"

// headerSize is the size of a record's header.
const headerSize = 16

// MaxPayload bounds a record's payload; a longer line is split.
const MaxPayload = 16 << 10

// Stream is where a record's output was written.
type Stream byte

// Streams, numbered as in Docker's multiplexed stream.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	}
	return fmt.Sprintf("stream %d", byte(s))
}

// Record is one piece of output. Time is zero for a record of a file
// without times (an older patchbay's).
type Record struct {
	Stream  Stream
	Time    time.Time
	Payload []byte
}

// appendRecords appends p's records (split at newlines and at
// MaxPayload) to b.
func appendRecords(b []byte, s Stream, t time.Time, p []byte) []byte {
	var ns int64 // zero: no time
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	for len(p) > 0 {
		n := len(p)
		for i, c := range p {
			if c == '\n' {
				n = i + 1
				break
			}
		}
		n = min(n, MaxPayload)
		var h [headerSize]byte
		h[0] = byte(s)
		binary.BigEndian.PutUint32(h[4:8], uint32(n))
		binary.BigEndian.PutUint64(h[8:16], uint64(ns))
		b = append(append(b, h[:]...), p[:n]...)
		p = p[n:]
	}
	return b
}

// parseHeader decodes a record header.
func parseHeader(h []byte) (Stream, int, time.Time, error) {
	s, n := Stream(h[0]), binary.BigEndian.Uint32(h[4:8])
	if (s != Stdout && s != Stderr) || h[1]|h[2]|h[3] != 0 || n > MaxPayload {
		return 0, 0, time.Time{}, fmt.Errorf("read log: corrupt record header %x", h)
	}
	var t time.Time
	if ns := int64(binary.BigEndian.Uint64(h[8:16])); ns != 0 {
		t = time.Unix(0, ns)
	}
	return s, int(n), t, nil
}
