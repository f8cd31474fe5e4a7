package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store"
)

// Restart policies: the daemon runs a sandbox's command again after it
// exits, as Docker's --restart says, with a growing delay between runs.

// Restart delays: the first, doubled per restart up to the last.
const (
	restartDelayFirst = 100 * time.Millisecond
	restartDelayMax   = time.Minute
)

// ParseRestartPolicy reads --restart: no, always, unless-stopped,
// on-failure or on-failure:N.
func ParseRestartPolicy(s string) (cnm.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	switch name {
	case "", "no", "always", "unless-stopped":
		if hasCount {
			return cnm.RestartPolicy{}, cnm.Invalid("invalid restart policy %q: maximum retry count can only be used with 'on-failure'", s)
		}
		if name == "" {
			name = "no"
		}
		return cnm.RestartPolicy{Name: name}, nil
	case "on-failure":
		p := cnm.RestartPolicy{Name: name}
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return cnm.RestartPolicy{}, cnm.Invalid("invalid restart policy %q: maximum retry count must be a positive integer", s)
			}
			p.MaximumRetryCount = n
		}
		return p, nil
	}
	return cnm.RestartPolicy{}, cnm.Invalid("invalid restart policy %q: use no, always, unless-stopped or on-failure[:max-retries]", s)
}

// shouldRestart says whether p's policy runs it again after it ended
// with code. Stopped by hand, it stays stopped.
func shouldRestart(p *cnm.Process, code int) bool {
	if p.ManuallyStopped || p.AutoRemove {
		return false
	}
	switch p.Restart.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		max := p.Restart.MaximumRetryCount
		return code != 0 && (max == 0 || p.RestartCount < max)
	}
	return false
}

// errRestartCalledOff: a planned restart found the sandbox stopped by hand.
var errRestartCalledOff = errors.New("restart called off: stopped by hand")

// restartDelay is the wait before restart number n+1.
func restartDelay(n int) time.Duration {
	d := restartDelayFirst
	for i := 0; i < n && d < restartDelayMax; i++ {
		d *= 2
	}
	return min(d, restartDelayMax)
}

// restartLater runs sb's command again after the policy's delay, unless
// meanwhile it was started, stopped by hand or removed, or the engine
// closed.
func (e *Engine) restartLater(sb *sbox, count int) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		select {
		case <-time.After(restartDelay(count)):
		case <-e.ctx.Done():
			return
		}
		if _, live := e.sandboxLive(sb.ID); !live {
			return
		}
		e.mu.RLock()
		rec, running := sb.Process, sb.done != nil
		e.mu.RUnlock()
		if running || rec == nil || rec.ManuallyStopped {
			return
		}
		_, _, err := e.start(context.Background(), sb.ID, ProcessSpec{
			Args: rec.Args, Env: rec.Env, Detached: true, TTY: rec.TTY, OpenStdin: rec.OpenStdin,
			Restart: rec.Restart, restartCount: count + 1,
		})
		if err != nil && !errors.Is(err, errRestartCalledOff) {
			e.log.Warn("restart by policy", "sb", sb.Name, "policy", rec.Restart.Name, "err", err)
		}
	}()
}

// restartAfterRestore runs again, once the engine has restored its
// state, the commands that ended while the daemon was down and whose
// policy says so: always even after a stop by hand, unless-stopped and
// on-failure only when not stopped by hand.
func (e *Engine) restartAfterRestore() {
	e.mu.Lock()
	var todo []*sbox
	for _, sb := range e.sandboxes {
		p := sb.Process
		if p == nil || sb.done != nil || p.State != cnm.StateExited {
			continue
		}
		if p.Restart.Name == "always" && !p.AutoRemove {
			p.ManuallyStopped = false
		}
		if shouldRestart(p, p.ExitCode) {
			todo = append(todo, sb)
		}
	}
	e.mu.Unlock()
	for _, sb := range todo {
		e.restartLater(sb, 0)
	}
}

// markStopped records that the sandbox's process is being stopped by
// hand, so its restart policy leaves it stopped.
func (e *Engine) markStopped(sb *sbox) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if sb.Process != nil {
		p := *sb.Process
		p.ManuallyStopped = true
		sb.Process = &p
	}
}

// markStoppedIdle is markStopped for a sandbox whose process is not
// running (a restart may be pending): the mark is saved at once.
func (e *Engine) markStoppedIdle(sb *sbox) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	e.mu.RLock()
	p := sb.Process
	e.mu.RUnlock()
	if p == nil || p.ManuallyStopped || p.Restart.Name == "" || p.Restart.Name == "no" {
		return nil
	}
	e.markStopped(sb)
	if _, live := e.sandboxLive(sb.ID); !live {
		return nil
	}
	if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&sb.Sandbox) }); err != nil {
		return fmt.Errorf("save stopped sandbox %s: %w", sb.Name, err)
	}
	return nil
}
