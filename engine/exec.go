package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

// Exec instances, as the Docker API has them: created with a command,
// started once (attached to a hijacked connection or detached), resized,
// and inspected for their exit code after they end.

// execKeep is how long a finished exec instance stays inspectable.
const execKeep = 5 * time.Minute

// ExecConfig is what an exec instance runs and how.
type ExecConfig struct {
	Args []string
	Env  []string
	// TTY runs the command on a new pseudo-terminal (see Console).
	TTY                                     bool
	AttachStdin, AttachStdout, AttachStderr bool
	DetachKeys                              string
	ConsoleSize                             [2]uint16 // rows, columns
}

// ExecInfo is an exec instance as inspect shows it.
type ExecInfo struct {
	ID        string
	SandboxID string
	Config    ExecConfig
	Running   bool
	// ExitCode is nil until the command has ended.
	ExitCode *int
	Pid      int
}

type execInst struct {
	info     ExecInfo
	started  bool
	console  *Console
	done     chan struct{}
	finished time.Time
}

// execTable holds the exec instances; the zero value is ready.
type execTable struct {
	// mu guards m and the instances in it.
	mu sync.Mutex
	m  map[string]*execInst
}

// ExecCreate makes an exec instance for a running sandbox.
func (e *Engine) ExecCreate(ref string, cfg ExecConfig) (string, error) {
	if len(cfg.Args) == 0 {
		return "", cnm.Invalid("no exec command specified")
	}
	sb, err := e.findSandbox(ref)
	if err != nil {
		return "", err
	}
	if e.running(sb) == nil {
		return "", cnm.Conflict("sandbox %s is not running", sb.Name)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	t := &e.execs
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*execInst{}
	}
	for k, x := range t.m {
		if !x.finished.IsZero() && time.Since(x.finished) > execKeep {
			delete(t.m, k)
		}
	}
	t.m[id] = &execInst{info: ExecInfo{ID: id, SandboxID: sb.ID, Config: cfg}, done: make(chan struct{})}
	return id, nil
}

func (e *Engine) execLookup(id string) (*execInst, error) {
	t := &e.execs
	t.mu.Lock()
	defer t.mu.Unlock()
	x := t.m[id]
	if x == nil {
		return nil, cnm.NotFound("No such exec instance: %s", id)
	}
	return x, nil
}

// ExecInspect returns an exec instance.
func (e *Engine) ExecInspect(id string) (ExecInfo, error) {
	x, err := e.execLookup(id)
	if err != nil {
		return ExecInfo{}, err
	}
	e.execs.mu.Lock()
	defer e.execs.mu.Unlock()
	return x.info, nil
}

// ExecIO is where a started exec instance's stdio goes: the files for a
// command without a terminal (nil is /dev/null), Output for one with.
type ExecIO struct {
	Stdin, Stdout, Stderr *os.File
	Output                io.Writer
}

// ExecStart runs an exec instance's command. It returns the command's
// console (nil without a terminal) and a channel closed when the command
// has ended.
func (e *Engine) ExecStart(ctx context.Context, id string, stdio ExecIO) (*Console, <-chan struct{}, error) {
	x, err := e.execLookup(id)
	if err != nil {
		return nil, nil, err
	}
	e.execs.mu.Lock()
	if x.started {
		e.execs.mu.Unlock()
		return nil, nil, cnm.Conflict("exec instance %s has already been started", id)
	}
	x.started = true
	info := x.info
	e.execs.mu.Unlock()
	spec := ExecSpec{Args: info.Config.Args, Env: info.Config.Env, Stdin: stdio.Stdin, Stdout: stdio.Stdout, Stderr: stdio.Stderr}
	var master *os.File
	if info.Config.TTY {
		m, slave, err := openConsole(info.Config.ConsoleSize)
		if err != nil {
			e.execEnded(x, -1)
			return nil, nil, err
		}
		defer slave.Close() // the command holds its own copy
		master = m
		spec.Stdin, spec.Stdout, spec.Stderr, spec.Terminal = slave, slave, slave, true
		spec.Env = withTerm(spec.Env)
	}
	p, err := e.Exec(ctx, info.SandboxID, spec)
	if err != nil {
		if master != nil {
			master.Close()
		}
		e.execEnded(x, 126)
		return nil, nil, err
	}
	var con *Console
	if master != nil {
		con = newConsole(master, nil, stdio.Output)
	}
	e.execs.mu.Lock()
	x.info.Running, x.info.Pid, x.console = true, p.Pid, con
	e.execs.mu.Unlock()
	go func() {
		code, err := p.Wait()
		if err != nil {
			e.log.Warn("wait for exec", "sb", info.SandboxID, "err", err)
		}
		e.execEnded(x, code)
	}()
	return con, x.done, nil
}

func (e *Engine) execEnded(x *execInst, code int) {
	e.execs.mu.Lock()
	defer e.execs.mu.Unlock()
	x.info.Running, x.info.ExitCode, x.finished = false, &code, time.Now()
	close(x.done)
}

// ExecResize sets the window size of an exec instance's terminal.
func (e *Engine) ExecResize(id string, rows, cols uint16) error {
	x, err := e.execLookup(id)
	if err != nil {
		return err
	}
	e.execs.mu.Lock()
	con := x.console
	e.execs.mu.Unlock()
	if con == nil {
		return cnm.Conflict("exec instance %s has no terminal", id)
	}
	return con.Resize(rows, cols)
}
