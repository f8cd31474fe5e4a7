package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/internal/logfile"
)

// A log holder writes a process's output to its log (see
// internal/logfile) while the process runs, whether or not the daemon
// does: the process's stdout and stderr are two pipes whose read ends
// only the holder has, and it stamps what it reads with the time and
// stream and appends the records. It is this binary re-executed in a
// session of its own, so it lives on when the daemon dies or restarts,
// and exits once both pipes reach end of file (every writer is gone).
// For a process that reads input without a terminal it also keeps the
// write end of its stdin pipe, so the process sees no end of input when
// the daemon dies, and a new daemon takes it back (pidfd_getfd).

// LogHoldArg is argv[1] of a log holder.
const LogHoldArg = "__patchbay_loghold"

// A log holder's descriptors.
const (
	logHoldStdout = 3
	logHoldStderr = 4
	logHoldFile   = 5
	logHoldStdin  = 6
)

// HoldLog starts a holder writing to log (a file opened by
// logfile.Open, which the caller may close afterwards) and returns it
// with the write ends of the process's stdout and stderr, which the
// caller closes once the process has them. stdin, if not nil, is the
// write end of the process's stdin pipe, for the holder to keep. The
// caller waits for the holder (Wait), which returns once the output has
// ended.
func HoldLog(log, stdin *os.File) (h *Process, stdout, stderr *os.File, err error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start log holder: %w", err)
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return nil, nil, nil, fmt.Errorf("start log holder: %w", err)
	}
	defer errR.Close()
	files := []*os.File{outR, errR, log}
	if stdin != nil {
		files = append(files, stdin)
	}
	h, err = startHolder("patchbay-loghold", LogHoldArg, files...)
	if err != nil {
		outW.Close()
		errW.Close()
		return nil, nil, nil, fmt.Errorf("start log holder: %w", err)
	}
	return h, outW, errW, nil
}

// TakeStdin returns a copy of the stdin pipe's write end that a log
// holder (pid, started at start) keeps, for a daemon that restarted.
func TakeStdin(pid int, start uint64) (*os.File, error) {
	f, err := takeFd(pid, start, logHoldStdin, "stdin")
	if err != nil {
		return nil, fmt.Errorf("take stdin from log holder: %w", err)
	}
	return f, nil
}

// logHoldMain is a log holder's life: copy both pipes to the log until
// they end.
func logHoldMain() {
	// Its own session gets no terminal signals; these would only come
	// from someone meaning the daemon.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	w, err := logfile.NewWriter(os.NewFile(logHoldFile, "log"))
	if err != nil {
		// Without a log the output is still drained, so the process
		// does not block on a full pipe.
		w = nil
	}
	var wg sync.WaitGroup
	for _, s := range []struct {
		fd     uintptr
		stream logfile.Stream
	}{{logHoldStdout, logfile.Stdout}, {logHoldStderr, logfile.Stderr}} {
		wg.Go(func() { copyToLog(os.NewFile(s.fd, s.stream.String()), w, s.stream) })
	}
	wg.Wait()
	os.Exit(0)
}

// copyToLog appends what r yields to w as records of stream s.
func copyToLog(r *os.File, w *logfile.Writer, s logfile.Stream) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 && w != nil {
			_ = w.Write(s, time.Now(), buf[:n]) // a full disk loses output, not the process
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}
