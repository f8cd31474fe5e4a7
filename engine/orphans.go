package engine

import (
	"context"
	"slices"
	"time"

	"github.com/patchbay/patchbay/sandbox"
)

// orphanTimeout bounds the whole sweep of unexplained processes.
const orphanTimeout = 10 * time.Second

// orphanRounds bounds how often the sweep looks again for processes that
// unexplained ones forked while being killed.
const orphanRounds = 5

// maxAncestry bounds the walk up a process's parents.
const maxAncestry = 64

// killOrphans kills every process running in the network namespace of a
// sandbox this engine made that no record explains: the child of a
// daemon that died before it recorded it, or a process exec'd into a
// sandbox for a client that went away with the daemon. A process is
// explained by the running process of a sandbox in that namespace (its
// own or shared through --network container:): it is that process, in
// its session, or one of its descendants. Adopted and host namespaces
// are not ours to sweep, and the daemon itself is never a candidate.
// Restore calls it once processes are re-adopted.
func (e *Engine) killOrphans(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, orphanTimeout)
	defer cancel()
	names := map[sandbox.NetnsKey]string{} // namespace -> owner's name
	leaders := map[sandbox.NetnsKey][]int{}
	e.mu.RLock()
	for _, sb := range e.sandboxes {
		owner := sb
		if sb.Container != "" {
			owner = e.sandboxes[sb.Container]
		}
		if owner == nil || owner.HostNetwork || owner.Adopted || owner.NetnsPath == "" {
			continue
		}
		key, err := sandbox.NetnsKeyOf(owner.NetnsPath)
		if err != nil {
			continue
		}
		names[key] = owner.Name
		if sb.proc != nil {
			// Held by pidfd after its start time was checked: while it
			// runs, its pid (and session id) is no one else's.
			leaders[key] = append(leaders[key], sb.proc.Pid)
		}
	}
	e.mu.RUnlock()
	if len(names) == 0 {
		return
	}
	keys := map[sandbox.NetnsKey]bool{}
	for k := range names {
		keys[k] = true
	}
	for range orphanRounds {
		procs, err := sandbox.ProcessesIn(keys)
		if err != nil {
			e.log.Warn("look for unexplained processes", "err", err)
			return
		}
		killed := 0
		for _, p := range procs {
			if explained(p, leaders[p.Netns]) {
				continue
			}
			e.log.Info("killing a process no record explains", "sb", names[p.Netns], "pid", p.Pid)
			if err := sandbox.KillInNetns(ctx, p); err != nil {
				e.log.Warn("kill unexplained process", "sb", names[p.Netns], "pid", p.Pid, "err", err)
				continue
			}
			killed++
		}
		if killed == 0 || ctx.Err() != nil {
			return
		}
	}
}

// explained reports whether p is one of leaders, in the session of one,
// or descended from one.
func explained(p sandbox.NetnsProcess, leaders []int) bool {
	if slices.Contains(leaders, p.Pid) || slices.Contains(leaders, p.Session) {
		return true
	}
	for pid, i := p.PPid, 0; pid > 1 && i < maxAncestry; i++ {
		if slices.Contains(leaders, pid) {
			return true
		}
		st, err := sandbox.ReadProcStat(pid)
		if err != nil {
			return false
		}
		pid = st.PPid
	}
	return false
}
