package engine

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/portspec"
)

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
