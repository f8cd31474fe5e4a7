package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// InitArg is argv[1] of the re-executed binary that sets up a sandbox
// process before exec'ing the user's command.
const InitArg = "__patchbay_init"

// File descriptors the init child inherits.
const (
	statusFd  = 3 // write end of the status pipe; close-on-exec in the child
	specFd    = 4 // read end of the pipe carrying the initSpec as JSON
	firstNsFd = 5 // namespace files, in initSpec.Enter order
)

// initSpec is what the parent tells the init child to do.
type initSpec struct {
	Args     []string `json:"args"`
	Env      []string `json:"env,omitempty"`
	Dir      string   `json:"dir"`
	Hostname string   `json:"hostname,omitempty"`
	Mounts   []Mount  `json:"mounts,omitempty"`
	// NewMountNS says the child was cloned into a mount namespace of its
	// own; only then may it change propagation and mount.
	NewMountNS bool      `json:"newMountNS,omitempty"`
	Enter      []nsEnter `json:"enter,omitempty"`
}

// nsEnter is a namespace to setns into, by inherited descriptor.
type nsEnter struct {
	Type int `json:"type"` // CLONE_NEW*
	Fd   int `json:"fd"`
}

// launch re-executes this binary as the init child, hands it is and
// waits until it has exec'd the user command or failed.
func launch(is initSpec, nsFiles []*os.File, cloneflags uintptr, stdio [3]*os.File) (_ *Process, retErr error) {
	for i := range is.Enter {
		is.Enter[i].Fd = firstNsFd + i
	}
	spec, err := json.Marshal(is)
	if err != nil {
		return nil, fmt.Errorf("encode init spec: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create status pipe: %w", err)
	}
	defer statusR.Close()
	defer statusW.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create spec pipe: %w", err)
	}
	defer specR.Close()
	defer specW.Close()

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"patchbay-init", InitArg},
		Env:        []string{},
		ExtraFiles: append([]*os.File{statusW, specR}, nsFiles...),
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:     true,
			Cloneflags: cloneflags,
		},
	}
	// Assign only non-nil files: a typed nil in the interface is not nil.
	if stdio[0] != nil {
		cmd.Stdin = stdio[0]
	}
	if stdio[1] != nil {
		cmd.Stdout = stdio[1]
	}
	if stdio[2] != nil {
		cmd.Stderr = stdio[2]
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start init process: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = cmd.Wait()
		}
	}()
	statusW.Close()
	specR.Close()

	// A write error means the child died early; its status (or exit)
	// tells why.
	_, _ = specW.Write(spec)
	specW.Close()
	status, err := io.ReadAll(statusR)
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("read init status: %w", err)
	}
	if len(status) > 0 {
		se := &StartError{Code: codeSetup}
		if err := json.Unmarshal(status, se); err != nil {
			se.Msg = string(status)
		}
		return nil, se
	}
	p := &Process{Pid: cmd.Process.Pid, cmd: cmd}
	// The process is our unreaped child, so /proc/PID/stat exists even if
	// it has already exited.
	if p.StartTime, err = ProcStartTime(p.Pid); err != nil {
		return nil, errors.Join(fmt.Errorf("read start time: %w", err), cmd.Process.Kill())
	}
	return p, nil
}
