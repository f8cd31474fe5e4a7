package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Process is held by a pidfd from the moment it is started or adopted:
// a pidfd names one process, never a later one that reuses its number, so
// signals and namespace lookups cannot reach a stranger. Signalling a
// process that has exited yields an error wrapping os.ErrProcessDone.

// openPidfd opens a pollable pidfd for pid. It returns nil, nil when the
// kernel has no pidfds (before Linux 5.3): callers then fall back to
// checking the start time before each use.
func openPidfd(pid int) (*os.File, error) {
	// PIDFD_NONBLOCK is O_NONBLOCK; it lets the runtime poller watch it.
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	switch {
	case errors.Is(err, unix.ENOSYS):
		return nil, nil
	case errors.Is(err, unix.ESRCH):
		return nil, fmt.Errorf("open pidfd of process %d: %w", pid, os.ErrProcessDone)
	case err != nil:
		return nil, fmt.Errorf("open pidfd of process %d: %w", pid, err)
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid)), nil
}

// Adopt takes hold of a process this process did not start (one that
// survived a daemon restart): it opens a pidfd for pid and then checks
// that the process started at start, so the pidfd names that process and
// not one that reused its number. A process that is gone gives an error
// wrapping os.ErrProcessDone. Close releases the pidfd.
func Adopt(pid int, start uint64) (*Process, error) {
	if pid <= 1 {
		return nil, fmt.Errorf("adopt process %d: invalid pid", pid)
	}
	f, err := openPidfd(pid)
	if err != nil {
		return nil, fmt.Errorf("adopt process: %w", err)
	}
	// Checked after opening: if the process runs now, the pidfd, opened
	// earlier, names it.
	if !Alive(pid, start) {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("adopt process %d: %w", pid, os.ErrProcessDone)
	}
	return &Process{Pid: pid, StartTime: start, pidfd: f}, nil
}

// Signal sends sig to the process group the process leads (every process
// started by Start or Exec leads its own session and group), through the
// pidfd, so a recycled pid never receives it. A process that has exited
// gives an error wrapping os.ErrProcessDone.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.pidfd == nil {
		return p.signalByPid(sig)
	}
	return p.pidfdSignal(sig, func(fd int) error { return signalGroup(fd, p.Pid, sig) })
}

// pidfdSignal runs send with the pidfd, which stays open meanwhile.
func (p *Process) pidfdSignal(sig syscall.Signal, send func(pidfd int) error) error {
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return fmt.Errorf("signal process %d: %w", p.Pid, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = send(int(fd)) }); err != nil {
		// Control fails only on a closed pidfd: closed once the process
		// was reaped or stopped being watched.
		serr = os.ErrProcessDone
	}
	if serr != nil {
		return fmt.Errorf("signal process %d with %v: %w", p.Pid, sig, serr)
	}
	return nil
}

// signalGroup signals the group led by the process behind pidfd.
func signalGroup(pidfd, pid int, sig syscall.Signal) error {
	err := unix.PidfdSendSignal(pidfd, sig, nil, unix.PIDFD_SIGNAL_PROCESS_GROUP)
	if errors.Is(err, unix.EINVAL) {
		// Before Linux 6.9 a pidfd reaches only its process: signal the
		// leader through it, then the rest of its group by number, which
		// stays the leader's while the leader is not reaped.
		if err = unix.PidfdSendSignal(pidfd, sig, nil, 0); err == nil {
			_ = unix.Kill(-pid, sig)
		}
	}
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// signalByPid is Signal without pidfds: the start time is checked just
// before the signal, which narrows the reuse window but cannot close it.
func (p *Process) signalByPid(sig syscall.Signal) error {
	if p.Pid <= 1 {
		return fmt.Errorf("signal process %d: invalid pid", p.Pid)
	}
	if p.cmd == nil && !Alive(p.Pid, p.StartTime) {
		return fmt.Errorf("signal process %d: %w", p.Pid, os.ErrProcessDone)
	}
	err := unix.Kill(-p.Pid, sig)
	if errors.Is(err, unix.ESRCH) {
		err = unix.Kill(p.Pid, sig)
	}
	if errors.Is(err, unix.ESRCH) {
		err = os.ErrProcessDone
	}
	if err != nil {
		return fmt.Errorf("signal process %d: %w", p.Pid, err)
	}
	return nil
}

// alive reports whether the process has not been reaped yet, so that
// /proc/PID still shows it (a zombie counts).
func (p *Process) alive() bool {
	if p.pidfd == nil {
		return Alive(p.Pid, p.StartTime)
	}
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), 0, nil, 0) }); err != nil {
		return false
	}
	return serr == nil
}

// WaitExit waits until the process exits; it need not be our child, and
// its exit status is not collected. It returns ctx's error if ctx ends
// first.
func (p *Process) WaitExit(ctx context.Context) error {
	if p.pidfd == nil {
		return pollAlive(ctx, p.Pid, p.StartTime)
	}
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return fmt.Errorf("wait for process %d: %w", p.Pid, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = p.pidfd.SetReadDeadline(time.Now()) })
	defer stop()
	// A pidfd is readable once the process has exited.
	err = rc.Read(func(fd uintptr) bool {
		n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrNoDeadline):
		// Not pollable by the runtime: fall back.
		return pollAlive(ctx, p.Pid, p.StartTime)
	}
	// What is left is a closed pidfd: the process was reaped.
	return nil
}

// Close releases the pidfd of an adopted process, and aborts a held one
// (see ProcSpec.Hold). Signal then reports the process as done. Wait
// closes a child on its own.
func (p *Process) Close() error {
	p.Abort()
	if p.pidfd == nil {
		return nil
	}
	if err := p.pidfd.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close pidfd of process %d: %w", p.Pid, err)
	}
	return nil
}
