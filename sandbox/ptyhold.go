package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// A terminal holder keeps a pseudo-terminal's master open while the
// daemon is away, so a process on that terminal gets no hangup when the
// daemon dies and a new daemon takes the master back (pidfd_getfd). It
// is this binary re-executed in a session of its own; it does nothing
// but wait for the terminal to hang up (no process holds the slave any
// more), then exits.

// HoldArg is argv[1] of a terminal holder.
const HoldArg = "__patchbay_ptyhold"

// heldFd is where a holder keeps the master.
const heldFd = 3

// HoldPTY starts a holder for master. The caller waits for it (Wait),
// which returns once the terminal has hung up.
func HoldPTY(master *os.File) (*Process, error) {
	p, err := startHolder([]string{"patchbay-ptyhold", HoldArg}, master)
	if err != nil {
		return nil, fmt.Errorf("start terminal holder: %w", err)
	}
	return p, nil
}

// startHolder re-executes this binary with args (a name, then the
// holder's argv[1] and its own arguments) in a session of its own, files
// from fd 3 on.
func startHolder(args []string, files ...*os.File) (*Process, error) {
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        args,
		Env:         []string{},
		ExtraFiles:  files,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Pid: cmd.Process.Pid, cmd: cmd}
	var err error
	if p.StartTime, err = ProcStartTime(p.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	if p.pidfd, err = openPidfd(p.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return p, nil
}

// TakePTY returns a copy of the master a holder (pid, started at start)
// keeps, for a daemon that restarted.
func TakePTY(pid int, start uint64) (*os.File, error) {
	f, err := takeFd(pid, start, heldFd, "ptmx")
	if err != nil {
		return nil, fmt.Errorf("take terminal from holder: %w", err)
	}
	return f, nil
}

// takeFd returns a copy of descriptor fd of the holder pid (started at
// start).
func takeFd(pid int, start uint64, fd int, name string) (*os.File, error) {
	p, err := Adopt(pid, start)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if p.pidfd == nil {
		return nil, fmt.Errorf("holder %d: the kernel has no pidfds", pid)
	}
	nfd, err := unix.PidfdGetfd(int(p.pidfd.Fd()), fd, 0)
	if err != nil {
		return nil, fmt.Errorf("holder %d: %w", pid, err)
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// holdMain is a holder's life: wait until the terminal hangs up.
func holdMain() {
	fds := []unix.PollFd{{Fd: heldFd}} // POLLHUP is always reported
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			os.Exit(0)
		}
	}
}
