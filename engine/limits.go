package engine

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/portspec"
)

// MaxNameLen bounds network and sandbox names (aliases and hostnames
// are DNS names, bounded alike): sandbox names are served by the
// embedded DNS, whose names hold at most 253 characters.
const MaxNameLen = 253

// checkNameLen refuses a name longer than MaxNameLen; kind is "network"
// or "sandbox". The error quotes only the name's beginning.
func checkNameLen(kind, name string) error {
	if len(name) <= MaxNameLen {
		return nil
	}
	return cnm.Invalid("invalid %s name %q…: %d characters, at most %d are allowed", kind, name[:32], len(name), MaxNameLen)
}

// checkDescriptors refuses to publish specs if the sockets they hold
// (one per port and address family, at most) would take the daemon's
// held port sockets past three quarters of its descriptor limit: the
// rest stays for clients, netlink, the store and the namespaces. Caller
// holds opMu, so the count cannot grow meanwhile.
func (e *Engine) checkDescriptors(specs []portspec.Spec) error {
	want := 0
	for _, s := range specs {
		want += 2 * s.Ports.Len()
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("get the descriptor limit: %w", err)
	}
	budget := lim.Cur / 4 * 3
	held := 0
	e.mu.RLock()
	for _, sb := range e.sandboxes {
		held += len(sb.portFDs)
	}
	e.mu.RUnlock()
	if uint64(held+want) > budget {
		return cnm.Unavailable("cannot publish %d more ports: the daemon holds %d port sockets and keeps them under %d (3/4 of its descriptor limit %d)",
			want/2, held, budget, lim.Cur)
	}
	return nil
}
