package ipam

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/patchbay/patchbay/cnm"
)

// DefaultConfig configures the default driver. The zero value is usable.
type DefaultConfig struct {
	// LocalPools are the pools, of both families, from which subnets of
	// the local address space are chosen. Default: DefaultPools(), which
	// has no IPv6 pool, so an IPv6 pool must then be asked for by subnet.
	LocalPools []PoolSpec
	// GlobalPools are the same for the global address space. Default:
	// 10.0.0.0/8 split into /24 subnets, as Docker's.
	GlobalPools []PoolSpec
	// HostPrefixes lists what the host uses: its routes, interface
	// addresses and nameservers. Pools of the local address space avoid
	// them (except pools asked for by subnet with OptionOverlapGroup or
	// OptionReplay).
	// It is called once per RequestPool, without the driver's lock held.
	// nil: the host uses nothing.
	HostPrefixes func(ctx context.Context) ([]netip.Prefix, error)
	// Cursors persists the allocation cursors; nil keeps them in memory.
	// SaveCursor is called with the pool's lock held, once per address
	// the driver chooses.
	Cursors CursorStore
	// Spread, when set (a host's node name), starts serial allocation in
	// a pool of the global address space that has no saved cursor at a
	// point of its range derived from Spread, instead of its beginning:
	// hosts sharing a pool, each proposing addresses that a claim in the
	// cluster store then settles, seldom propose the same one.
	Spread string
}

// DefaultDriver is patchbay's default IPAM driver. It chooses subnets
// from its pools that overlap neither each other nor the host's prefixes,
// and hands out addresses serially (each after the last one handed out,
// wrapping at the end of the pool or sub-pool), so a released address is
// not reused before the others. The gateway request without an address
// gets the first free address of the subnet.
//
// It keeps its allocations in memory (so it requires request replay:
// after a restart, request each pool with its subnet and each address
// explicitly; a pool gets the same ID again) and persists only the
// cursors through DefaultConfig.Cursors. It is safe for concurrent use.
type DefaultDriver struct {
	cfg DefaultConfig

	mu      sync.Mutex
	pools   map[string]*pool
	cursors map[string]netip.Addr // as loaded, minus released pools; nil until loaded
}

// pool is one allocated pool of the default driver.
type pool struct {
	key   PoolKey
	id    string
	group string // OptionOverlapGroup

	mu       sync.Mutex
	alloc    *Allocator            // built without gateway and aux: they are reserved like any address
	addrs    map[netip.Addr]string // every allocated address and its role ("" for an endpoint)
	released bool
}

var _ Driver = (*DefaultDriver)(nil)

// NewDefault returns a default driver with no pools allocated.
func NewDefault(cfg DefaultConfig) *DefaultDriver {
	if cfg.LocalPools == nil {
		cfg.LocalPools = DefaultPools()
	}
	if cfg.GlobalPools == nil {
		cfg.GlobalPools = []PoolSpec{{Base: netip.MustParsePrefix("10.0.0.0/8"), Size: 24}}
	}
	cfg.LocalPools = slices.Clone(cfg.LocalPools)
	cfg.GlobalPools = slices.Clone(cfg.GlobalPools)
	return &DefaultDriver{cfg: cfg, pools: map[string]*pool{}}
}

// Capabilities reports that the driver needs request replay.
func (d *DefaultDriver) Capabilities(ctx context.Context) (Capabilities, error) {
	if err := ctx.Err(); err != nil {
		return Capabilities{}, fmt.Errorf("get ipam capabilities: %w", err)
	}
	return Capabilities{RequiresRequestReplay: true}, nil
}

// DefaultAddressSpaces returns LocalDefault and GlobalDefault.
func (d *DefaultDriver) DefaultAddressSpaces(ctx context.Context) (string, string, error) {
	if err := ctx.Err(); err != nil {
		return "", "", fmt.Errorf("get default address spaces: %w", err)
	}
	return LocalDefaultSpace, GlobalDefaultSpace, nil
}

// RequestPool allocates req.Pool, which must overlap no other pool of
// its address space (outside its overlap group) and, in the local space,
// none of the host's prefixes; or, if req.Pool is the zero Prefix, the
// first subnet of the driver's pools that overlaps none of them. A Pool
// with the unspecified address, like 0.0.0.0/24, asks for any subnet of
// that size. An empty AddressSpace means LocalDefault.
func (d *DefaultDriver) RequestPool(ctx context.Context, req PoolRequest) (Pool, error) {
	if err := ctx.Err(); err != nil {
		return Pool{}, fmt.Errorf("request pool: %w", err)
	}
	key, err := poolKey(req)
	if err != nil {
		return Pool{}, err
	}
	group := req.Options[OptionOverlapGroup]
	choose := !key.Pool.IsValid() || key.Pool.Addr().IsUnspecified()
	checkHost := choose || group == "" && req.Options[OptionReplay] != "true"
	var host []netip.Prefix
	if key.AddressSpace == LocalDefaultSpace && checkHost && d.cfg.HostPrefixes != nil {
		if host, err = d.cfg.HostPrefixes(ctx); err != nil {
			return Pool{}, fmt.Errorf("request pool: list the host's prefixes: %w", err)
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.loadCursorsLocked(); err != nil {
		return Pool{}, err
	}
	if choose {
		if key.Pool, err = d.chooseLocked(key, req.V6, host); err != nil {
			return Pool{}, fmt.Errorf("request pool: %w", err)
		}
	} else if err := d.checkOverlapLocked(key, group, host); err != nil { // host is nil if not to be checked
		return Pool{}, fmt.Errorf("request pool: %w", err)
	}
	id := key.String()
	if _, ok := d.pools[id]; ok {
		return Pool{}, cnm.Conflict("request pool: pool %s is already allocated", id)
	}
	a, err := NewAllocator(Config{Subnet: key.Pool, IPRange: key.SubPool, NoDefaultGateway: true})
	if err != nil {
		return Pool{}, fmt.Errorf("request pool %s: %w", id, err)
	}
	if c, ok := d.cursors[id]; ok {
		a.SetCursor(c)
	} else if key.AddressSpace == GlobalDefaultSpace && d.cfg.Spread != "" {
		a.SetCursor(a.Point(d.cfg.Spread))
	}
	d.pools[id] = &pool{key: key, id: id, group: group, alloc: a, addrs: map[netip.Addr]string{}}
	return Pool{ID: id, Prefix: key.Pool}, nil
}

// poolKey checks req and returns the key of the pool it asks for; the
// pool is left unspecified if the driver is to choose it.
func poolKey(req PoolRequest) (PoolKey, error) {
	k := PoolKey{AddressSpace: req.AddressSpace, Name: req.Options[OptionPoolName]}
	switch k.AddressSpace {
	case "":
		k.AddressSpace = LocalDefaultSpace
	case LocalDefaultSpace, GlobalDefaultSpace:
	default:
		return PoolKey{}, cnm.NotFound("request pool: address space %q not found", req.AddressSpace)
	}
	fam := "IPv4"
	if req.V6 {
		fam = "IPv6"
	}
	if req.Pool != (netip.Prefix{}) {
		p := req.Pool
		switch {
		case !p.IsValid():
			return PoolKey{}, cnm.Invalid("request pool: invalid pool %s", req.Pool)
		case !p.Addr().IsUnspecified():
			if err := CheckSubnet(p); err != nil {
				return PoolKey{}, fmt.Errorf("request pool: %w", err)
			}
		}
		switch {
		case p.Masked() != p:
			return PoolKey{}, cnm.Invalid("request pool: invalid pool %s: host bits set, did you mean %s", p, p.Masked())
		case p.Addr().Is6() != req.V6:
			return PoolKey{}, cnm.Invalid("request pool: pool %s is not %s", p, fam)
		}
		k.Pool = p
	}
	if req.SubPool != (netip.Prefix{}) {
		s := unmapPrefix(req.SubPool)
		switch {
		case !k.Pool.IsValid() || k.Pool.Addr().IsUnspecified():
			return PoolKey{}, cnm.Invalid("request pool: sub-pool %s needs a pool", req.SubPool)
		case !s.IsValid():
			return PoolKey{}, cnm.Invalid("request pool: invalid sub-pool %s", req.SubPool)
		case s.Masked() != s:
			return PoolKey{}, cnm.Invalid("request pool: invalid sub-pool %s: host bits set, did you mean %s", s, s.Masked())
		case s.Addr().Is6() != req.V6 || s.Bits() < k.Pool.Bits() || !k.Pool.Contains(s.Addr()):
			return PoolKey{}, cnm.Invalid("request pool: sub-pool %s is outside pool %s", s, k.Pool)
		}
		k.SubPool = s
	}
	return k, nil
}

// chooseLocked picks a subnet for k from the pools of its space, of the
// size of k.Pool if that is unspecified (0.0.0.0/24), avoiding host and
// every pool of the space.
func (d *DefaultDriver) chooseLocked(k PoolKey, v6 bool, host []netip.Prefix) (netip.Prefix, error) {
	specs := d.cfg.LocalPools
	if k.AddressSpace == GlobalDefaultSpace {
		specs = d.cfg.GlobalPools
	}
	if k.Pool.IsValid() {
		sized := make([]PoolSpec, 0, len(specs))
		for _, s := range specs {
			if unmapPrefix(s.Base).Bits() <= k.Pool.Bits() {
				sized = append(sized, PoolSpec{Base: unmapPrefix(s.Base), Size: k.Pool.Bits()})
			}
		}
		specs = sized
	}
	avoid := slices.Clone(host)
	for _, p := range d.pools {
		if p.key.AddressSpace == k.AddressSpace {
			avoid = append(avoid, p.key.Pool)
		}
	}
	return ChooseSubnet(specs, avoid, v6)
}

// checkOverlapLocked fails with an *OverlapError if k.Pool overlaps a
// pool of its space outside group, or, outside any group, one of host.
func (d *DefaultDriver) checkOverlapLocked(k PoolKey, group string, host []netip.Prefix) error {
	for _, id := range slices.Sorted(maps.Keys(d.pools)) {
		p := d.pools[id]
		if p.key.AddressSpace != k.AddressSpace || (group != "" && p.group == group) {
			continue
		}
		if Overlaps(p.key.Pool, k.Pool) {
			return &OverlapError{Pool: k.Pool, With: p.key.Pool, PoolID: id}
		}
	}
	if group != "" {
		return nil
	}
	for _, h := range host {
		if Overlaps(h, k.Pool) {
			return &OverlapError{Pool: k.Pool, With: unmapPrefix(h).Masked()}
		}
	}
	return nil
}

// loadCursorsLocked loads the saved cursors once.
func (d *DefaultDriver) loadCursorsLocked() error {
	if d.cursors != nil {
		return nil
	}
	var m map[string]netip.Addr
	if d.cfg.Cursors != nil {
		var err error
		if m, err = d.cfg.Cursors.LoadCursors(); err != nil {
			return fmt.Errorf("load ipam cursors: %w", err)
		}
	}
	if m == nil {
		m = map[string]netip.Addr{}
	}
	d.cursors = m
	return nil
}

// ReleasePool frees a pool whose addresses, gateway and auxiliary
// addresses included, have all been released, and forgets its cursor.
func (d *DefaultDriver) ReleasePool(ctx context.Context, poolID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("release pool %s: %w", poolID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.pools[poolID]
	if !ok {
		return cnm.NotFound("release pool: pool %q not found", poolID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.addrs); n > 0 {
		what := "addresses are"
		if n == 1 {
			what = "address is"
		}
		return cnm.Conflict("release pool %s: %d %s still allocated (%s)", poolID, n, what, p.describeLocked(3))
	}
	if d.cfg.Cursors != nil {
		if err := d.cfg.Cursors.SaveCursor(poolID, netip.Addr{}); err != nil {
			return fmt.Errorf("release pool %s: forget cursor: %w", poolID, err)
		}
	}
	p.released = true
	delete(d.pools, poolID)
	delete(d.cursors, poolID)
	return nil
}

// OverlapError is the error, of kind cnm.ErrConflict, of a pool that
// overlaps another pool or a prefix in use on the host. The engine may
// name what With is in its own terms.
type OverlapError struct {
	Pool   netip.Prefix // the pool asked for
	With   netip.Prefix // what it overlaps
	PoolID string       // the ID of the pool it overlaps; "" for the host's prefix
}

func (e *OverlapError) Error() string {
	if e.PoolID == "" {
		return fmt.Sprintf("subnet %s overlaps with %s, in use on the host", e.Pool, e.With)
	}
	return fmt.Sprintf("subnet %s overlaps with pool %s", e.Pool, e.PoolID)
}

// Unwrap makes errors.Is(err, cnm.ErrConflict) true.
func (e *OverlapError) Unwrap() error { return cnm.ErrConflict }
