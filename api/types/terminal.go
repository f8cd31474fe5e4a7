package types

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// Terminal sessions (run -t, exec -t, attach) use a framed stream on the
// upgraded connection instead of passing descriptors, because the
// daemon holds the process's pseudo-terminal:
//
//  1. the client sends the request with "Upgrade: patchbay-tty";
//  2. the server answers 101 Switching Protocols;
//  3. both sides then write frames: a header of 8 bytes (kind, three
//     zero bytes, payload length as big-endian uint32, as in Docker's
//     multiplexed streams) and the payload. The client writes FrameStdin
//     (what is typed) and FrameControl ({"Resize"}, {"Signal"}); the
//     server writes FrameStdout (the terminal's output) and FrameControl:
//     {"Id"} once the process runs or {"Error","Status"}, and last
//     {"ExitCode"} or {"Detached"}. A client detaches by closing the
//     connection: the process keeps running.

// UpgradeTTY is the Upgrade header value of terminal sessions.
const UpgradeTTY = "patchbay-tty"

// Terminal is how a process uses the caller's terminal.
type Terminal struct {
	// TTY gives the process a pseudo-terminal of ConsoleSize (rows,
	// columns) as its controlling terminal.
	TTY         bool      `json:"Tty,omitempty"`
	ConsoleSize [2]uint16 `json:"ConsoleSize,omitzero"`
	// OpenStdin: the process reads the caller's input (-i).
	OpenStdin bool `json:"OpenStdin,omitempty"`
}

// Frame kinds. Stdout and stderr are numbered as in Docker's
// multiplexed streams.
const (
	FrameStdin   byte = 0
	FrameStdout  byte = 1
	FrameStderr  byte = 2
	FrameControl byte = 3
)

// maxFrame bounds a frame's payload.
const maxFrame = 1 << 20

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind byte, p []byte) error {
	var h [8]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
	if _, err := w.Write(append(h[:], p...)); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("read frame: payload of %d bytes is too large", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, fmt.Errorf("read frame: %w", err)
	}
	return h[0], p, nil
}

// FrameWriter writes each Write as one frame of Kind; writers sharing
// Mu can share a connection. Once Close is called, writes fail.
type FrameWriter struct {
	Mu     *sync.Mutex
	W      io.Writer
	Kind   byte
	closed bool
}

// Write writes p as one frame (or several, if it is large).
func (f *FrameWriter) Write(p []byte) (int, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.closed {
		return 0, io.ErrClosedPipe
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxFrame)]
		if err := WriteFrame(f.W, f.Kind, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// Close makes later writes fail.
func (f *FrameWriter) Close() error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.closed = true
	return nil
}
