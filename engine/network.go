package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/store"
)

// NetworkCreate asks for a new network. Addresses are strings so the
// engine can name exactly which one is malformed.
type NetworkCreate struct {
	Name        string
	Driver      string // default "bridge"
	IPAMDriver  string // default "default"
	IPAMOptions map[string]string
	IPAM        []IPAMRequest
	Options     map[string]string
	Labels      map[string]string
	Internal    bool
	Attachable  bool
	EnableIPv6  bool
}

// IPAMRequest is one requested subnet.
type IPAMRequest struct {
	Subnet       string
	IPRange      string
	Gateway      string
	AuxAddresses map[string]string
}

// checkNetworkName applies Docker's rule for network names, which is
// looser than the one for containers: spaces and most printable
// characters are allowed. A name must not be blank, hold control
// characters or '/' (it is a path element of the API), or be "." or "..".
func checkNetworkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return cnm.Invalid("invalid network name %q: it must not be blank", name)
	case name == "." || name == "..":
		return cnm.Invalid("invalid network name %q", name)
	case strings.ContainsRune(name, '/'):
		return cnm.Invalid("invalid network name %q: it must not contain '/'", name)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return cnm.Invalid("invalid network name %q: it must not contain control characters", name)
	}
	return nil
}

// CreateNetwork creates a network through its driver.
func (e *Engine) CreateNetwork(ctx context.Context, req NetworkCreate) (cnm.Network, error) {
	// The driver is found before the lock is taken: finding a plugin
	// leaves the process.
	drv, err := e.lookup(ctx, req.Driver)
	if err != nil {
		return cnm.Network{}, err
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	n, err := e.planNetwork(ctx, req, drv)
	if err != nil {
		return cnm.Network{}, err
	}
	if err := e.commitNewNetwork(ctx, n); err != nil {
		return cnm.Network{}, err
	}
	return cloneNetwork(&n.Network), nil
}

func (e *Engine) commitNewNetwork(ctx context.Context, n *network) (retErr error) {
	if len(n.IPAM.Config) > 0 && !(isGlobal(n) && e.cfg.Cluster != nil) {
		var undoIPAM func()
		err := e.afterDeletions(func() error {
			var err error
			undoIPAM, err = e.requestPools(ctx, n, n.cap.External, false)
			return err
		})
		if err != nil {
			return err
		}
		defer func() {
			if retErr != nil {
				undoIPAM()
			}
		}()
	}
	if err := e.createInDriver(ctx, n); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			e.deleteInDriver(n)
		}
	}()
	undoFW, err := e.firewallAddNetwork(n)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			undoFW()
		}
	}()
	if err := e.update(func(tx *store.Tx) error { return tx.PutNetwork(&n.Network) }); err != nil {
		return fmt.Errorf("save network %s: %w", n.Name, err)
	}
	e.mu.Lock()
	e.networks[n.ID] = n
	e.mu.Unlock()
	e.indexNetwork(n)
	return nil
}

// createInDriver has the driver allocate (for global drivers) and make
// the network, with opMu released for a driver out of the process and
// the network held in e.creating meanwhile.
func (e *Engine) createInDriver(ctx context.Context, n *network) error {
	e.mu.Lock()
	e.creating[n.ID] = n
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.creating, n.ID)
		e.mu.Unlock()
	}()
	return e.outside(n, func() error { return e.createInDriverOutside(ctx, n) })
}

// createGlobal is createInDriverOutside for a global network: its name
// and subnets are claimed in the cluster store first, and its record is
// published there once the driver made it.
func (e *Engine) createGlobal(ctx context.Context, n *network) (retErr error) {
	unclaim, err := e.claimGlobal(ctx, n)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			unclaim()
		}
	}()
	// Only once the cluster gave them: a subnet this host's IPAM held
	// before that could be one another host's network just won.
	undoIPAM, err := e.requestPools(ctx, n, n.cap.External, false)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			undoIPAM()
		}
	}()
	if err := e.createLocal(ctx, n); err != nil {
		return err
	}
	if err := e.publishGlobal(ctx, n); err != nil {
		e.deleteLocal(n)
		return err
	}
	return nil
}

// deleteInDriver undoes createInDriver.
func (e *Engine) deleteInDriver(n *network) {
	_ = e.outside(n, func() error {
		if isGlobal(n) {
			bctx, cancel := e.bctx()
			_ = e.unpublishGlobal(bctx, n)
			cancel()
		}
		e.deleteLocal(n)
		return nil
	})
}

// deleteLocal undoes createLocal.
func (e *Engine) deleteLocal(n *network) {
	bctx, cancel := e.bctx()
	defer cancel()
	_ = n.d.DeleteNetwork(bctx, e.host, driverNetwork(n))
	if a, ok := n.d.(driver.Allocator); ok {
		_ = a.FreeNetwork(bctx, driverNetwork(n))
	}
}

func (e *Engine) createInDriverOutside(ctx context.Context, n *network) error {
	if isGlobal(n) {
		return e.createGlobal(ctx, n)
	}
	return e.createLocal(ctx, n)
}

// createLocal has the driver allocate (for global drivers) and make the
// network.
func (e *Engine) createLocal(ctx context.Context, n *network) (retErr error) {
	d := n.d
	if a, ok := d.(driver.Allocator); ok {
		actx, cancel := e.dctx(ctx)
		data, err := a.AllocateNetwork(actx, driverNetwork(n))
		cancel()
		if err != nil {
			return fmt.Errorf("allocate network %s: %w", n.Name, err)
		}
		n.DriverData = data
		defer func() {
			if retErr != nil {
				bctx, cancel := e.bctx()
				defer cancel()
				_ = a.FreeNetwork(bctx, driverNetwork(n))
			}
		}()
	}
	cctx, cancel := e.dctx(ctx)
	res, err := d.CreateNetwork(cctx, e.host, driverNetwork(n))
	cancel()
	if err != nil {
		return fmt.Errorf("create network %s: %w", n.Name, err)
	}
	if len(res.Data) > 0 {
		if n.DriverData == nil {
			n.DriverData = map[string]string{}
		}
		maps.Copy(n.DriverData, res.Data)
	}
	return nil
}

// planNetwork validates a request against the current state and builds
// the network with its driver and allocators, touching nothing. Caller
// holds opMu.
func (e *Engine) planNetwork(ctx context.Context, req NetworkCreate, drv found) (*network, error) {
	if req.Name == "" {
		return nil, cnm.Invalid("network name is required")
	}
	if err := checkNameLen("network", req.Name); err != nil {
		return nil, err
	}
	if err := checkNetworkName(req.Name); err != nil {
		return nil, err
	}
	if req.Driver == "" {
		req.Driver = "bridge"
	}
	if req.IPAMDriver == "" {
		req.IPAMDriver = "default"
	}
	e.mu.RLock()
	for _, o := range e.allNetworksLocked() {
		if o.Name == req.Name {
			e.mu.RUnlock()
			return nil, cnm.Conflict("network with name %s already exists", req.Name)
		}
	}
	e.mu.RUnlock()
	d, c := drv.d, drv.cap
	if d == nil || drv.name != req.Driver {
		return nil, fmt.Errorf("plan network %s: driver %s was not looked up", req.Name, req.Driver)
	}
	if !c.Connectable {
		// host and null: one network each, as Docker has them.
		e.mu.RLock()
		for _, o := range e.networks {
			if o.Driver == req.Driver {
				e.mu.RUnlock()
				return nil, cnm.Forbidden("only one instance of %q network is allowed", req.Driver)
			}
		}
		e.mu.RUnlock()
	}
	if req.IPAMDriver != "default" && req.IPAMDriver != nullIPAMName && e.cfg.IPAMFinder == nil {
		return nil, cnm.NotFound("ipam driver %q not found (have default)", req.IPAMDriver)
	}
	for k := range req.IPAMOptions {
		if req.IPAMDriver == "default" {
			return nil, cnm.Invalid("unknown ipam option %q for ipam driver default", k)
		}
	}
	config, err := d.ParseOptions(req.Options)
	if err != nil {
		return nil, err
	}
	if c.DataScope == driver.ScopeGlobal && e.cfg.Cluster == nil {
		return nil, cnm.Invalid("network driver %s is global-scoped: this daemon has no cluster store (--cluster-store)", req.Driver)
	}
	n := &network{
		d: d, cap: c, config: config,
		Network: cnm.Network{
			ID: newID(), Name: req.Name, Driver: req.Driver, Scope: c.DataScope,
			Created: time.Now(), EnableIPv6: req.EnableIPv6, Internal: req.Internal,
			Attachable: req.Attachable, Options: req.Options, Labels: req.Labels,
			IPAM: cnm.IPAM{Driver: req.IPAMDriver, Options: req.IPAMOptions},
		},
		eps: map[string]*cnm.Endpoint{},
	}
	if err := e.afterDeletions(func() error { return e.checkConflicts(ctx, n) }); err != nil {
		return nil, err
	}
	if c.Connectable || len(req.IPAM) > 0 {
		if err := e.planIPAM(n, req.IPAM, c.External); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// afterDeletions runs fn, and once more after the queued network
// deletions are done if it failed with a conflict (or found no free pool)
// while some were queued: a network being deleted off the request path
// may still hold the subnet or device a new one asks for.
func (e *Engine) afterDeletions(fn func() error) error {
	err := fn()
	if (errors.Is(err, cnm.ErrConflict) || errors.Is(err, cnm.ErrUnavailable)) && e.reaper.nets.Load() > 0 {
		e.reaper.flushNetworks()
		err = fn()
	}
	return err
}

// checkConflicts asks a driver that judges its networks against each
// other (a bridge device name may be used once) about a new one.
func (e *Engine) checkConflicts(ctx context.Context, n *network) error {
	cf, ok := n.d.(driver.Conflicter)
	if !ok {
		return nil
	}
	var others []driver.Network
	e.mu.RLock()
	for _, o := range e.networks {
		if o.Driver == n.Driver {
			others = append(others, driverNetwork(o))
		}
	}
	e.mu.RUnlock()
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	return cf.CheckConflicts(ctx, e.host, driverNetwork(n), others)
}

// planIPAM parses and checks the requested subnets, and adds a subnet
// for the IPAM driver to choose (a /0 of the unspecified address) for
// each family the network needs and names none of; the pools are
// requested when the network is committed (requestPools).
func (e *Engine) planIPAM(n *network, reqs []IPAMRequest, external bool) error {
	// The null IPAM's 0.0.0.0/0 would be a LAN segment's or a cluster
	// network's subnet: Docker's built-in drivers refuse it all so.
	if n.IPAM.Driver == nullIPAMName && !n.cap.OutOfProcess && (external || n.cap.DataScope == driver.ScopeGlobal) {
		return cnm.Invalid("ipv4 pool is empty: network driver %s needs the network's subnets (--ipam-driver null is for plugin drivers and L2-only bridge networks)", n.Driver)
	}
	var have4, have6 bool
	for _, r := range reqs {
		c, err := parseIPAM(r, external)
		if err != nil {
			return err
		}
		if r.Gateway == "" && skipGateway(n, c.Subnet) {
			c.Gateway = netip.Addr{}
		}
		if c.Subnet.Addr().Is6() {
			if !n.EnableIPv6 {
				return cnm.Invalid("subnet %s is IPv6: add --ipv6 to enable IPv6 on the network", c.Subnet)
			}
			have6 = true
		} else {
			have4 = true
		}
		for _, o := range n.IPAM.Config {
			if ipam.Overlaps(o.Subnet, c.Subnet) {
				return cnm.Invalid("subnets %s and %s overlap", o.Subnet, c.Subnet)
			}
		}
		n.IPAM.Config = append(n.IPAM.Config, c)
	}
	if !have4 {
		n.IPAM.Config = append(n.IPAM.Config, cnm.IPAMConfig{Subnet: netip.PrefixFrom(netip.IPv4Unspecified(), 0)})
	}
	if n.EnableIPv6 && !have6 {
		n.IPAM.Config = append(n.IPAM.Config, cnm.IPAMConfig{Subnet: netip.PrefixFrom(netip.IPv6Unspecified(), 0)})
	}
	return nil
}

func parseIPAM(r IPAMRequest, external bool) (cnm.IPAMConfig, error) {
	c := ipam.Config{NoDefaultGateway: external}
	var err error
	if c.Subnet, err = netip.ParsePrefix(r.Subnet); err != nil {
		return cnm.IPAMConfig{}, cnm.Invalid("invalid subnet %q: not a CIDR", r.Subnet)
	}
	if r.IPRange != "" {
		if c.IPRange, err = netip.ParsePrefix(r.IPRange); err != nil {
			return cnm.IPAMConfig{}, cnm.Invalid("invalid ip-range %q: not a CIDR", r.IPRange)
		}
	}
	if r.Gateway != "" {
		if c.Gateway, err = netip.ParseAddr(r.Gateway); err != nil {
			return cnm.IPAMConfig{}, cnm.Invalid("invalid gateway %q: not an IP address", r.Gateway)
		}
	}
	for name, s := range r.AuxAddresses {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cnm.IPAMConfig{}, cnm.Invalid("invalid auxiliary address %s=%q: not an IP address", name, s)
		}
		if c.Aux == nil {
			c.Aux = map[string]netip.Addr{}
		}
		c.Aux[name] = a
	}
	if c, err = c.Normalize(); err != nil {
		return cnm.IPAMConfig{}, err
	}
	return cnm.IPAMConfig{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, AuxAddresses: c.Aux}, nil
}

// RemoveNetwork removes a network that has no endpoints left.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	n, err := e.findNetwork(ref)
	if err != nil {
		return err
	}
	return e.removeNetworkLocked(ctx, n)
}

func (e *Engine) removeNetworkLocked(ctx context.Context, n *network) error {
	if n.Builtin {
		return cnm.Forbidden("%s is a pre-defined network and cannot be removed", n.Name)
	}
	e.mu.RLock()
	var names []string
	for _, ep := range n.eps {
		if sb := e.sandboxes[ep.SandboxID]; sb != nil {
			names = append(names, sb.Name)
		}
	}
	e.mu.RUnlock()
	if len(n.eps) > 0 || n.pending > 0 {
		slices.Sort(names)
		return cnm.Forbidden("network %s has active endpoints (%s)", n.Name, strings.Join(names, ", "))
	}
	if isGlobal(n) {
		if remote := e.remote[n.ID]; len(remote) > 0 {
			var where []string
			for _, rec := range remote {
				if len(rec.Names) > 0 {
					where = append(where, rec.Names[0]+" on "+rec.Node)
				}
			}
			slices.Sort(where)
			return cnm.Forbidden("network %s has active endpoints on other hosts (%s)", n.Name, strings.Join(where, ", "))
		}
		// Every host removes its copy when the record goes.
		if err := e.unpublishGlobal(ctx, n); err != nil {
			return err
		}
	}
	return e.removeLocalNetworkLocked(ctx, n, true)
}

// removeLocalNetworkLocked removes a network here: its record, addresses,
// names and firewall entries now, its kernel objects off the request
// path. free says whether to free its network-wide resources (Allocator):
// not when it only leaves this host. Caller holds opMu.
func (e *Engine) removeLocalNetworkLocked(ctx context.Context, n *network, free bool) error {
	if err := e.update(func(tx *store.Tx) error { return tx.DeleteNetwork(n.ID) }); err != nil {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	e.mu.Lock()
	delete(e.networks, n.ID)
	e.mu.Unlock()
	e.releasePools(n)
	e.names.removeNetwork(n.ID)
	e.firewallRemoveNetwork(n)
	if n.d == nil {
		// Its driver is away: nothing of it can be deleted now. Its
		// tagged leftovers, if any, are swept at the next start.
		e.log.Warn("network removed while its driver is unavailable", "net", n.Name, "driver", n.Driver)
		return nil
	}
	d, dn := n.d, driverNetwork(n)
	if r, ok := d.(driver.NetworkRetirer); ok {
		// Out of service now, so its subnet is free for the next network.
		rctx, cancel := e.dctx(ctx)
		if err := r.RetireNetwork(rctx, e.host, dn); err != nil {
			e.log.Warn("retire network", "net", dn.Name, "err", err)
		}
		cancel()
	}
	if n.cap.OutOfProcess {
		// A plugin is told before the removal returns, as Docker does,
		// after the endpoint removals already queued.
		e.reaper.flush()
		_ = e.outside(n, func() error {
			dctx, cancel := e.dctx(ctx)
			defer cancel()
			if err := d.DeleteNetwork(dctx, e.host, dn); err != nil {
				e.log.Warn("delete network", "net", dn.Name, "err", err)
			}
			if a, ok := d.(driver.Allocator); ok && free {
				if err := a.FreeNetwork(dctx, dn); err != nil {
					e.log.Warn("free network", "net", dn.Name, "err", err)
				}
			}
			return nil
		})
		return nil
	}
	// Deleted after the endpoint removals already queued, off the
	// request path; network-wide resources are freed once, by the host
	// that removes the network from the cluster.
	var after func(context.Context, driver.Host)
	if a, ok := d.(driver.Allocator); ok && free {
		after = func(ctx context.Context, _ driver.Host) {
			if err := a.FreeNetwork(ctx, dn); err != nil {
				e.log.Warn("free network", "net", dn.Name, "err", err)
			}
		}
	}
	e.reaper.deleteNetwork(d, dn, after)
	return nil
}

// PruneNetworks removes every custom network without endpoints and
// returns their names.
func (e *Engine) PruneNetworks(ctx context.Context) ([]string, error) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	e.mu.RLock()
	var idle []*network
	for _, n := range e.networks {
		if !n.Builtin && len(n.eps) == 0 {
			idle = append(idle, n)
		}
	}
	e.mu.RUnlock()
	var removed []string
	for _, n := range idle {
		if err := e.removeNetworkLocked(ctx, n); err != nil {
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	slices.Sort(removed)
	return removed, nil
}

func (e *Engine) ensureDefaultNetworks(ctx context.Context) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	for _, req := range e.cfg.DefaultNetworks {
		if _, err := e.findNetwork(req.Name); err == nil {
			continue
		}
		drv, err := e.lookup(ctx, req.Driver)
		if err != nil {
			return fmt.Errorf("create default network %s: %w", req.Name, err)
		}
		n, err := e.planNetwork(ctx, req, drv)
		if err != nil {
			return fmt.Errorf("create default network %s: %w", req.Name, err)
		}
		n.Builtin = true
		if !n.cap.Connectable {
			// host and none carry Docker's zero creation time.
			n.Created = time.Time{}
		}
		if err := e.commitNewNetwork(ctx, n); err != nil {
			return fmt.Errorf("create default network %s: %w", req.Name, err)
		}
	}
	return nil
}

func cloneNetwork(n *cnm.Network) cnm.Network {
	c := *n
	c.Options = maps.Clone(n.Options)
	c.Labels = maps.Clone(n.Labels)
	c.IPAM.Options = maps.Clone(n.IPAM.Options)
	c.IPAM.Config = slices.Clone(n.IPAM.Config)
	c.Cursors = nil
	c.DriverData = maps.Clone(n.DriverData)
	return c
}
