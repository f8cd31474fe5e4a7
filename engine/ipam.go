package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/store"
)

// Addresses come from the network's IPAM driver (ipam.Driver): the
// engine keeps each subnet's pool ID and each endpoint's addresses, never
// an allocator. The default driver keeps its allocations in memory and
// asks for request replay, so restore requests every pool and address
// again, each explicitly; its cursors (serial allocation) are written in
// the same store transaction as the operation that moved them.

// cursorCache is the default driver's ipam.CursorStore: cursors it saves
// wait here until the engine's next store transaction writes them.
type cursorCache struct {
	mu    sync.Mutex
	saved map[string]netip.Addr
	dirty map[string]netip.Addr
}

// LoadCursors implements ipam.CursorStore.
func (c *cursorCache) LoadCursors() (map[string]netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.saved), nil
}

// SaveCursor implements ipam.CursorStore.
func (c *cursorCache) SaveCursor(poolID string, cursor netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirty[poolID] = cursor
	return nil
}

// flush writes the cursors saved since the last flush.
func (c *cursorCache) flush(tx *store.Tx) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, cur := range c.dirty {
		if err := tx.PutCursor(id, cur); err != nil {
			return err
		}
	}
	clear(c.dirty)
	return nil
}

// update runs one store transaction of an operation, with the IPAM
// cursors it moved.
func (e *Engine) update(fn func(*store.Tx) error) error {
	return e.store.Update(func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return e.cursors.flush(tx)
	})
}

// ipamOf returns the network's IPAM driver: the default one, or one
// Config.IPAMFinder finds (a plugin). A network whose pools could not be
// replayed to its plugin at restore gets them (and its endpoints'
// addresses) replayed first.
func (e *Engine) ipamOf(ctx context.Context, n *network) (ipam.Driver, error) {
	if n.IPAM.Driver == "" || n.IPAM.Driver == "default" {
		return e.ipam, nil
	}
	if n.IPAM.Driver == nullIPAMName {
		return nullIPAM{}, nil
	}
	if n.IPAM.Driver == DockerIPAM {
		return e.dockerIPAMOf(n), nil
	}
	if e.cfg.IPAMFinder == nil {
		return nil, cnm.NotFound("ipam driver %q not found (have default)", n.IPAM.Driver)
	}
	d, err := e.cfg.IPAMFinder(ctx, n.IPAM.Driver)
	if err != nil {
		return nil, fmt.Errorf("ipam driver %s: %w", n.IPAM.Driver, err)
	}
	e.mu.RLock()
	waiting := e.ipamWaiting[n.ID]
	e.mu.RUnlock()
	if waiting {
		if err := e.replayWaiting(ctx, d, n); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// replayWaiting requests a network's pools and its endpoints' addresses
// from an IPAM plugin that was away when the engine restored them.
func (e *Engine) replayWaiting(ctx context.Context, d ipam.Driver, n *network) error {
	tmp := &network{Network: n.Network}
	tmp.IPAM.Config = slices.Clone(n.IPAM.Config)
	if _, err := e.requestPoolsIn(ctx, d, tmp, n.cap.External, true); err != nil {
		return fmt.Errorf("replay the pools of network %s to ipam driver %s: %w", n.Name, n.IPAM.Driver, err)
	}
	e.mu.Lock()
	delete(e.ipamWaiting, n.ID)
	n.IPAM.Config = tmp.IPAM.Config
	eps := slices.Collect(maps.Values(n.eps))
	e.mu.Unlock()
	for _, ep := range eps {
		e.reserveEndpointIn(ctx, d, n, ep, false)
	}
	e.log.Info("ipam driver available again; pools replayed", "net", n.Name, "ipam", n.IPAM.Driver)
	return e.update(func(tx *store.Tx) error { return tx.PutNetwork(&n.Network) })
}

// needsReplay reports whether a driver must be told again, after a
// restart, what it allocated. An IPAM plugin that cannot be asked now
// marks the network as waiting for it.
func (e *Engine) needsReplay(ctx context.Context, d ipam.Driver, n *network) (bool, error) {
	if d == ipam.Driver(e.ipam) {
		return true, nil
	}
	c, err := d.Capabilities(ctx)
	if err != nil {
		e.mu.Lock()
		e.ipamWaiting[n.ID] = true
		e.mu.Unlock()
		return false, err
	}
	return c.RequiresRequestReplay, nil
}

// poolOptions are the options of the network's pool requests: a network
// of an external driver (a LAN segment) may overlap the host's LAN and
// its driver's other networks, and its pools are named by the network.
func poolOptions(n *network, external bool) map[string]string {
	opts := maps.Clone(n.IPAM.Options)
	if external {
		if opts == nil {
			opts = map[string]string{}
		}
		opts[ipam.OptionOverlapGroup] = n.Driver
		opts[ipam.OptionPoolName] = n.ID
	}
	return opts
}

// requestPools allocates the network's pools (a zero subnet lets the
// driver choose one), then each subnet's auxiliary addresses and its
// gateway, filling in n.IPAM.Config. The returned undo releases all of
// it. replay requests what a stored record names, after a restart.
func (e *Engine) requestPools(ctx context.Context, n *network, external, replay bool) (_ func(), retErr error) {
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	d, err := e.ipamOf(ctx, n)
	if err != nil {
		if replay {
			e.mu.Lock()
			e.ipamWaiting[n.ID] = true
			e.mu.Unlock()
		}
		return nil, err
	}
	if replay {
		need, err := e.needsReplay(ctx, d, n)
		if err != nil || !need {
			return func() {}, err
		}
	}
	return e.requestPoolsIn(ctx, d, n, external, replay)
}

// requestPoolsIn is requestPools with the driver found.
func (e *Engine) requestPoolsIn(ctx context.Context, d ipam.Driver, n *network, external, replay bool) (_ func(), retErr error) {
	var steps []func()
	undo := func() { undoAll(steps) }
	defer func() {
		if retErr != nil {
			undo()
		}
	}()
	opts := poolOptions(n, external)
	if replay {
		if opts == nil {
			opts = map[string]string{}
		}
		opts[ipam.OptionReplay] = "true"
	}
	for i := range n.IPAM.Config {
		c := &n.IPAM.Config[i]
		// A /0 of the unspecified address asks the driver to choose.
		req := ipam.PoolRequest{Pool: c.Subnet, SubPool: c.IPRange, Options: opts, V6: c.Subnet.Addr().Is6()}
		if isGlobal(n) {
			// Shared by every host: never checked against this one's
			// routes, claimed in the cluster store instead.
			req.AddressSpace = ipam.GlobalDefaultSpace
		}
		if c.Subnet.Bits() == 0 && c.Subnet.Addr().IsUnspecified() {
			req.Pool = netip.Prefix{}
		}
		p, err := d.RequestPool(ctx, req)
		if err != nil {
			return nil, e.poolError(err)
		}
		if replay && c.PoolID != "" && c.PoolID != p.ID {
			e.log.Warn("ipam pool ID changed on restore", "net", n.Name, "was", c.PoolID, "now", p.ID)
		}
		c.Subnet, c.PoolID = p.Prefix, p.ID
		steps = append(steps, func() {
			bctx, cancel := e.bctx()
			defer cancel()
			_ = d.ReleasePool(bctx, p.ID)
		})
		for name, a := range c.AuxAddresses {
			aopts := map[string]string{ipam.RequestAddressType: ipam.AuxAddressType, ipam.AuxNameOption: name}
			if _, err := d.RequestAddress(ctx, p.ID, a, aopts); err != nil {
				return nil, fmt.Errorf("reserve auxiliary address %s=%s: %w", name, a, err)
			}
			steps = append(steps, e.releaser(d, p.ID, a))
		}
		if !c.Gateway.IsValid() && (external || replay || skipGateway(n, c.Subnet)) {
			continue // a LAN's router is outside; none was held
		}
		gw, err := d.RequestAddress(ctx, p.ID, c.Gateway, map[string]string{ipam.RequestAddressType: ipam.GatewayAddressType})
		if err != nil {
			return nil, fmt.Errorf("reserve gateway of %s: %w", p.Prefix, err)
		}
		c.Gateway = gw.Addr()
		steps = append(steps, e.releaser(d, p.ID, gw.Addr()))
	}
	return undo, nil
}

func (e *Engine) releaser(d ipam.Driver, poolID string, a netip.Addr) func() {
	return func() {
		bctx, cancel := e.bctx()
		defer cancel()
		_ = d.ReleaseAddress(bctx, poolID, a)
	}
}

// poolError names the network whose pool a requested subnet overlaps.
func (e *Engine) poolError(err error) error {
	var oe *ipam.OverlapError
	if !errors.As(err, &oe) {
		return err
	}
	if oe.PoolID == "" {
		return cnm.Conflict("subnet %s overlaps with %s, in use on the host", oe.Pool, oe.With)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, o := range e.allNetworksLocked() {
		for _, c := range o.IPAM.Config {
			if c.PoolID == oe.PoolID {
				return cnm.Conflict("subnet %s overlaps with network %s (%s)", oe.Pool, o.Name, c.Subnet)
			}
		}
	}
	return err
}

// releasePools releases a removed network's gateways, auxiliary
// addresses and pools.
func (e *Engine) releasePools(n *network) {
	e.mu.Lock()
	waiting := e.ipamWaiting[n.ID]
	delete(e.ipamWaiting, n.ID)
	e.mu.Unlock()
	if waiting {
		return // its plugin never got the pools back
	}
	ctx, cancel := e.bctx()
	defer cancel()
	d, err := e.ipamOf(ctx, n)
	if err != nil {
		e.log.Warn("release ipam pools", "net", n.Name, "err", err)
		return
	}
	for _, c := range n.IPAM.Config {
		if c.PoolID == "" {
			continue
		}
		for _, a := range c.AuxAddresses {
			_ = d.ReleaseAddress(ctx, c.PoolID, a)
		}
		if c.Gateway.IsValid() {
			_ = d.ReleaseAddress(ctx, c.PoolID, c.Gateway)
		}
		if err := d.ReleasePool(ctx, c.PoolID); err != nil {
			e.log.Warn("release ipam pool", "net", n.Name, "pool", c.PoolID, "err", err)
		}
	}
}

// poolOf returns the pool ID of the network's first subnet of a family.
func poolOf(n *network, v6 bool) (cnm.IPAMConfig, bool) {
	for _, c := range n.IPAM.Config {
		if c.Subnet.Addr().Is6() == v6 && c.PoolID != "" {
			return c, true
		}
	}
	return cnm.IPAMConfig{}, false
}

// allocate requests a static address or the driver's next one in the
// network's first subnet of the family. It returns the zero prefix if the
// network has no subnet of that family.
func (e *Engine) allocate(ctx context.Context, n *network, static string, v6 bool) (netip.Prefix, func(), error) {
	fam := "IPv4"
	if v6 {
		fam = "IPv6"
	}
	c, ok := poolOf(n, v6)
	if !ok {
		if static != "" {
			return netip.Prefix{}, nil, cnm.Invalid("network %s has no %s subnet for address %s", n.Name, fam, static)
		}
		return netip.Prefix{}, nil, nil
	}
	var want netip.Addr
	if static != "" {
		var err error
		if want, err = netip.ParseAddr(static); err != nil || want.Is6() != v6 {
			return netip.Prefix{}, nil, cnm.Invalid("invalid %s address %q", fam, static)
		}
	}
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	d, err := e.ipamOf(ctx, n)
	if err != nil {
		return netip.Prefix{}, nil, err
	}
	p, err := d.RequestAddress(ctx, c.PoolID, want, nil)
	if err != nil {
		return netip.Prefix{}, nil, err
	}
	return p, e.releaser(d, c.PoolID, p.Addr()), nil
}

// releaseEndpoint returns an endpoint's addresses to the IPAM driver.
func (e *Engine) releaseEndpoint(n *network, ep *cnm.Endpoint) {
	ctx, cancel := e.bctx()
	defer cancel()
	d, err := e.ipamOf(ctx, n)
	if err != nil {
		e.log.Warn("release endpoint addresses", "net", n.Name, "err", err)
		return
	}
	for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
		if !p.IsValid() {
			continue
		}
		if c, ok := poolOf(n, p.Addr().Is6()); ok && c.Subnet.Contains(p.Addr()) {
			if err := d.ReleaseAddress(ctx, c.PoolID, p.Addr()); err != nil && !errors.Is(err, cnm.ErrNotFound) {
				e.log.Warn("release address", "net", n.Name, "addr", p.Addr(), "err", err)
			}
		}
	}
}

// reserveEndpoint requests an endpoint's addresses again after a
// restart.
func (e *Engine) reserveEndpoint(ctx context.Context, n *network, ep *cnm.Endpoint) {
	e.reserve(ctx, n, ep, false)
}

// reserveRemote keeps a remote endpoint's addresses out of this host's
// allocations. One this host already holds for it (a claim it lost to
// that endpoint's host) is not worth a warning.
func (e *Engine) reserveRemote(ctx context.Context, n *network, ep *cnm.Endpoint) {
	e.reserve(ctx, n, ep, true)
}

func (e *Engine) reserve(ctx context.Context, n *network, ep *cnm.Endpoint, remote bool) {
	e.mu.RLock()
	waiting := e.ipamWaiting[n.ID]
	e.mu.RUnlock()
	if waiting {
		return // replayed with the pools, when the plugin is back
	}
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	d, err := e.ipamOf(ctx, n)
	if err != nil {
		return
	}
	if need, err := e.needsReplay(ctx, d, n); err != nil || !need {
		return
	}
	e.reserveEndpointIn(ctx, d, n, ep, remote)
}

// reserveEndpointIn is reserveEndpoint with the driver found.
func (e *Engine) reserveEndpointIn(ctx context.Context, d ipam.Driver, n *network, ep *cnm.Endpoint, remote bool) {
	for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
		if !p.IsValid() {
			continue
		}
		for _, c := range n.IPAM.Config {
			if c.PoolID != "" && c.Subnet.Contains(p.Addr()) {
				if _, err := d.RequestAddress(ctx, c.PoolID, p.Addr(), nil); err != nil && !(remote && errors.Is(err, cnm.ErrConflict)) {
					e.log.Warn("reserve endpoint address", "net", n.Name, "addr", p.Addr(), "err", err)
				}
				break
			}
		}
	}
}

// loadCursors reads the saved cursors, with those of records written
// before the IPAM driver kept them (keyed there by subnet).
func loadCursors(st *store.Store) (*cursorCache, error) {
	c := &cursorCache{dirty: map[string]netip.Addr{}}
	err := st.View(func(tx *store.Tx) error {
		var err error
		if c.saved, err = tx.Cursors(); err != nil {
			return err
		}
		nets, err := tx.Networks()
		if err != nil {
			return err
		}
		for _, n := range nets {
			for _, cfg := range n.IPAM.Config {
				cur, ok := n.Cursors[cfg.Subnet.String()]
				if !ok {
					continue
				}
				id := ipam.PoolKey{AddressSpace: ipam.LocalDefaultSpace, Pool: cfg.Subnet, SubPool: cfg.IPRange}.String()
				if _, have := c.saved[id]; !have {
					c.saved[id] = cur
					c.dirty[id] = cur
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load ipam cursors: %w", err)
	}
	return c, nil
}

// nullIPAMName is Docker's built-in IPAM driver that allocates nothing
// (--ipam-driver null): for a plugin network driver that assigns its own
// addresses (in CreateEndpoint's reply), or a network carrying no IP.
const nullIPAMName = "null"

// nullIPAM is Docker's null IPAM driver: one IPv4 pool, 0.0.0.0/0, which
// the network shows as its subnet and a plugin gets in CreateNetwork's
// IPv4Data (address space "null"), no gateway, and no address for any
// endpoint. As in Docker, a subnet, an IP range, IPv6 or a static
// address cannot be asked of it.
type nullIPAM struct{}

const nullPoolID = "null/0.0.0.0/0"

func (nullIPAM) Capabilities(context.Context) (ipam.Capabilities, error) {
	return ipam.Capabilities{}, nil
}

func (nullIPAM) DefaultAddressSpaces(context.Context) (string, string, error) {
	return nullIPAMName, nullIPAMName, nil
}

func (nullIPAM) RequestPool(_ context.Context, req ipam.PoolRequest) (ipam.Pool, error) {
	switch {
	case req.Pool.IsValid():
		return ipam.Pool{}, cnm.Invalid("null ipam driver does not handle specific address pool requests")
	case req.SubPool.IsValid():
		return ipam.Pool{}, cnm.Invalid("null ipam driver does not handle specific address subpool requests")
	case req.V6:
		return ipam.Pool{}, cnm.Invalid("null ipam driver does not handle IPv6 address pool requests")
	}
	return ipam.Pool{ID: nullPoolID, Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}, nil
}

func (nullIPAM) ReleasePool(_ context.Context, poolID string) error {
	if poolID != nullPoolID {
		return cnm.NotFound("unknown pool id: %s", poolID)
	}
	return nil
}

// RequestAddress hands out nothing: the zero prefix. A static address
// is refused, as Docker refuses one on a network without configured
// subnets.
func (nullIPAM) RequestAddress(_ context.Context, poolID string, addr netip.Addr, opts map[string]string) (netip.Prefix, error) {
	if poolID != nullPoolID {
		return netip.Prefix{}, cnm.NotFound("unknown pool id: %s", poolID)
	}
	if addr.IsValid() {
		return netip.Prefix{}, cnm.Invalid("user specified IP address %s is supported only when connecting to networks with user configured subnets (this one has --ipam-driver null)", addr)
	}
	return netip.Prefix{}, nil
}

func (nullIPAM) ReleaseAddress(context.Context, string, netip.Addr) error { return nil }
