package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// LogHolder is a daemon's side of its exec root's log holder (see
// loghold.go): it connects to the holder a previous daemon left running
// or starts one, hands it the output of each detached process, and
// learns when that output has ended. Its methods are safe for
// concurrent use.
type LogHolder struct {
	sock string

	// wmu serialises writes to the connection.
	wmu sync.Mutex

	// mu guards the fields below.
	mu   sync.Mutex
	conn *net.UnixConn // nil: not connected
	pid  int
	// waiters are closed when the holder says a process's output has
	// ended, or the connection is lost; stdin are pending requests for
	// a stdin write end.
	waiters map[LogKey]chan struct{}
	stdin   map[LogKey]chan *os.File
	closed  bool
	readers sync.WaitGroup
}

// NewLogHolder returns a daemon's side of the log holder listening on
// sock. It connects to nothing yet.
func NewLogHolder(sock string) *LogHolder {
	return &LogHolder{sock: sock, waiters: map[LogKey]chan struct{}{}, stdin: map[LogKey]chan *os.File{}}
}

// Connect connects to the holder a previous daemon left running, if one
// answers, and learns which processes' output it still writes (see
// Draining). It starts none.
func (h *LogHolder) Connect() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		return nil
	}
	return h.dialLocked()
}

// Ensure connects to the holder, starting one if none answers.
func (h *LogHolder) Ensure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ensureLocked()
}

func (h *LogHolder) ensureLocked() error {
	if h.closed {
		return fmt.Errorf("start log holder: %w", net.ErrClosed)
	}
	if h.conn != nil {
		return nil
	}
	if h.dialLocked() == nil {
		return nil
	}
	if err := h.startLocked(); err != nil {
		return fmt.Errorf("start log holder: %w", err)
	}
	if err := h.dialLocked(); err != nil {
		return fmt.Errorf("start log holder: %w", err)
	}
	return nil
}

// startLocked starts a holder, handing it a new listening socket at
// h.sock (one left by a holder that is gone is replaced).
func (h *LogHolder) startLocked() error {
	if err := os.Remove(h.sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: h.sock, Net: "unixpacket"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false) // the holder keeps listening on it
	defer ln.Close()
	f, err := ln.File()
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := startHolder([]string{"patchbay-loghold", LogHoldArg, h.sock}, f)
	if err != nil {
		return err
	}
	go func() { _, _ = p.Wait() }() // reaped if it exits while we run
	return nil
}

// dialLocked connects to the holder at h.sock and learns what it holds.
func (h *LogHolder) dialLocked() error {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: h.sock, Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("connect to log holder: %w", err)
	}
	pid, held, err := helloHolder(c)
	if err != nil {
		c.Close()
		return fmt.Errorf("connect to log holder: %w", err)
	}
	h.conn, h.pid = c, pid
	for _, k := range held {
		if h.waiters[k] == nil {
			h.waiters[k] = make(chan struct{})
		}
	}
	h.readers.Add(1)
	go h.read(c)
	return nil
}

// helloHolder greets a holder and returns its pid and what it holds.
func helloHolder(c *net.UnixConn) (int, []LogKey, error) {
	if err := writeHoldMsg(c, holdMsg{Op: "hello"}, nil); err != nil {
		return 0, nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(holdTimeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, holdMsgMax)
	oob := make([]byte, unix.CmsgSpace(holdMaxFds*4))
	var held []LogKey
	for {
		m, fds, err := readHoldMsg(c, buf, oob)
		if err != nil {
			return 0, nil, err
		}
		closeFds(fds)
		switch m.Op {
		case "held":
			held = append(held, m.Held...)
		case "hello":
			return m.Pid, held, nil
		}
	}
}

// read handles the holder's messages on c until it is closed.
func (h *LogHolder) read(c *net.UnixConn) {
	defer h.readers.Done()
	buf := make([]byte, holdMsgMax)
	oob := make([]byte, unix.CmsgSpace(holdMaxFds*4))
	for {
		m, fds, err := readHoldMsg(c, buf, oob)
		if err != nil {
			break
		}
		h.mu.Lock()
		switch m.Op {
		case "drained":
			if ch := h.waiters[m.Key]; ch != nil {
				close(ch)
				delete(h.waiters, m.Key)
			}
		case "stdin":
			if ch := h.stdin[m.Key]; ch != nil {
				if m.OK && len(fds) == 1 {
					ch <- os.NewFile(uintptr(fds[0]), "stdin")
					fds = nil
				}
				close(ch)
				delete(h.stdin, m.Key)
			}
		}
		h.mu.Unlock()
		closeFds(fds)
	}
	c.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == c {
		h.dropLocked()
	}
}

// dropLocked forgets the connection: nothing more will be said about
// what the holder held.
func (h *LogHolder) dropLocked() {
	h.conn, h.pid = nil, 0
	for k, ch := range h.waiters {
		close(ch)
		delete(h.waiters, k)
	}
	for k, ch := range h.stdin {
		close(ch)
		delete(h.stdin, k)
	}
}

// Hold hands the holder a started process's output: the read ends of
// its stdout and stderr pipes, its log and, if not nil, the write end
// of its stdin pipe, which the caller may all close afterwards. The
// channel returned is closed once the output has ended and is all in
// the log (or the holder is gone).
func (h *LogHolder) Hold(key LogKey, stdout, stderr, log, stdin *os.File) (<-chan struct{}, error) {
	files := []*os.File{stdout, stderr, log}
	if stdin != nil {
		files = append(files, stdin)
	}
	h.mu.Lock()
	if err := h.ensureLocked(); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	c := h.conn
	ch := make(chan struct{})
	h.waiters[key] = ch
	h.mu.Unlock()
	h.wmu.Lock()
	err := writeHoldMsg(c, holdMsg{Op: "hold", Key: key}, files)
	h.wmu.Unlock()
	if err != nil {
		h.mu.Lock()
		if h.waiters[key] == ch {
			delete(h.waiters, key)
		}
		h.mu.Unlock()
		c.Close() // read drops it; the next call starts another holder
		return nil, fmt.Errorf("hand output to log holder: %w", err)
	}
	return ch, nil
}

// Draining returns a channel closed once the output of the process key
// has ended, for a process a previous daemon handed to the holder; nil
// if the holder does not write it (any more).
func (h *LogHolder) Draining(key LogKey) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch := h.waiters[key]; ch != nil {
		return ch
	}
	return nil
}

// TakeStdin returns a copy of the stdin write end the holder keeps for
// the process key, for a daemon that restarted.
func (h *LogHolder) TakeStdin(ctx context.Context, key LogKey) (*os.File, error) {
	h.mu.Lock()
	c := h.conn
	if c == nil {
		h.mu.Unlock()
		return nil, errors.New("take stdin from log holder: not connected")
	}
	ch := make(chan *os.File, 1)
	h.stdin[key] = ch
	h.mu.Unlock()
	h.wmu.Lock()
	err := writeHoldMsg(c, holdMsg{Op: "stdin", Key: key}, nil)
	h.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("take stdin from log holder: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, holdTimeout)
	defer cancel()
	select {
	case f, ok := <-ch:
		if ok {
			return f, nil
		}
	case <-ctx.Done():
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stdin[key] == ch {
		delete(h.stdin, key)
	}
	return nil, errors.New("take stdin from log holder: it has none")
}

// Pid returns the pid of the holder connected, 0 if none.
func (h *LogHolder) Pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pid
}

// Close disconnects from the holder, telling it to exit once it holds
// nothing (it keeps writing what it holds meanwhile; a daemon that
// connects again keeps it).
func (h *LogHolder) Close() error {
	h.mu.Lock()
	c := h.conn
	h.closed = true
	h.mu.Unlock()
	if c != nil {
		h.wmu.Lock()
		_ = writeHoldMsg(c, holdMsg{Op: "quit"}, nil)
		h.wmu.Unlock()
		c.Close()
	}
	h.readers.Wait()
	return nil
}

// LogHolders returns the pids of the running log holders whose socket
// lies under dir (an exec root or a directory above one), for tests and
// diagnostics.
func LogHolders(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	prefix := []byte(filepath.Clean(dir) + "/")
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
		if len(args) == 3 && string(args[1]) == LogHoldArg && bytes.HasPrefix(args[2], prefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}
