package engine

import (
	"fmt"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store"
)

// createShared creates a sandbox in another sandbox's namespace
// (--network container:NAME): the same interfaces, addresses and lo, and
// the same hostname, hosts and resolv.conf, with no endpoint of its own.
func (e *Engine) createShared(req SandboxCreate, ref string) (cnm.Sandbox, error) {
	for _, c := range []struct {
		set  bool
		flag string
	}{
		{req.Hostname != "", "--hostname"}, {len(req.Ports) > 0, "--publish"}, {len(req.Expose) > 0, "--expose"},
		{req.PublishAll, "--publish-all"}, {!req.DNS.empty(), "--dns, --dns-search, --dns-option, --add-host, --domainname or --link"},
		{req.Endpoint.IPv4 != "" || req.Endpoint.IPv6 != "" || req.Endpoint.MAC != "" || len(req.Endpoint.Aliases) > 0, "--ip, --ip6, --mac-address or --network-alias"},
		{req.AdoptPID != 0 || req.AdoptNetns != "", "--pid or --netns"},
	} {
		if c.set {
			return cnm.Sandbox{}, cnm.Invalid("conflicting options: %s and --network container:%s", c.flag, ref)
		}
	}
	if ref == "" {
		return cnm.Sandbox{}, cnm.Invalid("--network container: needs a sandbox name or ID")
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	target, err := e.findSandbox(ref)
	if err != nil {
		return cnm.Sandbox{}, cnm.NotFound("--network container:%s: no such sandbox", ref)
	}
	if target.Container != "" {
		// Share with the namespace's owner, so removal order is simple.
		e.mu.RLock()
		owner := e.sandboxes[target.Container]
		e.mu.RUnlock()
		if owner == nil {
			return cnm.Sandbox{}, cnm.NotFound("--network container:%s: its namespace is gone", ref)
		}
		target = owner
	}
	if target.Adopted {
		return cnm.Sandbox{}, cnm.Invalid("--network container:%s: it has an adopted namespace", ref)
	}
	sb := &sbox{Sandbox: cnm.Sandbox{
		ID: newID(), Name: req.Name, Hostname: target.Hostname, Created: time.Now(),
		NetnsPath: target.NetnsPath, HostNetwork: target.HostNetwork, Container: target.ID,
	}}
	if err := e.pickName(sb); err != nil {
		return cnm.Sandbox{}, err
	}
	if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&sb.Sandbox) }); err != nil {
		return cnm.Sandbox{}, fmt.Errorf("save sandbox %s: %w", sb.Name, err)
	}
	e.mu.Lock()
	e.sandboxes[sb.ID] = sb
	e.mu.Unlock()
	return sb.Sandbox, nil
}

// dependents are the sandboxes sharing id's namespace.
func (e *Engine) dependents(id string) []*sbox {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []*sbox
	for _, sb := range e.sandboxes {
		if sb.Container == id {
			out = append(out, sb)
		}
	}
	return out
}

// filesOwner is the sandbox whose files (and hostname) sb's processes
// see: its own, or those of the sandbox whose namespace it shares.
func (e *Engine) filesOwner(sb *sbox) *sbox {
	if sb.Container == "" {
		return sb
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if o := e.sandboxes[sb.Container]; o != nil {
		return o
	}
	return sb
}
