package engine

import (
	"context"
	"io"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

// StartAgain runs a stopped sandbox's recorded command again, detached,
// in the same sandbox: its namespace, endpoints, addresses, names and
// published ports are the ones it kept while stopped. It reports false,
// doing nothing, when the process already runs.
func (e *Engine) StartAgain(ctx context.Context, ref string) (bool, error) {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return false, err
	}
	e.mu.RLock()
	running, rec := sb.done != nil, sb.Process
	e.mu.RUnlock()
	if running {
		return false, nil
	}
	if rec == nil {
		return false, cnm.Conflict("sandbox %s has no command to start", sb.Name)
	}
	_, err = e.Start(ctx, sb.ID, ProcessSpec{
		Args: rec.Args, Env: rec.Env, Detached: true, AutoRemove: rec.AutoRemove,
		TTY: rec.TTY, OpenStdin: rec.OpenStdin, Restart: rec.Restart,
	})
	return err == nil, err
}

// Restart stops the sandbox's process (as Stop) and starts its command
// again (as StartAgain).
func (e *Engine) Restart(ctx context.Context, ref string, timeout time.Duration) error {
	if err := e.Stop(ctx, ref, timeout); err != nil {
		return err
	}
	_, err := e.StartAgain(ctx, ref)
	return err
}

// Console returns the terminal of a sandbox's running process, or nil
// when it runs without one. A process re-adopted after a restart has
// its terminal back from its holder (see sandbox.HoldPTY), if it could
// be taken.
func (e *Engine) Console(ref string) (*Console, error) {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if sb.done == nil {
		return nil, cnm.Conflict("You cannot attach to a stopped container, start it first")
	}
	if sb.Process != nil && sb.Process.TTY {
		if sb.tty == nil {
			return nil, cnm.Unavailable("sandbox %s's terminal could not be taken back after the daemon restarted", sb.Name)
		}
		return sb.tty, nil
	}
	return nil, nil
}

// AttachNext makes w get the output of the terminal of the next process
// started in the sandbox from its first byte, for an attachment made
// before a start. withdraw takes w back and reports true if no process
// started meanwhile.
func (e *Engine) AttachNext(ref string, w io.Writer) (withdraw func() bool, err error) {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return nil, err
	}
	key := new(int)
	e.mu.Lock()
	defer e.mu.Unlock()
	if sb.nextTTY == nil {
		sb.nextTTY = map[*int]io.Writer{}
	}
	sb.nextTTY[key] = w
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		_, pending := sb.nextTTY[key]
		delete(sb.nextTTY, key)
		return pending
	}, nil
}

// UntilStarted waits until the sandbox's process runs, or one was
// started after the given time (it may have ended already), polling: a
// start may come from another client. It fails if the sandbox is
// removed or ctx ends.
func (e *Engine) UntilStarted(ctx context.Context, ref string, after time.Time) error {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return err
	}
	for {
		e.mu.RLock()
		running := sb.done != nil
		started := sb.Process != nil && sb.Process.Started.After(after)
		e.mu.RUnlock()
		if running || started {
			return nil
		}
		if _, live := e.sandboxLive(sb.ID); !live {
			return cnm.NotFound("sandbox %s was removed", sb.Name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(runPoll):
		}
	}
}

// runPoll is how often UntilStarted looks.
const runPoll = 50 * time.Millisecond
