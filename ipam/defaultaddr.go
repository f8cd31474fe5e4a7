package ipam

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// RequestAddress allocates an address of the pool and returns it with
// the pool's prefix length.
//
// A given addr is reserved (a static address, a replayed one after a
// restart, the user's gateway, an auxiliary address); it may lie outside
// the sub-pool but not outside the pool, and does not move the cursor.
// Otherwise the gateway request (RequestAddressType=GatewayAddressType)
// gets the first free address of the pool, and any other request the
// next free address after the cursor, within the sub-pool if there is
// one; the new cursor is saved before the address is returned.
func (d *DefaultDriver) RequestAddress(ctx context.Context, poolID string, addr netip.Addr, opts map[string]string) (netip.Prefix, error) {
	if err := ctx.Err(); err != nil {
		return netip.Prefix{}, fmt.Errorf("request address in pool %s: %w", poolID, err)
	}
	p, err := d.lookup(poolID)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("request address: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return netip.Prefix{}, cnm.NotFound("request address: pool %q not found", poolID)
	}
	typ, role := opts[RequestAddressType], ""
	switch typ {
	case GatewayAddressType:
		role = "the gateway"
	case AuxAddressType:
		role = "auxiliary address"
		if name := opts[AuxNameOption]; name != "" {
			role += " " + name
		}
	}
	var ip netip.Addr
	switch {
	case addr.IsValid():
		ip, err = p.reserveLocked(addr, typ == AuxAddressType)
	case typ == GatewayAddressType:
		ip, err = p.gatewayLocked()
	case typ == AuxAddressType:
		err = cnm.Invalid("request %s in pool %s: no address given", role, poolID)
	default:
		ip, err = p.nextLocked(d.cfg.Cursors)
	}
	if err != nil {
		return netip.Prefix{}, err
	}
	p.addrs[ip] = role
	return netip.PrefixFrom(ip, p.key.Pool.Bits()), nil
}

// lookup returns the pool with the given ID.
func (d *DefaultDriver) lookup(poolID string) (*pool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.pools[poolID]
	if !ok {
		return nil, cnm.NotFound("pool %q not found", poolID)
	}
	return p, nil
}

// reserveLocked checks and reserves the given address a; an auxiliary
// address may be the pool's network or broadcast address.
func (p *pool) reserveLocked(a netip.Addr, aux bool) (netip.Addr, error) {
	sub := p.key.Pool
	if a.Zone() != "" {
		return netip.Addr{}, cnm.Invalid("request address %s in pool %s: zones are not allowed", a, p.id)
	}
	ip := canonAddr(sub, a)
	if ip.Is4() != sub.Addr().Is4() || !sub.Contains(ip) {
		return netip.Addr{}, cnm.Invalid("request address %s: outside pool %s", ip, p.id)
	}
	if r, ok := p.addrs[ip]; ok {
		return netip.Addr{}, cnm.Conflict("request address %s in pool %s: already in use%s", ip, p.id, asRole(r))
	}
	if aux && special(sub, ip) != "" {
		return ip, nil // never handed out anyway; the allocator refuses to reserve it
	}
	if err := p.alloc.Reserve(ip); err != nil {
		return netip.Addr{}, fmt.Errorf("request address %s in pool %s: %w", ip, p.id, err)
	}
	return ip, nil
}

// gatewayLocked reserves the first free address of the pool.
func (p *pool) gatewayLocked() (netip.Addr, error) {
	sub := p.key.Pool
	for a := firstUsable(sub); sub.Contains(a) && special(sub, a) == ""; a = a.Next() {
		if _, used := p.addrs[a]; !used {
			if err := p.alloc.Reserve(a); err != nil {
				return netip.Addr{}, fmt.Errorf("request the gateway in pool %s: %w", p.id, err)
			}
			return a, nil
		}
	}
	return netip.Addr{}, cnm.Unavailable("request the gateway in pool %s: no address left", p.id)
}

// nextLocked hands out the next address after the cursor and saves the
// cursor, undoing the allocation if that fails.
func (p *pool) nextLocked(cursors CursorStore) (netip.Addr, error) {
	prev := p.alloc.Cursor()
	ip, err := p.alloc.Next()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("request address in pool %s: %w", p.id, err)
	}
	if cursors != nil {
		if err := cursors.SaveCursor(p.id, ip); err != nil {
			p.alloc.Release(ip)
			p.alloc.SetCursor(prev)
			return netip.Addr{}, fmt.Errorf("request address in pool %s: save cursor: %w", p.id, err)
		}
	}
	return ip, nil
}

// ReleaseAddress frees an allocated address of the pool: an endpoint's,
// the gateway or an auxiliary address. An address that is not allocated
// is an error of kind cnm.ErrNotFound, which callers undoing a step may
// take as done.
func (d *DefaultDriver) ReleaseAddress(ctx context.Context, poolID string, addr netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("release address %s in pool %s: %w", addr, poolID, err)
	}
	p, err := d.lookup(poolID)
	if err != nil {
		return fmt.Errorf("release address %s: %w", addr, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return cnm.NotFound("release address %s: pool %q not found", addr, poolID)
	}
	sub := p.key.Pool
	ip := canonAddr(sub, addr)
	switch {
	case !ip.IsValid():
		return cnm.Invalid("release address in pool %s: no address given", poolID)
	case ip.Is4() != sub.Addr().Is4() || !sub.Contains(ip):
		return cnm.Invalid("release address %s: outside pool %s", ip, poolID)
	}
	if _, ok := p.addrs[ip]; !ok {
		return cnm.NotFound("release address %s: not allocated in pool %s", ip, poolID)
	}
	delete(p.addrs, ip)
	p.alloc.Release(ip)
	return nil
}

// describeLocked lists up to n allocated addresses with their roles.
func (p *pool) describeLocked(n int) string {
	ips := slices.SortedFunc(maps.Keys(p.addrs), netip.Addr.Compare)
	var parts []string
	for i, ip := range ips {
		if i == n {
			parts = append(parts, "…")
			break
		}
		if r := p.addrs[ip]; r != "" {
			parts = append(parts, ip.String()+" "+strings.TrimPrefix(r, "the "))
		} else {
			parts = append(parts, ip.String())
		}
	}
	return strings.Join(parts, ", ")
}

// asRole renders a role for "already in use…".
func asRole(role string) string {
	if role == "" {
		return ""
	}
	return " as " + role
}
