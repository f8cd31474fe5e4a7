package engine

import (
	"context"
	"slices"
)

// The accessors below serve the Docker Engine API routes (api/): they
// read or act on the same live objects as every other call.

// DriverNames returns the names of the registered network drivers.
func (e *Engine) DriverNames() []string {
	return e.drivers.Names()
}

// RootDir is the directory holding the engine's state.
func (e *Engine) RootDir() string { return e.cfg.Root }

// PruneNetworksMatching removes every custom network without endpoints
// for which match returns true (all of them if match is nil) and
// returns their names, sorted.
func (e *Engine) PruneNetworksMatching(ctx context.Context, match func(NetworkInfo) bool) ([]string, error) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	e.mu.RLock()
	var idle []*network
	for _, n := range e.networks {
		if n.Builtin || len(n.eps) > 0 {
			continue
		}
		if match == nil || match(e.networkInfoLocked(n)) {
			idle = append(idle, n)
		}
	}
	e.mu.RUnlock()
	var removed []string
	for _, n := range idle {
		if err := e.removeNetworkLocked(ctx, n); err != nil {
			slices.Sort(removed)
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	slices.Sort(removed)
	return removed, nil
}
