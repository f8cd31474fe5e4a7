package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// NetnsKey identifies a network namespace: the device and inode of its
// nsfs file, as stat of a bind mount or of /proc/PID/ns/net gives them.
type NetnsKey struct {
	Dev, Ino uint64
}

// NetnsKeyOf stats path, a namespace bind mount or /proc/PID/ns/net.
func NetnsKeyOf(path string) (NetnsKey, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return NetnsKey{}, fmt.Errorf("stat netns %s: %w", path, err)
	}
	return NetnsKey{Dev: st.Dev, Ino: st.Ino}, nil
}

// NetnsProcess is a process and the network namespace it runs in.
type NetnsProcess struct {
	ProcStat
	Netns NetnsKey
}

// ProcessesIn lists the live processes whose network namespace (that of
// the thread group leader) is one of keys, leaving out the calling
// process. Processes that end while being listed are left out.
func ProcessesIn(keys map[NetnsKey]bool) ([]NetnsProcess, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var out []NetnsProcess
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == self {
			continue
		}
		key, err := NetnsKeyOf(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil || !keys[key] {
			continue // gone, a zombie (no namespaces left), or elsewhere
		}
		st, err := ReadProcStat(pid)
		if err != nil || st.State == 'Z' || st.State == 'X' {
			continue
		}
		out = append(out, NetnsProcess{ProcStat: st, Netns: key})
	}
	return out, nil
}

// KillInNetns kills p with SIGKILL, through a pidfd, if it is still that
// process (same start time) in that network namespace, and waits until
// it has exited or ctx ends. A process already gone, or gone elsewhere,
// is left alone and is success.
func KillInNetns(ctx context.Context, p NetnsProcess) error {
	if p.Pid <= 1 || p.Pid == os.Getpid() {
		return fmt.Errorf("kill process %d: refusing to", p.Pid)
	}
	f, err := openPidfd(p.Pid)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kill process %d: %w", p.Pid, err)
	}
	if f == nil {
		return fmt.Errorf("kill process %d: %w", p.Pid, unix.ENOSYS)
	}
	proc := &Process{Pid: p.Pid, StartTime: p.StartTime, pidfd: f}
	defer proc.Close()
	// Checked after opening the pidfd: if the pid still names p, the
	// pidfd names p.
	if !Alive(p.Pid, p.StartTime) {
		return nil
	}
	if key, err := NetnsKeyOf(fmt.Sprintf("/proc/%d/ns/net", p.Pid)); err != nil || key != p.Netns {
		return nil
	}
	err = proc.pidfdSignal(syscall.SIGKILL, func(fd int) error {
		return unix.PidfdSendSignal(fd, syscall.SIGKILL, nil, 0)
	})
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kill process %d: %w", p.Pid, err)
	}
	return proc.WaitExit(ctx)
}
