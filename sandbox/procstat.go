package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
)

// pollInterval is how often WaitExit rechecks ctx, and the Alive polling
// period when pidfds are unavailable.
const pollInterval = 200 * time.Millisecond

// procStat returns the state (field 3) and start time (field 22) of
// /proc/PID/stat.
func procStat(pid int) (byte, uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after the last ')' start at field 3.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse stat of process %d: no command name", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parse stat of process %d: %d fields", pid, len(fields))
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse stat of process %d: %w", pid, err)
	}
	return fields[0][0], start, nil
}

// ProcStartTime returns the start time of pid (field 22 of /proc/PID/stat,
// in clock ticks since boot).
func ProcStartTime(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// Alive reports whether pid runs and started at start. Zombies are dead.
func Alive(pid int, start uint64) bool {
	state, st, err := procStat(pid)
	if err != nil || st != start {
		return false
	}
	return state != 'Z' && state != 'X'
}

// WaitExit waits until the process pid, started at start and not
// necessarily our child, exits. It returns ctx's error if ctx ends first.
func WaitExit(ctx context.Context, pid int, start uint64) error {
	if !Alive(pid, start) {
		return nil
	}
	// PIDFD_NONBLOCK is O_NONBLOCK; it lets the runtime poller watch it.
	fd, err := unix.PidfdOpen(pid, unix.O_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return pollAlive(ctx, pid, start)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	// The pid may have been reused between Alive and PidfdOpen.
	if !Alive(pid, start) {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wait for process %d: %w", pid, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	// A pidfd is readable once the process has exited.
	err = rc.Read(func(fd uintptr) bool {
		n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, os.ErrNoDeadline) {
			// Not pollable by the runtime: fall back.
			return pollAlive(ctx, pid, start)
		}
		return fmt.Errorf("wait for process %d: %w", pid, err)
	}
	return nil
}

// pollAlive is WaitExit without pidfds.
func pollAlive(ctx context.Context, pid int, start uint64) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for Alive(pid, start) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Signal sends sig to the process group led by pid, or to pid alone if
// it leads no group.
func Signal(pid int, sig syscall.Signal) error {
	// kill(0) and kill(-1) would hit our own group or everything.
	if pid <= 1 {
		return fmt.Errorf("signal process %d: %w", pid, cnm.Invalid("invalid pid"))
	}
	err := unix.Kill(-pid, sig)
	if errors.Is(err, unix.ESRCH) {
		err = unix.Kill(pid, sig)
	}
	if err != nil {
		return fmt.Errorf("signal process %d: %w", pid, err)
	}
	return nil
}
