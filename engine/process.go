package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/internal/logfile"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/patchbay/patchbay/store"
)

// ProcessSpec is the command to run in a sandbox.
type ProcessSpec struct {
	Args []string
	Env  []string
	// Detached processes write stdout and stderr to the sandbox's log
	// and read nothing; others use the given files.
	Detached   bool
	AutoRemove bool
	// TTY runs the process on a new pseudo-terminal that the daemon holds
	// (see Console), sized ConsoleSize (rows, columns) and logged; Output,
	// if set, is attached to it before the process runs. The Stdin,
	// Stdout and Stderr files are then unused.
	TTY         bool
	ConsoleSize [2]uint16
	Output      io.Writer
	// OpenStdin records that the process was started to read input.
	OpenStdin bool
	// Restart is the restart policy (see restart.go); restartCount is
	// set when the policy restarts it.
	Restart      cnm.RestartPolicy
	restartCount int
	Stdin        *os.File
	Stdout       *os.File
	Stderr       *os.File
}

// Start runs a command in a sandbox. It returns once the command is
// executing (or failed to start). The process is in its own session, so
// it keeps running if the daemon dies, and is re-adopted on restart.
func (e *Engine) Start(ctx context.Context, ref string, spec ProcessSpec) (cnm.Process, error) {
	rec, _, err := e.StartConsole(ctx, ref, spec)
	return rec, err
}

// StartConsole is Start that also returns the process's console when
// spec.TTY is set.
func (e *Engine) StartConsole(ctx context.Context, ref string, spec ProcessSpec) (cnm.Process, *Console, error) {
	return e.start(ctx, ref, spec)
}

func (e *Engine) start(ctx context.Context, ref string, spec ProcessSpec) (cnm.Process, *Console, error) {
	if len(spec.Args) == 0 {
		return cnm.Process{}, nil, cnm.Invalid("no command given")
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	sb, err := e.findSandbox(ref)
	if err != nil {
		return cnm.Process{}, nil, err
	}
	if e.running(sb) != nil {
		return cnm.Process{}, nil, cnm.Conflict("sandbox %s already runs a process", sb.Name)
	}
	if spec.restartCount > 0 {
		// A restart by policy, called off by a stop since it was planned.
		e.mu.RLock()
		stopped := sb.Process != nil && sb.Process.ManuallyStopped
		e.mu.RUnlock()
		if stopped {
			return cnm.Process{}, nil, errRestartCalledOff
		}
	}
	ps := sandbox.ProcSpec{
		Args: spec.Args, Env: spec.Env, NetnsPath: sb.NetnsPath,
		Stdin: spec.Stdin, Stdout: spec.Stdout, Stderr: spec.Stderr,
	}
	if sb.HostNetwork {
		ps.NetnsPath = e.cfg.HostNetns
	}
	if files := e.filesOwner(sb); !files.HostNetwork && !files.Adopted {
		if err := e.writeFiles(files); err != nil {
			return cnm.Process{}, nil, err
		}
		ps.Hostname = files.Hostname
		dir := e.filesDir(files.ID)
		for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
			ps.Mounts = append(ps.Mounts, sandbox.Mount{Source: filepath.Join(dir, f), Target: "/etc/" + f})
		}
	}
	rec := &cnm.Process{Args: spec.Args, Env: spec.Env, Detached: spec.Detached, AutoRemove: spec.AutoRemove, TTY: spec.TTY, OpenStdin: spec.OpenStdin,
		Restart: spec.Restart, RestartCount: spec.restartCount}
	if spec.TTY {
		ps.Env = withTerm(ps.Env)
	}
	finish, err := e.processStdio(sb, spec, &ps, rec)
	if err != nil {
		return cnm.Process{}, nil, err
	}
	// Held before exec until the record is committed: if the daemon dies
	// first, the process exits without running the command.
	ps.Hold = true
	p, err := sandbox.Start(ps)
	if err != nil {
		p = nil
	}
	pio := finish(sb, p)
	con := pio.console
	if err != nil {
		return cnm.Process{}, nil, fmt.Errorf("start %s in sandbox %s: %w", spec.Args[0], sb.Name, err)
	}
	crashPoint(crashAfterFork)
	rec.State, rec.Pid, rec.StartTime, rec.Started = cnm.StateRunning, p.Pid, p.StartTime, time.Now()
	done := make(chan struct{})
	e.mu.Lock()
	prev, prevTTY := sb.Process, sb.tty
	sb.Process, sb.done, sb.proc, sb.stdin = rec, done, p, pio.stdin
	if con != nil {
		sb.tty = con
	}
	e.mu.Unlock()
	undo := func() {
		_, _ = p.Wait() // aborts a held process
		e.mu.Lock()
		sb.Process, sb.done, sb.proc, sb.tty, sb.stdin = prev, nil, nil, prevTTY, nil
		e.mu.Unlock()
		if pio.stdin != nil {
			pio.stdin.Close()
		}
		close(done)
	}
	if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&sb.Sandbox) }); err != nil {
		undo()
		return cnm.Process{}, nil, fmt.Errorf("save process: %w", err)
	}
	crashPoint(crashAfterCommit)
	if err := p.Release(); err != nil {
		undo()
		if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&sb.Sandbox) }); err != nil {
			e.log.Warn("save sandbox after a failed start", "sb", sb.Name, "err", err)
		}
		return cnm.Process{}, nil, fmt.Errorf("start %s in sandbox %s: %w", spec.Args[0], sb.Name, err)
	}
	// Not tracked by e.wg: a child outlives Close (live restore), and
	// processExited ignores exits after Close.
	go func() {
		code, err := p.Wait()
		if err != nil {
			e.log.Warn("wait for process", "sb", sb.Name, "err", err)
		}
		awaitLog(pio.drained)
		e.processExited(sb, code)
	}()
	return *rec, con, nil
}

// logDrain bounds how long a detached process's end waits for the log
// holder to write its last output: a child of the process that still
// holds the pipes keeps its output open.
const logDrain = time.Second

// procIO is what a started process leaves the daemon besides itself.
type procIO struct {
	// console is its terminal, if it has one.
	console *Console
	// drained, for a detached process, is closed once its output is all
	// in the log.
	drained <-chan struct{}
	// stdin is its input, when it reads input without a terminal.
	stdin *os.File
}

// processStdio sets up ps's stdio for spec: a new terminal, pipes to
// the log holder for a detached process (and a stdin pipe if it reads
// input), or the caller's files. The returned function is called once
// the process started (p, nil if it failed to); it releases what the
// process does not keep.
func (e *Engine) processStdio(sb *sbox, spec ProcessSpec, ps *sandbox.ProcSpec, rec *cnm.Process) (func(sb *sbox, p *sandbox.Process) procIO, error) {
	if !spec.TTY && !spec.Detached {
		return func(*sbox, *sandbox.Process) procIO { return procIO{} }, nil
	}
	log, err := logfile.Open(e.logPath(sb.ID))
	if err != nil {
		return nil, err
	}
	rec.LogPath = e.logPath(sb.ID)
	if !spec.TTY {
		finish, err := e.holdLog(log, spec, ps)
		if err != nil {
			log.Close()
		}
		return finish, err
	}
	master, slave, err := openConsole(spec.ConsoleSize)
	if err != nil {
		log.Close()
		return nil, err
	}
	ps.Stdin, ps.Stdout, ps.Stderr, ps.Terminal = slave, slave, slave, true
	return func(_ *sbox, p *sandbox.Process) procIO {
		slave.Close() // the process holds its own copy
		if p == nil {
			master.Close()
			log.Close()
			return procIO{}
		}
		e.mu.Lock()
		outs := []io.Writer{spec.Output}
		for _, w := range sb.nextTTY {
			outs = append(outs, w)
		}
		sb.nextTTY = nil
		e.mu.Unlock()
		// The terminal outlives this daemon in a holder, so the process
		// gets no hangup if the daemon dies, and the next one takes the
		// terminal back (see watch).
		if h, err := sandbox.HoldPTY(master); err != nil {
			e.log.Warn("hold terminal", "sb", sb.Name, "err", err)
		} else {
			rec.TTYHolder, rec.TTYHolderStart = h.Pid, h.StartTime
			go func() { _, _ = h.Wait() }() // it exits when the terminal hangs up
		}
		return procIO{console: newConsole(master, log, outs...)}
	}, nil
}

// holdLog gives a detached process without a terminal pipes for its
// stdout and stderr whose read ends go to the log holder, which writes
// its output to log so that none is lost while the daemon is away, and
// with spec.OpenStdin a stdin pipe whose write end the holder keeps too
// (Docker keeps a -i container's input open for attach). It closes log.
func (e *Engine) holdLog(log *logfile.Writer, spec ProcessSpec, ps *sandbox.ProcSpec) (func(*sbox, *sandbox.Process) procIO, error) {
	// A holder is running before the process is.
	if err := e.logs.Ensure(); err != nil {
		return nil, err
	}
	var pipes [3][2]*os.File // stdout, stderr, stdin: read and write ends
	closeAll := func() {
		for _, p := range pipes {
			for _, f := range p {
				if f != nil {
					f.Close()
				}
			}
		}
	}
	n := 2
	if spec.OpenStdin {
		n = 3
	}
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open process output: %w", err)
		}
		pipes[i] = [2]*os.File{r, w}
	}
	ps.Stdout, ps.Stderr = pipes[0][1], pipes[1][1]
	inR, inW := pipes[2][0], pipes[2][1]
	if inR != nil {
		ps.Stdin = inR
	}
	return func(sb *sbox, p *sandbox.Process) procIO {
		defer log.Close()
		// The process holds its own copies of its ends; the holder gets
		// ours of the others.
		pipes[0][1].Close()
		pipes[1][1].Close()
		if inR != nil {
			inR.Close()
		}
		defer pipes[0][0].Close()
		defer pipes[1][0].Close()
		if p == nil {
			if inW != nil {
				inW.Close()
			}
			return procIO{}
		}
		key := sandbox.LogKey{ID: sb.ID, Pid: p.Pid, Start: p.StartTime}
		drained, err := e.logs.Hold(key, pipes[0][0], pipes[1][0], log.File(), inW)
		if err != nil {
			// Its output is lost (it gets SIGPIPE); the process runs.
			e.log.Warn("hold process output", "sb", sb.Name, "err", err)
		}
		return procIO{drained: drained, stdin: inW}
	}, nil
}

// awaitLog waits until drained is closed (nil: nothing to wait for),
// at most logDrain.
func awaitLog(drained <-chan struct{}) {
	if drained == nil {
		return
	}
	select {
	case <-drained:
	case <-time.After(logDrain):
	}
}

// watch re-adopts a process that survived a daemon restart, holding it
// by pidfd. Its exit status cannot be collected: it is not our child.
func (e *Engine) watch(sb *sbox) {
	done := make(chan struct{})
	sb.done = done
	p, err := sandbox.Adopt(sb.Process.Pid, sb.Process.StartTime)
	if err != nil {
		// Gone since restore looked: it is recorded as exited below.
		e.log.Info("re-adopt process", "sb", sb.Name, "err", err)
	}
	sb.proc = p
	if rec := sb.Process; p != nil && rec.TTY && rec.TTYHolder > 0 {
		sb.tty = e.retakeConsole(sb, rec)
	}
	var drained <-chan struct{}
	if rec := sb.Process; rec.Detached && !rec.TTY {
		key := sandbox.LogKey{ID: sb.ID, Pid: rec.Pid, Start: rec.StartTime}
		drained = e.logs.Draining(key)
		if p != nil && rec.OpenStdin {
			in, err := e.logs.TakeStdin(e.ctx, key)
			if err != nil {
				e.log.Info("take stdin back", "sb", sb.Name, "err", err)
			}
			sb.stdin = in
		}
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if p != nil {
			defer p.Close()
			if err := p.WaitExit(e.ctx); err != nil {
				return // engine closing: the process lives on
			}
		}
		awaitLog(drained)
		e.processExited(sb, -1)
	}()
}

// withTerm adds TERM=xterm unless env sets TERM, as Docker does for a
// process with a terminal.
func withTerm(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "TERM=") {
			return env
		}
	}
	return append(slices.Clone(env), "TERM=xterm")
}

// retakeConsole takes a re-adopted process's terminal back from its
// holder; nil if it cannot (the process then runs without a console).
func (e *Engine) retakeConsole(sb *sbox, rec *cnm.Process) *Console {
	master, err := sandbox.TakePTY(rec.TTYHolder, rec.TTYHolderStart)
	if err != nil {
		e.log.Info("take terminal back", "sb", sb.Name, "err", err)
		return nil
	}
	log, err := logfile.Open(e.logPath(sb.ID))
	if err != nil {
		e.log.Warn("open log", "sb", sb.Name, "err", err)
		return newConsole(master, nil)
	}
	return newConsole(master, log)
}

// processExited records a process's end and removes an auto-remove
// sandbox.
func (e *Engine) processExited(sb *sbox, code int) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if e.ctx.Err() != nil {
		return // closed: the next engine re-adopts or records the exit
	}
	e.mu.Lock()
	done := sb.done
	proc := *sb.Process
	proc.State, proc.ExitCode, proc.Finished = cnm.StateExited, code, time.Now()
	if sb.stdin != nil {
		sb.stdin.Close()
	}
	sb.Process, sb.done, sb.proc, sb.stdin = &proc, nil, nil, nil
	e.mu.Unlock()
	defer close(done)
	if _, still := e.sandboxLive(sb.ID); !still {
		return
	}
	if proc.AutoRemove {
		if err := e.removeSandboxLocked(context.Background(), sb.ID); err != nil {
			e.log.Warn("auto-remove sandbox", "sb", sb.Name, "err", err)
		}
		return
	}
	if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&sb.Sandbox) }); err != nil {
		e.log.Warn("save process exit", "sb", sb.Name, "err", err)
	}
	if shouldRestart(&proc, code) {
		e.restartLater(sb, proc.RestartCount)
	}
}

func (e *Engine) sandboxLive(id string) (*sbox, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	sb, ok := e.sandboxes[id]
	return sb, ok
}

// running returns the channel closed when the sandbox's process exits,
// or nil if none runs.
func (e *Engine) running(sb *sbox) chan struct{} {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return sb.done
}

// Wait blocks until the sandbox's process exits and returns its exit
// code (-1 if it ended while the daemon was down).
func (e *Engine) Wait(ctx context.Context, ref string) (int, error) {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return 0, err
	}
	if done := e.running(sb); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if sb.Process == nil {
		return 0, cnm.Conflict("sandbox %s has no process", sb.Name)
	}
	return sb.Process.ExitCode, nil
}

// Kill sends a signal to the sandbox's process group. A process that
// exits meanwhile counts as signalled.
func (e *Engine) Kill(ref string, sig syscall.Signal) error {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return err
	}
	e.mu.RLock()
	p := sb.proc
	e.mu.RUnlock()
	if p == nil {
		return cnm.Conflict("sandbox %s is not running", sb.Name)
	}
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP:
		e.markStopped(sb) // its restart policy leaves it stopped
	}
	return signalProcess(sb, p, sig)
}

// signalIfRunning sends sig to sb's process if one runs; none running,
// or one exiting meanwhile, is success (for stop and forced removal).
func (e *Engine) signalIfRunning(sb *sbox, sig syscall.Signal) error {
	e.mu.RLock()
	p := sb.proc
	e.mu.RUnlock()
	if p == nil {
		return nil
	}
	return signalProcess(sb, p, sig)
}

// signalProcess signals p through its pidfd, which names that process
// and no other even once the pid is reused.
func signalProcess(sb *sbox, p *sandbox.Process, sig syscall.Signal) error {
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal sandbox %s: %w", sb.Name, err)
	}
	return nil
}

// Stop sends SIGTERM, then SIGKILL after timeout, and waits for the
// process to exit. Stopping a sandbox that is not running is a no-op.
func (e *Engine) Stop(ctx context.Context, ref string, timeout time.Duration) error {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return err
	}
	done := e.running(sb)
	if done == nil {
		// A restart the policy has scheduled is called off.
		return e.markStoppedIdle(sb)
	}
	e.markStopped(sb)
	if err := e.signalIfRunning(sb, syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := e.signalIfRunning(sb, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExecSpec is a command to run inside a running sandbox.
type ExecSpec struct {
	Args                  []string
	Env                   []string
	Stdin, Stdout, Stderr *os.File
	// Terminal: Stdin is a terminal's slave, to become the command's
	// controlling terminal.
	Terminal bool
}

// Exec runs a command in the namespaces of the sandbox's running process
// and returns it; the caller waits for it.
func (e *Engine) Exec(ctx context.Context, ref string, spec ExecSpec) (*sandbox.Process, error) {
	if len(spec.Args) == 0 {
		return nil, cnm.Invalid("no command given")
	}
	sb, err := e.findSandbox(ref)
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	target := sb.proc
	e.mu.RUnlock()
	if target == nil {
		return nil, cnm.Conflict("sandbox %s is not running", sb.Name)
	}
	p, err := sandbox.Exec(sandbox.ExecSpec{Target: target, Args: spec.Args, Env: spec.Env, Stdin: spec.Stdin, Stdout: spec.Stdout, Stderr: spec.Stderr, Terminal: spec.Terminal})
	if errors.Is(err, os.ErrProcessDone) {
		return nil, cnm.Conflict("sandbox %s is not running", sb.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("exec in sandbox %s: %w", sb.Name, err)
	}
	return p, nil
}

// Stdin returns the input of a sandbox's running process that was
// started to read input without a terminal (run -d -i); nil when it has
// none. Writes fail once the process has exited.
func (e *Engine) Stdin(ref string) (io.Writer, error) {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if sb.stdin == nil {
		return nil, nil
	}
	return sb.stdin, nil
}

// LogPath returns the log file of a sandbox's detached process.
func (e *Engine) LogPath(ref string) (string, error) {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return "", err
	}
	return e.logPath(sb.ID), nil
}
