package sandbox

import (
	"encoding/json"
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
	gateFd    = 5 // read end of the gate pipe of a held process; closed otherwise
	firstNsFd = 6 // namespace files, in initSpec.Enter order
)

// Bytes on the status and gate pipes of a held process. A status that is
// not readyByte is an error as JSON (which starts with '{').
const (
	readyByte = '.' // child to parent: set up, waiting at the gate
	goByte    = '!' // parent to child: exec now
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
	// Hold: report readyByte, then exec only once goByte arrives on
	// gateFd; exit without exec'ing on EOF (the parent died or aborted).
	Hold bool `json:"hold,omitempty"`
}

// nsEnter is a namespace to setns into, by inherited descriptor.
type nsEnter struct {
	Type int `json:"type"` // CLONE_NEW*
	Fd   int `json:"fd"`
}

// launch re-executes this binary as the init child, hands it is and
// waits until it has exec'd the user command or failed; with hold, until
// it waits at the gate (see ProcSpec.Hold). With ctty, stdio[0] is a
// terminal that becomes the controlling terminal of the new session.
func launch(is initSpec, nsFiles []*os.File, cloneflags uintptr, stdio [3]*os.File, ctty, hold bool) (_ *Process, retErr error) {
	if ctty && stdio[0] == nil {
		return nil, fmt.Errorf("start init process: a controlling terminal needs a terminal as stdin")
	}
	for i := range is.Enter {
		is.Enter[i].Fd = firstNsFd + i
	}
	is.Hold = hold
	spec, err := json.Marshal(is)
	if err != nil {
		return nil, fmt.Errorf("encode init spec: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create status pipe: %w", err)
	}
	defer func() {
		if statusR != nil {
			statusR.Close()
		}
	}()
	defer statusW.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create spec pipe: %w", err)
	}
	defer specR.Close()
	defer specW.Close()
	// The gate's write end is close-on-exec here (os.Pipe), so only this
	// process holds it: when it dies, the child reads EOF.
	var gateR, gateW *os.File
	if hold {
		if gateR, gateW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("create gate pipe: %w", err)
		}
		defer gateR.Close()
		defer func() {
			if retErr != nil {
				gateW.Close()
			}
		}()
	}

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"patchbay-init", InitArg},
		Env:        []string{},
		ExtraFiles: append([]*os.File{statusW, specR, gateR}, nsFiles...),
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:     true,
			Setctty:    ctty,
			Ctty:       0, // the child's stdin
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
	p := &Process{Pid: cmd.Process.Pid, cmd: cmd}
	defer func() {
		if retErr != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if p.pidfd != nil {
				p.pidfd.Close()
			}
		}
	}()
	statusW.Close()
	specR.Close()
	if gateR != nil {
		gateR.Close()
	}
	// The process is our unreaped child, so its pid cannot be reused
	// before Wait, and /proc/PID/stat exists even if it has exited.
	if p.pidfd, err = openPidfd(p.Pid); err != nil {
		return nil, err
	}
	if p.StartTime, err = ProcStartTime(p.Pid); err != nil {
		return nil, fmt.Errorf("read start time: %w", err)
	}

	// A write error means the child died early; its status (or exit)
	// tells why.
	_, _ = specW.Write(spec)
	specW.Close()
	if hold {
		var b [1]byte
		switch n, _ := io.ReadFull(statusR, b[:]); {
		case n == 0:
			return nil, &StartError{Code: codeSetup, Msg: "init process exited before it was set up"}
		case b[0] == readyByte:
			p.gate, p.status = gateW, statusR
			statusR = nil // kept open for Release; not closed by the defer
			return p, nil
		}
		rest, err := io.ReadAll(statusR)
		if err != nil {
			return nil, fmt.Errorf("read init status: %w", err)
		}
		return nil, startError(append(b[:], rest...))
	}
	status, err := io.ReadAll(statusR)
	if err != nil {
		return nil, fmt.Errorf("read init status: %w", err)
	}
	if len(status) > 0 {
		return nil, startError(status)
	}
	return p, nil
}

// startError decodes an error status from the init child.
func startError(status []byte) *StartError {
	se := &StartError{Code: codeSetup}
	if err := json.Unmarshal(status, se); err != nil {
		se.Msg = string(status)
	}
	return se
}

// Release lets a process started with Hold exec its command, and waits
// until it has (or failed to, reported as by Start; the process then
// exits and the caller still Waits for it). It is a no-op for a process
// not held.
func (p *Process) Release() error {
	if p.gate == nil {
		return nil
	}
	gate, status := p.gate, p.status
	p.gate, p.status = nil, nil
	defer status.Close()
	// A failed write means the child is gone; its status says why.
	_, werr := gate.Write([]byte{goByte})
	gate.Close()
	b, err := io.ReadAll(status)
	if err != nil {
		return fmt.Errorf("release process %d: read init status: %w", p.Pid, err)
	}
	if len(b) > 0 {
		return startError(b)
	}
	if werr != nil {
		return fmt.Errorf("release process %d: %w", p.Pid, werr)
	}
	return nil
}

// Abort makes a process started with Hold exit without exec'ing its
// command; the caller still Waits for it. It is a no-op for a process not
// held.
func (p *Process) Abort() {
	if p.gate == nil {
		return
	}
	p.gate.Close()
	p.status.Close()
	p.gate, p.status = nil, nil
}
