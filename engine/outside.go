package engine

import "github.com/patchbay/patchbay/cnm"

// Failure isolation. opMu serialises the engine's operations, and the
// calls of in-process drivers (microseconds of netlink) run under it. A
// call that leaves the process (a plugin's driver) may take up to its
// deadline, so it runs with opMu released: one slow or hung plugin then
// delays only the operations on its own networks. While opMu is
// released the operation's objects are held in the in-flight marks
// below, which the other operations respect:
//
//   - a network with a join in flight (network.pending) cannot be removed;
//   - a sandbox with an operation in flight (sbox.busy) cannot be joined,
//     left or removed by another, which fails with a conflict;
//   - a sandbox or network name being created (Engine.reserved) is taken.
//
// After the call the operation takes opMu again and re-validates what it
// found before (the sandbox and network are still there) before it
// commits; otherwise it undoes the call.

// outside runs fn, calls for network n, with opMu released when they
// leave the process (see leavesProcess). Caller holds opMu, and holds it again when outside
// returns.
func (e *Engine) outside(n *network, fn func() error) error {
	if !e.leavesProcess(n) {
		return fn()
	}
	e.opMu.Unlock()
	defer e.opMu.Lock()
	return fn()
}

// leavesProcess reports whether operations on n call out of the
// process: a plugin driver or IPAM driver, or the cluster store of a
// global network.
func (e *Engine) leavesProcess(n *network) bool {
	return n.d == nil || n.cap.OutOfProcess ||
		n.IPAM.Driver != "" && n.IPAM.Driver != "default" ||
		isGlobal(n) && e.cfg.Cluster != nil
}

// reserveName marks a name as being created, so no other operation takes
// it while opMu is released; the returned func frees it. Caller holds
// opMu.
func (e *Engine) reserveName(kind, name string) func() {
	key := kind + ":" + name
	e.mu.Lock()
	e.reserved[key] = true
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		delete(e.reserved, key)
		e.mu.Unlock()
	}
}

// allNetworksLocked returns the networks, with those being created.
// Caller holds mu.
func (e *Engine) allNetworksLocked() []*network {
	out := make([]*network, 0, len(e.networks)+len(e.creating))
	for _, n := range e.networks {
		out = append(out, n)
	}
	for _, n := range e.creating {
		out = append(out, n)
	}
	return out
}

// busyError is the conflict of an operation on a sandbox another
// operation holds.
func busyError(sb *sbox) error {
	return cnm.Conflict("sandbox %s is busy: another operation on it is in progress", sb.Name)
}

// nameReserved reports whether a name is being created. Caller holds mu.
func (e *Engine) nameReservedLocked(kind, name string) bool {
	return e.reserved[kind+":"+name]
}

// stillThere re-validates, after opMu was released, that a network and a
// sandbox are still the engine's. Caller holds opMu.
func (e *Engine) stillThere(n *network, sb *sbox) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.networks[n.ID] != n {
		return cnm.NotFound("network %s was removed meanwhile", n.Name)
	}
	if sb != nil && e.sandboxes[sb.ID] != sb {
		return cnm.NotFound("sandbox %s was removed meanwhile", sb.Name)
	}
	return nil
}
