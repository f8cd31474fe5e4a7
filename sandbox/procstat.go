package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// pollInterval is the Alive polling period of WaitExit when pidfds are
// unavailable.
const pollInterval = 200 * time.Millisecond

// ProcStat is what /proc/PID/stat says of a process.
type ProcStat struct {
	Pid     int
	State   byte // field 3: R, S, D, Z (zombie), X (dead)...
	PPid    int  // field 4
	Session int  // field 6
	// StartTime is field 22, in clock ticks since boot: with Pid, it
	// identifies the process across pid reuse.
	StartTime uint64
}

// ReadProcStat reads /proc/PID/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	st, err := parseProcStat(pid, string(b))
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse stat of process %d: %w", pid, err)
	}
	return st, nil
}

func parseProcStat(pid int, s string) (ProcStat, error) {
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after the last ')' start at field 3.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ProcStat{}, errors.New("no command name")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 || len(fields[0]) != 1 {
		return ProcStat{}, fmt.Errorf("%d fields", len(fields))
	}
	st := ProcStat{Pid: pid, State: fields[0][0]}
	var err error
	if st.PPid, err = strconv.Atoi(fields[1]); err != nil {
		return ProcStat{}, err
	}
	if st.Session, err = strconv.Atoi(fields[3]); err != nil {
		return ProcStat{}, err
	}
	if st.StartTime, err = strconv.ParseUint(fields[19], 10, 64); err != nil {
		return ProcStat{}, err
	}
	return st, nil
}

// ProcStartTime returns the start time of pid (field 22 of /proc/PID/stat,
// in clock ticks since boot).
func ProcStartTime(pid int) (uint64, error) {
	st, err := ReadProcStat(pid)
	return st.StartTime, err
}

// Alive reports whether pid runs and started at start. Zombies are dead.
func Alive(pid int, start uint64) bool {
	st, err := ReadProcStat(pid)
	if err != nil || st.StartTime != start {
		return false
	}
	return st.State != 'Z' && st.State != 'X'
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
