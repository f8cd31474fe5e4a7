package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/store"
	"github.com/patchbay/patchbay/store/cluster"
)

// EndpointOptions are the per-endpoint settings of a connect.
type EndpointOptions struct {
	IPv4    string // static address (--ip)
	IPv6    string // static address (--ip6)
	MAC     string // --mac-address; default random
	Aliases []string
}

// Connect joins a sandbox to a network live: it gets the next ethN.
func (e *Engine) Connect(ctx context.Context, netRef, sbRef string, opts EndpointOptions) (cnm.Endpoint, error) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	n, err := e.findNetwork(netRef)
	if err != nil {
		return cnm.Endpoint{}, err
	}
	sb, err := e.findSandbox(sbRef)
	if err != nil {
		return cnm.Endpoint{}, err
	}
	if err := e.refuseDocker(sb); err != nil {
		return cnm.Endpoint{}, err
	}
	ep, undo, err := e.joinLocked(ctx, n, sb, opts)
	if err != nil {
		return cnm.Endpoint{}, err
	}
	if err := e.stillThere(n, sb); err != nil {
		undo()
		return cnm.Endpoint{}, err
	}
	err = e.update(func(tx *store.Tx) error {
		if err := tx.PutEndpoint(ep); err != nil {
			return err
		}
		return tx.PutNetwork(&n.Network)
	})
	if err != nil {
		undo()
		return cnm.Endpoint{}, fmt.Errorf("save endpoint: %w", err)
	}
	e.mu.Lock()
	e.publishEndpointLocked(n, sb, ep)
	e.mu.Unlock()
	e.refreshHosts(sb)
	if sb.files && resolvable(n) {
		// Now on a user-defined network: the resolver takes over.
		if err := e.writeFiles(sb); err != nil {
			e.log.Warn("rewrite sandbox files", "sb", sb.Name, "err", err)
		}
	}
	return *ep, nil
}

// joinLocked plans and applies one endpoint: addresses, MAC, interface
// name, the driver's join and the default route. The returned undo
// reverses all of it. Caller holds opMu; nothing is published.
func (e *Engine) joinLocked(ctx context.Context, n *network, sb *sbox, opts EndpointOptions) (_ *cnm.Endpoint, _ func(), retErr error) {
	d, err := e.driverOf(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	if err := e.checkJoin(n, sb); err != nil {
		return nil, nil, err
	}
	for _, a := range opts.Aliases {
		if !validDNSName(a) {
			return nil, nil, cnm.Invalid("invalid network alias %q: letters, digits, '-' and '_' in dot-separated labels", a)
		}
	}
	if (opts.IPv4 != "" || opts.IPv6 != "") && n.Builtin {
		return nil, nil, cnm.Invalid("user specified IP address is supported on user defined networks only, not %s", n.Name)
	}
	if len(opts.Aliases) > 0 && !resolvable(n) {
		return nil, nil, cnm.Invalid("network-scoped aliases are only supported for user-defined networks, not %s", n.Name)
	}
	ep := &cnm.Endpoint{ID: newID(), NetworkID: n.ID, SandboxID: sb.ID, Aliases: opts.Aliases}
	var steps []func()
	undo := func() { undoAll(steps) }
	defer func() {
		if retErr != nil {
			undo()
		}
	}()
	if !n.cap.Connectable {
		return ep, undo, nil // none and host: a record, no interface
	}
	mac := ipam.RandomMAC()
	if opts.MAC != "" {
		if mac, err = ipam.ParseMAC(opts.MAC); err != nil {
			return nil, nil, err
		}
	}
	ep.MAC = mac.String()
	ep.IfName = nextIfName(sb.eps)
	// Calls that leave the process (a plugin driver, the cluster store of
	// a global network) run with opMu released; the sandbox and the
	// network are held meanwhile (see outside.go).
	sb.busy = true
	n.pending++
	err = e.outside(n, func() error {
		var err error
		steps, err = e.joinOutside(ctx, d, n, sb, ep, mac, opts, steps)
		return err
	})
	sb.busy = false
	n.pending--
	e.noteReachable(n, err)
	if err != nil {
		return nil, nil, err
	}
	return ep, undo, nil
}

// joinOutside allocates the endpoint's addresses and joins it through
// the driver; on a global network it claims them and publishes the
// endpoint to the other hosts before the join returns. It appends the
// undo of each step to steps.
func (e *Engine) joinOutside(ctx context.Context, d driver.Driver, n *network, sb *sbox, ep *cnm.Endpoint, mac net.HardwareAddr, opts EndpointOptions, steps []func()) ([]func(), error) {
	for try := 1; ; try++ {
		releases, err := e.allocateEndpoint(ctx, n, ep, opts)
		if err != nil {
			return steps, err
		}
		joined, lost, err := e.joinOnce(ctx, d, n, sb, ep, mac, opts)
		if err == nil {
			return append(append(steps, releases...), joined...), nil
		}
		undoAll(joined)
		for i, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
			// An address another host won stays reserved here: its
			// record arrives through the watch, and its removal frees it.
			if releases[i] != nil && (!lost.IsValid() || p.Addr() != lost) {
				releases[i]()
			}
		}
		if lost.IsValid() {
			e.log.Debug("address claimed by another host first", "net", n.Name, "addr", lost, "try", try)
		}
		switch {
		case !lost.IsValid():
			return steps, fmt.Errorf("connect %s to network %s: %w", sb.Name, n.Name, err)
		case lost.Is4() && opts.IPv4 != "" || lost.Is6() && opts.IPv6 != "":
			return steps, cnm.Conflict("connect %s to network %s: address %s is in use on another host", sb.Name, n.Name, lost)
		case try == maxClaims:
			return steps, cnm.Unavailable("connect %s to network %s: no free address after %d tries: other hosts took them", sb.Name, n.Name, maxClaims)
		}
	}
}

// allocateEndpoint allocates the endpoint's addresses and returns their
// releases, IPv4's then IPv6's (nil for none).
func (e *Engine) allocateEndpoint(ctx context.Context, n *network, ep *cnm.Endpoint, opts EndpointOptions) ([]func(), error) {
	var releases []func()
	for _, want := range []struct {
		static string
		v6     bool
		dst    *netip.Prefix
	}{{opts.IPv4, false, &ep.IPv4}, {opts.IPv6, true, &ep.IPv6}} {
		p, release, err := e.allocate(ctx, n, want.static, want.v6)
		if err != nil {
			undoAll(releases)
			return nil, err
		}
		*want.dst = p
		releases = append(releases, release)
	}
	return releases, nil
}

// joinOnce joins the endpoint with the addresses allocated, returning
// the undo of each step. On a global network the claim of its addresses
// and its record go to the cluster store in one request while the driver
// joins, so the join waits for no round trip of its own; if another host
// claimed an address first, lost is that address and nothing was
// written. Other hosts may program the endpoint a moment before it is
// up, which costs nothing.
func (e *Engine) joinOnce(ctx context.Context, d driver.Driver, n *network, sb *sbox, ep *cnm.Endpoint, mac net.HardwareAddr, opts EndpointOptions) (steps []func(), lost netip.Addr, _ error) {
	dn := driverNetwork(n)
	dep := driver.Endpoint{ID: ep.ID, IfName: ep.IfName, MAC: mac, IPv4: ep.IPv4, IPv6: ep.IPv6}
	var (
		published chan error
		rec       endpointRecord
	)
	if isGlobal(n) && e.cfg.Cluster != nil {
		published = make(chan error, 1)
		rec = e.localRecord(sb, ep)
		go func() { published <- e.claimAndPublish(ctx, n, rec) }()
	}
	steps, err := e.joinDriver(ctx, d, n, dn, sb, ep, dep, opts.MAC != "", nil)
	if published == nil {
		return steps, netip.Addr{}, err
	}
	perr := <-published
	var kc *cluster.KeyConflict
	if errors.As(perr, &kc) {
		for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
			if p.IsValid() && kc.Key == addrKey(n.ID, p.Addr()) {
				return steps, p.Addr(), perr
			}
		}
	}
	if perr == nil || !errors.Is(perr, cnm.ErrConflict) {
		// Written, or perhaps written (a timeout): withdrawn on undo.
		steps = append(steps, func() { e.withdrawEndpoint(n, ep) })
	}
	if err == nil {
		err = perr
	}
	if err == nil && rec.MAC != ep.MAC {
		// The driver chose the MAC: the record is published again.
		rec.MAC = ep.MAC
		err = e.publishEndpoint(ctx, rec)
	}
	return steps, netip.Addr{}, err
}

// undoAll runs undo steps in reverse order, skipping nil ones.
func undoAll(steps []func()) {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i] != nil {
			steps[i]()
		}
	}
}

// joinDriver runs the driver's side of a join: CreateEndpoint, Join, the
// move of an interface the driver left outside, static and default
// routes, and external connectivity. It appends the undo of each step
// to steps.
func (e *Engine) joinDriver(ctx context.Context, d driver.Driver, n *network, dn driver.Network, sb *sbox, ep *cnm.Endpoint, dep driver.Endpoint, staticMAC bool, steps []func()) ([]func(), error) {
	cctx, cancel := e.dctx(ctx)
	res, err := d.CreateEndpoint(cctx, e.host, dn, dep)
	cancel()
	if err != nil {
		return steps, fmt.Errorf("create endpoint: %w", err)
	}
	applyEndpointResult(ep, &dep, res, staticMAC)
	steps = append(steps, func() {
		bctx, cancel := e.bctx()
		defer cancel()
		_ = d.DeleteEndpoint(bctx, e.host, dn, dep)
	})
	err = e.withSandboxNS(&sb.Sandbox, func(dsb driver.Sandbox) error {
		jctx, cancel := e.dctx(ctx)
		defer cancel()
		info, err := d.Join(jctx, e.host, dn, dep, dsb)
		if errors.Is(err, driver.ErrBusy) {
			// Departed endpoints may still hold what the driver needs
			// (a bridge's ports): finish their deletion, then retry.
			e.reaper.flush()
			info, err = d.Join(jctx, e.host, dn, dep, dsb)
		}
		if err != nil {
			return err
		}
		steps = append(steps, func() {
			bctx, cancel := e.bctx()
			defer cancel()
			_ = d.Leave(bctx, e.host, dn, dep)
		})
		if info.MAC != nil {
			ep.MAC = info.MAC.String()
		}
		if m := info.Interface; m != nil {
			if err := nl.MoveInto(e.host.Handle, m.SrcName, dsb.NS, dsb.Handle, ep.IfName, dep.MAC, ep.IPv4, ep.IPv6); err != nil {
				return err
			}
		}
		if !info.DisableGatewayService {
			ep.Gateway4, ep.Gateway6 = info.Gateway4, info.Gateway6
		}
		for _, r := range info.StaticRoutes {
			if err := nl.Route(dsb.Handle, ep.IfName, r.Destination, r.NextHop); err != nil {
				return err
			}
		}
		return e.setDefaultRoutes(dsb, sb.eps, ep)
	})
	if err != nil {
		return steps, err
	}
	// The endpoint that gives the sandbox its default route gets the
	// driver's external connectivity (Docker calls it for the gateway
	// endpoint only).
	if ec, ok := d.(driver.ExternalConnectivity); ok && (ep.Gateway4.IsValid() || ep.Gateway6.IsValid()) &&
		gatewayOf(sb.eps, ep.Gateway6.IsValid() && !ep.Gateway4.IsValid()) == nil {
		pctx, cancel := e.dctx(ctx)
		err := ec.ProgramExternalConnectivity(pctx, e.host, dn, dep)
		cancel()
		if err != nil {
			return steps, fmt.Errorf("program external connectivity: %w", err)
		}
		steps = append(steps, func() {
			bctx, cancel := e.bctx()
			defer cancel()
			_ = ec.RevokeExternalConnectivity(bctx, e.host, dn, dep)
		})
	}
	return steps, nil
}

// applyEndpointResult takes what CreateEndpoint supplied: a MAC or
// addresses the engine left to the driver, and the host-side name.
func applyEndpointResult(ep *cnm.Endpoint, dep *driver.Endpoint, res driver.EndpointResult, staticMAC bool) {
	if len(res.MAC) > 0 && !staticMAC {
		ep.MAC, dep.MAC = res.MAC.String(), res.MAC
	}
	if res.IPv4.IsValid() && !ep.IPv4.IsValid() {
		ep.IPv4, dep.IPv4 = res.IPv4, res.IPv4
	}
	if res.IPv6.IsValid() && !ep.IPv6.IsValid() {
		ep.IPv6, dep.IPv6 = res.IPv6, res.IPv6
	}
	ep.HostIfName, dep.HostIfName = res.HostIfName, res.HostIfName
}

func (e *Engine) checkJoin(n *network, sb *sbox) error {
	if sb.busy {
		return busyError(sb)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if sb.Container != "" {
		owner := sb.Container
		if o := e.sandboxes[sb.Container]; o != nil {
			owner = o.Name
		}
		return cnm.Forbidden("sandbox %s shares the network namespace of %s: connect %s instead", sb.Name, owner, owner)
	}
	for _, ep := range sb.eps {
		if ep.NetworkID == n.ID {
			return cnm.Forbidden("sandbox %s is already connected to network %s", sb.Name, n.Name)
		}
		if o := e.networks[ep.NetworkID]; o != nil && !connectable(o) {
			return cnm.Forbidden("sandbox %s is on network %s and cannot join another network", sb.Name, o.Name)
		}
	}
	if len(sb.eps) > 0 && !n.cap.Connectable {
		return cnm.Forbidden("sandbox %s cannot join network %s while connected to other networks", sb.Name, n.Name)
	}
	if sb.HostNetwork != !n.cap.NeedsNamespace {
		return cnm.Forbidden("sandbox %s cannot join network %s", sb.Name, n.Name)
	}
	return nil
}

func nextIfName(eps []*cnm.Endpoint) string {
	for i := 0; ; i++ {
		name := "eth" + strconv.Itoa(i)
		if !slices.ContainsFunc(eps, func(ep *cnm.Endpoint) bool { return ep.IfName == name }) {
			return name
		}
	}
}

// setDefaultRoutes installs the default routes via ep if no earlier
// endpoint of the sandbox provides a gateway of that family.
func (e *Engine) setDefaultRoutes(dsb driver.Sandbox, others []*cnm.Endpoint, ep *cnm.Endpoint) error {
	for _, gw := range []netip.Addr{ep.Gateway4, ep.Gateway6} {
		if !gw.IsValid() || gatewayOf(others, gw.Is6()) != nil {
			continue
		}
		if err := nl.DefaultRoute(dsb.Handle, ep.IfName, gw); err != nil {
			return err
		}
	}
	return nil
}

// gatewayOf returns the first endpoint (in join order) that provides a
// gateway of the family.
func gatewayOf(eps []*cnm.Endpoint, v6 bool) *cnm.Endpoint {
	var best *cnm.Endpoint
	for _, ep := range eps {
		gw := ep.Gateway4
		if v6 {
			gw = ep.Gateway6
		}
		if gw.IsValid() && (best == nil || ep.Seq < best.Seq) {
			best = ep
		}
	}
	return best
}

// publishEndpointLocked makes a committed endpoint visible. Caller holds
// mu for writing.
func (e *Engine) publishEndpointLocked(n *network, sb *sbox, ep *cnm.Endpoint) {
	sb.seq++
	if ep.Seq == 0 {
		ep.Seq = sb.seq
	}
	n.eps[ep.ID] = ep
	sb.eps = append(sb.eps, ep)
	e.indexEndpoint(n, sb, ep)
	slices.SortFunc(sb.eps, func(a, b *cnm.Endpoint) int { return int(a.Seq) - int(b.Seq) })
}

// Disconnect removes a sandbox's endpoint on a network. With force, an
// endpoint is removed even if its kernel side is already gone.
func (e *Engine) Disconnect(ctx context.Context, netRef, sbRef string, force bool) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	n, err := e.findNetwork(netRef)
	if err != nil {
		return err
	}
	sb, err := e.findSandbox(sbRef)
	if err != nil {
		return err
	}
	if err := e.refuseDocker(sb); err != nil {
		return err
	}
	e.mu.RLock()
	i := slices.IndexFunc(sb.eps, func(ep *cnm.Endpoint) bool { return ep.NetworkID == n.ID })
	e.mu.RUnlock()
	if i < 0 {
		return cnm.NotFound("sandbox %s is not connected to network %s", sb.Name, n.Name)
	}
	if sb.HostNetwork {
		return cnm.Forbidden("sandbox %s cannot be disconnected from the host network", sb.Name)
	}
	if sb.busy {
		return busyError(sb)
	}
	ep := sb.eps[i]
	wasGateway := []bool{gatewayOf(sb.eps, false) == ep, gatewayOf(sb.eps, true) == ep}
	// Ports published to the endpoint go with it.
	ports, unpublish := e.unpublishEndpoint(sb, ep)
	err = e.update(func(tx *store.Tx) error {
		if len(ports) != len(sb.Ports) {
			rec := sb.Sandbox
			rec.Ports = ports
			if err := tx.PutSandbox(&rec); err != nil {
				return err
			}
		}
		return tx.DeleteEndpoint(ep.ID)
	})
	if err != nil {
		return fmt.Errorf("remove endpoint: %w", err)
	}
	e.mu.Lock()
	delete(n.eps, ep.ID)
	sb.eps = slices.Delete(slices.Clone(sb.eps), i, i+1)
	e.unindexEndpoint(sb, ep)
	sb.Ports = ports
	e.mu.Unlock()
	unpublish()
	e.retire(sb, []*cnm.Endpoint{ep})
	e.leaveKernel(ctx, ep)
	// The route went with the interface: the next gateway endpoint of
	// the sandbox takes the default route over.
	for fam, v6 := range []bool{false, true} {
		next := gatewayOf(sb.eps, v6)
		if !wasGateway[fam] || next == nil {
			continue
		}
		gw := next.Gateway4
		if v6 {
			gw = next.Gateway6
		}
		err := e.withSandboxNS(&sb.Sandbox, func(dsb driver.Sandbox) error {
			return nl.DefaultRoute(dsb.Handle, next.IfName, gw)
		})
		if err != nil {
			e.log.Warn("move default route", "sb", sb.Name, "err", err)
		}
	}
	e.refreshHosts(sb)
	return nil
}

// retire takes endpoints' interfaces out of a namespace that stays: each
// goes down and is renamed, so it carries no traffic and its ethN name is
// free at once, while the reaper deletes it. A crash before that leaves
// an interface no endpoint explains, which the restore sweep removes.
func (e *Engine) retire(sb *sbox, eps []*cnm.Endpoint) {
	err := e.withSandboxNS(&sb.Sandbox, func(dsb driver.Sandbox) error {
		for _, ep := range eps {
			if ep.IfName == "" {
				continue
			}
			// An interface without a host end (macvlan) is handed to
			// its driver, which takes it out of service its own way
			// and deletes it in its DeleteEndpoint.
			e.mu.RLock()
			n := e.networks[ep.NetworkID]
			e.mu.RUnlock()
			if n != nil && n.d != nil {
				if ev, ok := n.d.(driver.Evicter); ok {
					ctx, cancel := e.bctx()
					err := ev.Evict(ctx, e.host, driverNetwork(n), driverEndpoint(ep), dsb)
					cancel()
					if err != nil {
						return err
					}
					continue
				}
			}
			if err := nl.Retire(dsb.Handle, ep.IfName, "gone"+ep.ID[:11]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("retire interfaces", "sb", sb.Name, "err", err)
	}
}

// leaveKernel queues the removal of an endpoint's kernel objects and
// releases its addresses. Its record is already gone. Caller holds opMu.
func (e *Engine) leaveKernel(ctx context.Context, ep *cnm.Endpoint) {
	e.mu.RLock()
	n := e.networks[ep.NetworkID]
	e.mu.RUnlock()
	if n == nil {
		return
	}
	if n.d != nil {
		e.reaper.leave(n.d, driverNetwork(n), driverEndpoint(ep))
	}
	if isGlobal(n) && e.cfg.Cluster != nil {
		e.withdrawEndpoint(n, ep)
	}
	e.releaseEndpoint(n, ep)
}
