package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/internal/logfile"
	"golang.org/x/sys/unix"
)

// The log holder writes the output of detached processes to their logs
// (see internal/logfile) while they run, whether or not the daemon does.
// There is one per exec root, shared by all its sandboxes: this binary
// re-executed in a session of its own, so it lives on when the daemon
// dies or restarts. The daemon hands it, over a unix socket (SCM_RIGHTS,
// see logholder.go), each process's stdout and stderr pipes (read ends,
// which only the holder keeps), its log file and, for a process that
// reads input without a terminal, the write end of its stdin pipe, so
// the process sees no end of input when the daemon dies and a new daemon
// asks for it back. The holder reads every pipe through the runtime's
// poller, with buffers shared by all pipes, so its threads and memory
// barely grow with the sandboxes it holds. It tells the daemon connected
// when a process's output has ended (both pipes at end of file, all
// written), and a daemon that connects which are still being written.
// It exits once it holds nothing and no daemon is connected: at once
// when the last daemon said so (Close), after logHoldIdle otherwise.

// LogHoldArg is argv[1] of a log holder; argv[2] is its socket's path
// (naming the exec root it serves), the listening socket is fd 3.
const LogHoldArg = "__patchbay_loghold"

// logHoldIdle is how long a holder that holds nothing waits for a
// daemon to connect before it exits.
const logHoldIdle = 5 * time.Second

// LogKey names one process whose output the holder writes: the
// sandbox's ID and the process's pid and start time (a restarted
// process is another).
type LogKey struct {
	ID    string `json:"id"`
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// holdMsg is a message on the holder's socket (one SOCK_SEQPACKET
// packet, with descriptors for "hold" and a "stdin" answer).
//
//	daemon → holder: hello; hold (fds stdout, stderr, log[, stdin]);
//	                 stdin (asks for the stdin write end); quit
//	holder → daemon: held (keys still written, in batches), hello (last,
//	                 with the holder's pid); drained; stdin (fd if OK)
type holdMsg struct {
	Op   string   `json:"op"`
	Key  LogKey   `json:"key,omitzero"`
	Held []LogKey `json:"held,omitempty"`
	Pid  int      `json:"pid,omitempty"`
	OK   bool     `json:"ok,omitempty"`
}

// Limits of one packet.
const (
	holdMsgMax  = 64 << 10
	holdMaxFds  = 4
	heldPerMsg  = 256
	holdTimeout = 5 * time.Second
)

// logHoldMain is the holder's life: serve daemons until it holds
// nothing and none is connected.
func logHoldMain() {
	// Its own session gets no terminal signals; these would only come
	// from someone meaning the daemon.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		os.Exit(1)
	}
	s := &holdServer{ln: ln, logs: map[LogKey]*heldLog{}}
	s.readBufs.New = func() any { b := make([]byte, 32<<10); return &b }
	s.recBufs.New = func() any { b := make([]byte, 0, 33<<10); return &b }
	s.mu.Lock()
	s.idleLocked()
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(0) // closed on exit
		}
		go s.serve(c.(*net.UnixConn))
	}
}

// holdServer is the holder's state.
type holdServer struct {
	ln net.Listener
	// readBufs and recBufs are buffers shared by all pipes: a pipe
	// waiting for output holds none.
	readBufs, recBufs sync.Pool
	// mu guards the fields below and writes to conn.
	mu   sync.Mutex
	logs map[LogKey]*heldLog
	// conn is the daemon connected, nil if none.
	conn *net.UnixConn
	// quit: the last daemon asked the holder to exit once it holds
	// nothing; exiting: it is.
	quit, exiting bool
	idle          *time.Timer
}

// heldLog is one process's output being written.
type heldLog struct {
	w     *logfile.Writer // nil if the log was unusable: output is drained
	log   *os.File
	stdin *os.File // nil unless the process reads input
	open  int      // pipes not at end of file; guarded by holdServer.mu
}

// serve reads a daemon's messages until it goes.
func (s *holdServer) serve(c *net.UnixConn) {
	s.mu.Lock()
	if s.exiting {
		s.mu.Unlock()
		c.Close()
		return
	}
	if s.conn != nil {
		s.conn.Close() // a new daemon replaces one that is gone
	}
	s.conn, s.quit = c, false
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.mu.Unlock()
	buf := make([]byte, holdMsgMax)
	oob := make([]byte, unix.CmsgSpace(holdMaxFds*4))
	for {
		m, fds, err := readHoldMsg(c, buf, oob)
		if err != nil {
			break
		}
		switch m.Op {
		case "hello":
			s.hello(c)
		case "hold":
			s.hold(m.Key, fds)
			fds = nil
		case "stdin":
			s.sendStdin(c, m.Key)
		case "quit":
			s.mu.Lock()
			s.quit = true
			s.mu.Unlock()
		}
		closeFds(fds)
	}
	c.Close()
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
		s.maybeExitLocked()
	}
	s.mu.Unlock()
}

// hello tells a daemon that connected which processes' output is still
// being written; drained messages follow for each.
func (s *holdServer) hello(c *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := make([]LogKey, 0, len(s.logs))
	for k := range s.logs {
		held = append(held, k)
	}
	for len(held) > 0 {
		n := min(len(held), heldPerMsg)
		if writeHoldMsg(c, holdMsg{Op: "held", Held: held[:n]}, nil) != nil {
			return
		}
		held = held[n:]
	}
	_ = writeHoldMsg(c, holdMsg{Op: "hello", Pid: os.Getpid()}, nil)
}

// hold starts writing a process's output: fds are its stdout and
// stderr read ends, its log and perhaps its stdin write end.
func (s *holdServer) hold(key LogKey, fds []int) {
	s.mu.Lock()
	_, dup := s.logs[key]
	s.mu.Unlock()
	if len(fds) < 3 || len(fds) > 4 || dup {
		closeFds(fds)
		return
	}
	h := &heldLog{log: os.NewFile(uintptr(fds[2]), "log"), open: 2}
	if len(fds) > 3 {
		h.stdin = os.NewFile(uintptr(fds[3]), "stdin")
	}
	if w, err := logfile.NewWriter(h.log); err == nil {
		h.w = w
	}
	s.mu.Lock()
	s.logs[key] = h
	s.mu.Unlock()
	go s.drain(key, h, pollable(fds[0], "stdout"), logfile.Stdout)
	go s.drain(key, h, pollable(fds[1], "stderr"), logfile.Stderr)
}

// pollable returns fd as a file the runtime's poller reads, so a
// goroutine waiting on it holds no thread.
func pollable(fd int, name string) *os.File {
	_ = unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), name)
}

// drain appends what pipe f yields to h's log as records of stream st
// until it ends.
func (s *holdServer) drain(key LogKey, h *heldLog, f *os.File, st logfile.Stream) {
	if f != nil {
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Read(func(fd uintptr) bool { return s.readPipe(int(fd), h.w, st) })
		}
		f.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.open--; h.open > 0 {
		return
	}
	h.log.Close()
	if h.stdin != nil {
		h.stdin.Close()
	}
	delete(s.logs, key)
	if s.conn != nil {
		_ = writeHoldMsg(s.conn, holdMsg{Op: "drained", Key: key}, nil)
	}
	s.maybeExitLocked()
}

// readPipe reads fd (nonblocking) until it would block (false: wait
// for more) or ends (true), writing what it reads to w.
func (s *holdServer) readPipe(fd int, w *logfile.Writer, st logfile.Stream) bool {
	bp := s.readBufs.Get().(*[]byte)
	defer s.readBufs.Put(bp)
	for {
		n, err := unix.Read(fd, *bp)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		case err != nil || n <= 0:
			return true
		}
		if w != nil {
			rp := s.recBufs.Get().(*[]byte)
			// A full disk loses output, not the process.
			*rp, _ = w.WriteBuf((*rp)[:0], st, time.Now(), (*bp)[:n])
			if cap(*rp) <= 64<<10 {
				s.recBufs.Put(rp)
			}
		}
	}
}

// sendStdin answers a daemon's request for a process's stdin write end.
func (s *holdServer) sendStdin(c *net.UnixConn, key LogKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var files []*os.File
	if h := s.logs[key]; h != nil && h.stdin != nil {
		files = []*os.File{h.stdin}
	}
	_ = writeHoldMsg(c, holdMsg{Op: "stdin", Key: key, OK: files != nil}, files)
}

// maybeExitLocked exits when the holder holds nothing and no daemon is
// connected: at once if the last daemon said so, after logHoldIdle if
// none connects meanwhile otherwise.
func (s *holdServer) maybeExitLocked() {
	if len(s.logs) > 0 || s.conn != nil {
		return
	}
	if s.quit {
		s.exitLocked()
		return
	}
	s.idleLocked()
}

// idleLocked arms the idle timer.
func (s *holdServer) idleLocked() {
	if s.idle != nil {
		s.idle.Stop()
	}
	s.idle = time.AfterFunc(logHoldIdle, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.logs) == 0 && s.conn == nil {
			s.exitLocked()
		}
	})
}

// exitLocked stops accepting daemons (one connecting now finds its
// connection closed and starts another holder) and exits.
func (s *holdServer) exitLocked() {
	s.exiting = true
	s.ln.Close() // the accept loop exits the process
}

// readHoldMsg reads one message and the descriptors it carries.
func readHoldMsg(c *net.UnixConn, buf, oob []byte) (holdMsg, []int, error) {
	var m holdMsg
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return m, nil, fmt.Errorf("read log holder message: %w", err)
	}
	if n == 0 {
		return m, nil, errors.New("read log holder message: connection closed")
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, cm := range cmsgs {
				if got, err := unix.ParseUnixRights(&cm); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeFds(fds)
		return m, nil, fmt.Errorf("read log holder message: %w", err)
	}
	return m, fds, nil
}

// writeHoldMsg sends one message with files' descriptors.
func writeHoldMsg(c *net.UnixConn, m holdMsg, files []*os.File) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	_ = c.SetWriteDeadline(time.Now().Add(holdTimeout))
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

func closeFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
