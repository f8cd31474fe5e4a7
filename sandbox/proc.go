package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
)

// Mount bind-mounts Source over Target inside a process's private mount
// namespace. Both must exist; a file goes over a file.
type Mount struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// ProcSpec describes a process to start in a sandbox.
type ProcSpec struct {
	Args []string
	// Env is added to the defaults (PATH, HOSTNAME) and wins over them.
	Env []string
	// Dir is the working directory; "" means "/".
	Dir string
	// NetnsPath is the network namespace to run in; "" keeps the caller's.
	NetnsPath string
	// Hostname, when set, is given to the process in a new UTS namespace.
	Hostname string
	// Mounts are bind-mounted, in order, in the process's new mount
	// namespace.
	Mounts []Mount
	// Stdio; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Terminal says Stdin is the slave of a pseudo-terminal (see
	// OpenPTY) that becomes the process's controlling terminal; the
	// process leads its own session either way.
	Terminal bool
	// Hold makes Start return once the sandbox is set up but before the
	// command is exec'd: the process waits until Release (or gives up on
	// Abort), and exits without exec'ing if the calling process dies
	// first. The caller can thus record the process before it runs, and
	// a crash in between leaves nothing running.
	Hold bool
}

// ExecSpec describes a process to run in the namespaces (net, uts, mnt)
// of the running sandbox process Target.
type ExecSpec struct {
	Target *Process
	Args   []string
	// Env is added to the defaults (PATH, HOSTNAME) and wins over them.
	Env []string
	// Stdio; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Terminal is as in ProcSpec.
	Terminal bool
}

// Process is a process running in a sandbox, held by a pidfd (see
// pidfd.go). Pid and StartTime together identify it in records, across
// pid reuse.
type Process struct {
	Pid       int
	StartTime uint64

	cmd *exec.Cmd // nil unless started by this process
	// pidfd names the process; nil without kernel support. Closed once
	// the process is reaped (Wait) or no longer watched (Close).
	pidfd *os.File
	// gate and status are set while a Hold process waits for Release.
	gate, status *os.File
}

// StartError reports that a command could not be started. Code is the
// exit status a shell would give: 127 not found, 126 not executable, 125
// sandbox setup failed.
type StartError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func (e *StartError) Error() string { return e.Msg }

// Unwrap maps the failure to a cnm error kind.
func (e *StartError) Unwrap() error {
	switch e.Code {
	case codeNotFound:
		return cnm.ErrNotFound
	case codeNotExec:
		return cnm.ErrForbidden
	}
	return nil
}

// Exit codes of a command that could not be started.
const (
	codeSetup    = 125
	codeNotExec  = 126
	codeNotFound = 127
)

// Start starts spec.Args in a sandbox. It returns once the command has
// been exec'd; a failure before that (bad namespace, failed mount, missing
// binary) is returned as an error wrapping *StartError.
func Start(spec ProcSpec) (*Process, error) {
	if len(spec.Args) == 0 {
		return nil, cnm.Invalid("start process: no command")
	}
	is := initSpec{
		Args:       spec.Args,
		Env:        spec.Env,
		Dir:        spec.Dir,
		Hostname:   spec.Hostname,
		Mounts:     spec.Mounts,
		NewMountNS: true,
	}
	if is.Dir == "" {
		is.Dir = "/"
	}
	var nsFiles []*os.File
	if spec.NetnsPath != "" {
		f, err := os.Open(spec.NetnsPath)
		if err != nil {
			return nil, fmt.Errorf("start %s: open netns: %w", spec.Args[0], err)
		}
		defer f.Close()
		if err := checkNetnsFd(int(f.Fd())); err != nil {
			return nil, fmt.Errorf("start %s: check netns %s: %w", spec.Args[0], spec.NetnsPath, err)
		}
		nsFiles = append(nsFiles, f)
		is.Enter = []nsEnter{{Type: unix.CLONE_NEWNET}}
	}
	flags := uintptr(unix.CLONE_NEWNS)
	if spec.Hostname != "" {
		flags |= unix.CLONE_NEWUTS
	}
	p, err := launch(is, nsFiles, flags, [3]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}, spec.Terminal, spec.Hold)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Args[0], err)
	}
	return p, nil
}

// execNamespaces are entered by Exec, in this order (mnt last: it needs
// an unshared fs and changes what /proc paths mean).
var execNamespaces = []struct {
	name  string
	ctype int
}{
	{"uts", unix.CLONE_NEWUTS},
	{"net", unix.CLONE_NEWNET},
	{"mnt", unix.CLONE_NEWNS},
}

// Exec runs spec.Args in the namespaces of the sandbox process
// spec.Target, in a new session. Errors are reported as by Start; a
// target that has exited gives an error wrapping os.ErrProcessDone.
func Exec(spec ExecSpec) (*Process, error) {
	if len(spec.Args) == 0 {
		return nil, cnm.Invalid("exec process: no command")
	}
	if spec.Target == nil || spec.Target.Pid <= 0 {
		return nil, cnm.Invalid("exec %s: no target process", spec.Args[0])
	}
	pid := spec.Target.Pid
	is := initSpec{Args: spec.Args, Env: spec.Env, Dir: "/"}
	var nsFiles []*os.File
	defer func() {
		for _, f := range nsFiles {
			f.Close()
		}
	}()
	for _, ns := range execNamespaces {
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, ns.name))
		if err != nil {
			if !spec.Target.alive() {
				err = os.ErrProcessDone
			}
			return nil, fmt.Errorf("exec %s: open %s namespace of process %d: %w", spec.Args[0], ns.name, pid, err)
		}
		nsFiles = append(nsFiles, f)
		is.Enter = append(is.Enter, nsEnter{Type: ns.ctype})
	}
	// Still there after the opens, so the pid named the target all along
	// and not a process that reused its number.
	if !spec.Target.alive() {
		return nil, fmt.Errorf("exec %s in process %d: %w", spec.Args[0], pid, os.ErrProcessDone)
	}
	p, err := launch(is, nsFiles, 0, [3]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}, spec.Terminal, false)
	if err != nil {
		return nil, fmt.Errorf("exec %s in process %d: %w", spec.Args[0], pid, err)
	}
	return p, nil
}

// Wait waits for a process started by Start or Exec and returns its exit
// code; death by signal N gives 128+N. It aborts a held process that was
// not released, and releases the pidfd once the process is reaped.
func (p *Process) Wait() (int, error) {
	if p.cmd == nil {
		return -1, fmt.Errorf("wait process %d: %w", p.Pid, cnm.Invalid("not a child of this process"))
	}
	p.Abort()
	// Reaping an exited process does not block, so it holds no thread.
	p.awaitExit()
	err := p.cmd.Wait()
	if p.pidfd != nil {
		p.pidfd.Close()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, fmt.Errorf("wait process %d: %w", p.Pid, err)
	}
	return exitCode(p.cmd.ProcessState), nil
}

// exitCode converts a wait status the way a shell does.
func exitCode(ps *os.ProcessState) int {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
