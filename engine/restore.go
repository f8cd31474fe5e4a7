package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/patchbay/patchbay/store"
)

// restore loads the state file and reconciles the kernel with it: every
// network and endpoint is re-asserted (re-created where the kernel lost
// it), processes that survived are re-adopted, and kernel objects
// carrying this engine's tag that no record explains are removed. It is
// the same path after a clean stop, a crash or a reboot.
func (e *Engine) restore(ctx context.Context) error {
	var nets []*cnm.Network
	var eps []*cnm.Endpoint
	var sbs []*cnm.Sandbox
	err := e.store.View(func(tx *store.Tx) error {
		var err error
		if nets, err = tx.Networks(); err != nil {
			return err
		}
		if eps, err = tx.Endpoints(); err != nil {
			return err
		}
		sbs, err = tx.Sandboxes()
		return err
	})
	if err != nil {
		return err
	}
	for _, rec := range nets {
		if err := e.restoreNetwork(ctx, rec); err != nil {
			e.log.Warn("restore network", "net", rec.Name, "err", err)
		}
	}
	var drop []string // sandbox records to delete
	fresh := map[string]bool{}
	for _, rec := range sbs {
		sb := &sbox{Sandbox: *rec}
		if sb.Container != "" {
			// Shares another's namespace, restored with it (below).
			e.sandboxes[sb.ID] = sb
			continue
		}
		if !sb.HostNetwork && !sandbox.IsNetns(sb.NetnsPath) {
			if sb.Adopted {
				drop = append(drop, sb.ID)
				continue
			}
			// Lost with a reboot or a wiped exec-root: the process went
			// with it; make a new namespace and rejoin the endpoints.
			if err := e.pool.Create(sb.NetnsPath); err != nil {
				e.log.Warn("recreate sandbox namespace", "sb", sb.Name, "err", err)
				drop = append(drop, sb.ID)
				continue
			}
			fresh[sb.ID] = true
		}
		e.sandboxes[sb.ID] = sb
		e.rereserve(sb)
	}
	for _, sb := range e.sandboxes {
		if owner := e.sandboxes[sb.Container]; sb.Container != "" && owner == nil {
			delete(e.sandboxes, sb.ID)
			drop = append(drop, sb.ID)
		} else if owner != nil && fresh[owner.ID] {
			fresh[sb.ID] = true // its process went with the namespace
		}
	}
	var dropEps []string
	for _, ep := range eps {
		n, sb := e.networks[ep.NetworkID], e.sandboxes[ep.SandboxID]
		if n == nil || sb == nil {
			dropEps = append(dropEps, ep.ID)
			continue
		}
		e.reserveEndpoint(ctx, n, ep)
		n.eps[ep.ID] = ep
		sb.eps = append(sb.eps, ep)
		sb.seq = max(sb.seq, ep.Seq)
		e.indexEndpoint(n, sb, ep)
	}
	for _, sb := range e.sandboxes {
		slices.SortFunc(sb.eps, func(a, b *cnm.Endpoint) int { return int(a.Seq) - int(b.Seq) })
		e.indexSandbox(sb)
		e.restoreEndpoints(ctx, sb, fresh[sb.ID])
		if _, err := os.Stat(e.filesDir(sb.ID)); err == nil {
			if err := e.writeFiles(sb); err != nil {
				e.log.Warn("rewrite sandbox files", "sb", sb.Name, "err", err)
			}
		}
		e.restoreProcess(sb, fresh[sb.ID])
	}
	if len(drop) > 0 || len(dropEps) > 0 {
		err := e.update(func(tx *store.Tx) error {
			for _, id := range drop {
				if err := tx.DeleteSandbox(id); err != nil {
					return err
				}
			}
			for _, ep := range eps {
				if slices.Contains(drop, ep.SandboxID) || slices.Contains(dropEps, ep.ID) {
					if err := tx.DeleteEndpoint(ep.ID); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	e.sweep(ctx)
	e.killOrphans(ctx)
	// Auto-remove sandboxes whose process ended while we were away.
	for _, sb := range e.sandboxes {
		if sb.Process != nil && sb.Process.AutoRemove && sb.done == nil {
			e.opMu.Lock()
			_ = e.removeSandboxLocked(ctx, sb.ID)
			e.opMu.Unlock()
		}
	}
	return nil
}

func (e *Engine) restoreNetwork(ctx context.Context, rec *cnm.Network) error {
	n := &network{Network: *rec, eps: map[string]*cnm.Endpoint{}}
	e.networks[n.ID] = n
	e.indexNetwork(n)
	bindErr := e.bind(ctx, n)
	if err := e.replayPools(ctx, n, bindErr == nil); err != nil {
		e.log.Warn("restore network addresses", "net", n.Name, "err", err)
	}
	if bindErr != nil {
		// Listed, unavailable, retried when next used.
		return bindErr
	}
	return e.reassert(ctx, n)
}

// replayPools requests a restored network's pools, gateways and
// auxiliary addresses again from its IPAM driver (which keeps them in
// memory), and saves the record once if that named its pools for the
// first time (a record written before pool IDs were kept).
func (e *Engine) replayPools(ctx context.Context, n *network, bound bool) error {
	if len(n.IPAM.Config) == 0 {
		return nil
	}
	// A LAN segment's pools are named by its network; when its driver is
	// away, the stored pool IDs say so.
	external := n.cap.External
	named := false
	for _, c := range n.IPAM.Config {
		if k, err := ipam.ParsePoolID(c.PoolID); err == nil && k.Name != "" {
			named = true
		}
	}
	if !bound {
		external = named
	}
	before := slices.Clone(n.IPAM.Config)
	if _, err := e.requestPools(ctx, n, external, true); err != nil {
		n.IPAM.Config = before
		return err
	}
	same := n.Cursors == nil
	for i, c := range n.IPAM.Config {
		same = same && c.PoolID == before[i].PoolID
	}
	if same {
		return nil
	}
	n.Cursors = nil
	return e.update(func(tx *store.Tx) error { return tx.PutNetwork(&n.Network) })
}

// restoreEndpoints re-joins the sandbox's endpoints whose kernel side is
// missing, and restores its default routes through them.
func (e *Engine) restoreEndpoints(ctx context.Context, sb *sbox, fresh bool) {
	e.sweepSandbox(sb)
	var rejoined []*cnm.Endpoint
	for _, ep := range sb.eps {
		if e.restoreEndpoint(ctx, e.networks[ep.NetworkID], sb, ep, fresh) {
			rejoined = append(rejoined, ep)
		}
	}
	e.restoreRoutes(sb, rejoined)
}

// restoreNetworkEndpoints re-joins the endpoints of a network whose
// driver came back.
func (e *Engine) restoreNetworkEndpoints(ctx context.Context, n *network) {
	for _, ep := range n.eps {
		sb := e.sandboxes[ep.SandboxID]
		if sb != nil && e.restoreEndpoint(ctx, n, sb, ep, false) {
			e.restoreRoutes(sb, []*cnm.Endpoint{ep})
		}
	}
}

// restoreEndpoint re-joins one endpoint if its kernel side is not intact
// (always when the sandbox namespace is fresh), and reports whether it
// did. A network whose driver is unavailable is left for later.
func (e *Engine) restoreEndpoint(ctx context.Context, n *network, sb *sbox, ep *cnm.Endpoint, fresh bool) bool {
	if n == nil || n.d == nil || !n.cap.Connectable {
		return false
	}
	d, dn, dep := n.d, driverNetwork(n), driverEndpoint(ep)
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	if c, ok := d.(driver.Checker); ok && !fresh && c.EndpointOK(ctx, e.host, dn, dep) {
		return false
	}
	if e.isDockerSandbox(&sb.Sandbox) {
		// dockerd owns the namespace and named the interface.
		if _, ok := d.(driver.Checker); ok {
			e.log.Warn("endpoint of a Docker container is broken; not re-joined", "sb", sb.Name, "ep", ep.ID)
		}
		return false
	}
	if c, ok := d.(driver.SandboxChecker); ok && !fresh {
		intact := false
		_ = e.withSandboxNS(&sb.Sandbox, func(dsb driver.Sandbox) error {
			intact = c.EndpointOKIn(ctx, e.host, dn, dep, dsb)
			return nil
		})
		if intact {
			return false
		}
	}
	_ = d.Leave(ctx, e.host, dn, dep)
	_ = d.DeleteEndpoint(ctx, e.host, dn, dep)
	err := e.withSandboxNS(&sb.Sandbox, func(dsb driver.Sandbox) error {
		// A stale interface of that name may remain inside.
		if l, err := dsb.Handle.LinkByName(ep.IfName); err == nil {
			_ = dsb.Handle.LinkDel(l)
		}
		res, err := d.CreateEndpoint(ctx, e.host, dn, dep)
		if err != nil {
			return err
		}
		if res.HostIfName != "" {
			dep.HostIfName = res.HostIfName
		}
		info, err := d.Join(ctx, e.host, dn, dep, dsb)
		if err != nil {
			return err
		}
		if m := info.Interface; m != nil {
			if err := nl.MoveInto(e.host.Handle, m.SrcName, dsb.NS, dsb.Handle, ep.IfName, dep.MAC, ep.IPv4, ep.IPv6); err != nil {
				return err
			}
		}
		for _, r := range info.StaticRoutes {
			if err := nl.Route(dsb.Handle, ep.IfName, r.Destination, r.NextHop); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("rejoin endpoint", "sb", sb.Name, "net", n.Name, "err", err)
		return false
	}
	return true
}

// restoreRoutes puts back the sandbox's default routes through rejoined
// endpoints that provide them.
func (e *Engine) restoreRoutes(sb *sbox, rejoined []*cnm.Endpoint) {
	if len(rejoined) == 0 {
		return
	}
	err := e.withSandboxNS(&sb.Sandbox, func(dsb driver.Sandbox) error {
		for _, v6 := range []bool{false, true} {
			gwEp := gatewayOf(sb.eps, v6)
			if gwEp == nil || !slices.Contains(rejoined, gwEp) {
				continue
			}
			gw := gwEp.Gateway4
			if v6 {
				gw = gwEp.Gateway6
			}
			if err := nl.DefaultRoute(dsb.Handle, gwEp.IfName, gw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("restore default route", "sb", sb.Name, "err", err)
	}
}

// sweepSandbox removes interfaces inside a sandbox that no endpoint
// explains: the inner end of a join cut short by a crash (removing it
// removes its host end too). Adopted namespaces are left alone: their
// other interfaces are not ours.
func (e *Engine) sweepSandbox(sb *sbox) {
	if sb.HostNetwork || sb.Adopted || sb.Container != "" {
		return
	}
	err := e.withSandboxNS(&sb.Sandbox, func(dsb driver.Sandbox) error {
		gone, err := nl.DeleteUnknown(dsb.Handle, func(name string) bool {
			return slices.ContainsFunc(sb.eps, func(ep *cnm.Endpoint) bool { return ep.IfName == name })
		})
		for _, name := range gone {
			e.log.Info("removed leftover interface", "sb", sb.Name, "link", name)
		}
		return err
	})
	if err != nil {
		e.log.Warn("sweep sandbox", "sb", sb.Name, "err", err)
	}
}

// restoreProcess re-adopts a process that kept running, or records that
// it ended while the daemon was away.
func (e *Engine) restoreProcess(sb *sbox, fresh bool) {
	p := sb.Process
	if p == nil || p.State != cnm.StateRunning {
		return
	}
	if !fresh && sandbox.Alive(p.Pid, p.StartTime) {
		e.watch(sb)
		return
	}
	proc := *p
	proc.State, proc.ExitCode, proc.Finished = cnm.StateExited, -1, time.Now()
	sb.Process = &proc
	if err := e.update(func(tx *store.Tx) error { return tx.PutSandbox(&sb.Sandbox) }); err != nil {
		e.log.Warn("save process exit", "sb", sb.Name, "err", err)
	}
}

// sweep removes tagged links, namespace files and sandbox directories
// that no record explains: leftovers of an operation cut short.
func (e *Engine) sweep(ctx context.Context) {
	known := driver.Known{Networks: map[string]bool{}, Endpoints: map[string]bool{}}
	for id, n := range e.networks {
		known.Networks[id] = true
		for epID := range n.eps {
			known.Endpoints[epID] = true
		}
	}
	for _, d := range e.drivers.Builtins() {
		if sw, ok := d.(driver.Sweeper); ok {
			sctx, cancel := e.dctx(ctx)
			if err := sw.Sweep(sctx, e.host, known); err != nil {
				e.log.Warn("sweep leftovers", "driver", d.Type(), "err", err)
			}
			cancel()
		}
	}
	nsFiles := map[string]bool{}
	dirs := map[string]bool{}
	for id, sb := range e.sandboxes {
		nsFiles[sb.NetnsPath] = true
		dirs[id] = true
	}
	if ents, err := os.ReadDir(filepath.Join(e.cfg.ExecRoot, "netns")); err == nil {
		for _, ent := range ents {
			p := filepath.Join(e.cfg.ExecRoot, "netns", ent.Name())
			if !nsFiles[p] {
				e.log.Info("removing leftover namespace", "path", p)
				_ = sandbox.RemoveNetns(p)
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(e.cfg.ExecRoot, "sandboxes")); err == nil {
		for _, ent := range ents {
			if !dirs[ent.Name()] {
				_ = os.RemoveAll(filepath.Join(e.cfg.ExecRoot, "sandboxes", ent.Name()))
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(e.cfg.Root, "logs")); err == nil {
		for _, ent := range ents {
			if !dirs[strings.TrimSuffix(ent.Name(), ".log")] {
				_ = os.Remove(filepath.Join(e.cfg.Root, "logs", ent.Name()))
			}
		}
	}
}
