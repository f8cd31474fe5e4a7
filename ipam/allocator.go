package ipam

import (
	"encoding/binary"
	"hash/fnv"
	"maps"
	"math"
	"net/netip"

	"github.com/patchbay/patchbay/cnm"
)

// Allocator hands out the addresses of one Config. Dynamic allocation is
// serial: each Next continues after the last address it handed out,
// within IPRange if set and else within Subnet, and wraps around at the
// end, so a released address is not reused before the range wraps.
//
// It never hands out the IPv4 network and broadcast addresses or the
// IPv6 subnet-router anycast address (except in /31 and /32 IPv4 and
// /127 and /128 IPv6 subnets, where every address is usable), the
// gateway, the auxiliary addresses or an address in use.
//
// An Allocator is not safe for concurrent use; the caller serialises.
type Allocator struct {
	cfg         Config
	rng         netip.Prefix // where Next allocates: IPRange or Subnet
	last        netip.Addr   // highest address of rng
	aux         map[netip.Addr]string
	used        map[netip.Addr]struct{}
	cursor      netip.Addr
	free        uint64 // addresses of rng Next may still hand out, saturated
	description string // "subnet X" or "ip-range X", for errors
}

// NewAllocator returns an allocator for c with nothing allocated. It
// normalizes c first and returns the error of Normalize if c is invalid.
func NewAllocator(c Config) (*Allocator, error) {
	c, err := c.Normalize()
	if err != nil {
		return nil, err
	}
	a := &Allocator{
		cfg:         c,
		rng:         c.Subnet,
		aux:         make(map[netip.Addr]string, len(c.Aux)),
		used:        make(map[netip.Addr]struct{}),
		description: "subnet " + c.Subnet.String(),
	}
	if c.IPRange.IsValid() {
		a.rng = c.IPRange
		a.description = "ip-range " + c.IPRange.String()
	}
	a.last = lastAddr(a.rng)
	for name, ip := range c.Aux {
		if old, ok := a.aux[ip]; !ok || name < old {
			a.aux[ip] = name
		}
	}
	// Count the addresses of rng that Next must skip.
	skip := map[netip.Addr]bool{c.Gateway: true}
	for ip := range a.aux {
		skip[ip] = true
	}
	if !allUsable(c.Subnet) {
		skip[c.Subnet.Addr()] = true
		if c.Subnet.Addr().Is4() {
			skip[lastAddr(c.Subnet)] = true
		}
	}
	a.free = size(a.rng)
	for ip := range skip {
		if a.rng.Contains(ip) {
			a.free--
		}
	}
	return a, nil
}

// Next allocates the next free address after the cursor, wrapping around
// at the end of the range. It fails with an error of kind
// cnm.ErrUnavailable when no address is left.
func (a *Allocator) Next() (netip.Addr, error) {
	if a.free == 0 {
		return netip.Addr{}, cnm.Unavailable("no available addresses in %s", a.description)
	}
	ip := a.rng.Addr()
	if a.cursor.IsValid() && a.cursor != a.last {
		ip = a.cursor.Next()
	}
	// free > 0, so this finds an address within one turn of the range.
	for !a.available(ip) {
		if ip == a.last {
			ip = a.rng.Addr()
		} else {
			ip = ip.Next()
		}
	}
	a.used[ip] = struct{}{}
	a.free--
	a.cursor = ip
	return ip, nil
}

// available reports whether ip, an address of the subnet, may be handed
// out.
func (a *Allocator) available(ip netip.Addr) bool {
	if ip == a.cfg.Gateway || special(a.cfg.Subnet, ip) != "" {
		return false
	}
	if _, ok := a.aux[ip]; ok {
		return false
	}
	_, ok := a.used[ip]
	return !ok
}

// Reserve allocates the static address ip, which may lie outside IPRange
// but must lie inside Subnet. It fails with an error of kind
// cnm.ErrInvalid if ip is outside the subnet or is its network, broadcast
// or subnet-router anycast address, and of kind cnm.ErrConflict if ip is
// in use, the gateway or an auxiliary address. It does not move the
// cursor.
func (a *Allocator) Reserve(ip netip.Addr) error {
	ip = canonAddr(a.cfg.Subnet, ip)
	sub := a.cfg.Subnet
	switch {
	case !ip.IsValid():
		return cnm.Invalid("invalid address: missing")
	case ip.Is4() != sub.Addr().Is4() || !sub.Contains(ip):
		return cnm.Invalid("address %s is outside subnet %s", ip, sub)
	case ip == a.cfg.Gateway:
		return cnm.Conflict("address %s is already in use as the gateway", ip)
	}
	if what := special(sub, ip); what != "" {
		return cnm.Invalid("address %s is the %s of subnet %s", ip, what, sub)
	}
	if name, ok := a.aux[ip]; ok {
		return cnm.Conflict("address %s is already in use as auxiliary address %s", ip, name)
	}
	if _, ok := a.used[ip]; ok {
		return cnm.Conflict("address %s is already in use", ip)
	}
	a.used[ip] = struct{}{}
	if a.rng.Contains(ip) {
		a.free--
	}
	return nil
}

// Release frees ip. Releasing an address that is not allocated, the
// gateway or an auxiliary address does nothing.
func (a *Allocator) Release(ip netip.Addr) {
	ip = canonAddr(a.cfg.Subnet, ip)
	if _, ok := a.used[ip]; !ok {
		return
	}
	delete(a.used, ip)
	if a.rng.Contains(ip) {
		a.free++
	}
}

// InUse reports whether ip is taken: allocated by Next or Reserve, or
// the gateway or an auxiliary address.
func (a *Allocator) InUse(ip netip.Addr) bool {
	ip = canonAddr(a.cfg.Subnet, ip)
	if !ip.IsValid() {
		return false
	}
	_, used := a.used[ip]
	_, aux := a.aux[ip]
	return used || aux || ip == a.cfg.Gateway
}

// Len returns how many addresses Next and Reserve have allocated and
// not yet released; the gateway and auxiliary addresses do not count.
func (a *Allocator) Len() int { return len(a.used) }

// Cursor returns the last address Next handed out, or the zero Addr if
// none. Callers persist it and restore it with SetCursor.
func (a *Allocator) Cursor() netip.Addr { return a.cursor }

// SetCursor makes Next continue after ip, as after a restart. An ip
// outside the allocation range resets the cursor, so Next starts over
// from the beginning of the range.
func (a *Allocator) SetCursor(ip netip.Addr) {
	ip = canonAddr(a.cfg.Subnet, ip)
	if !ip.IsValid() || ip.Is4() != a.rng.Addr().Is4() || !a.rng.Contains(ip) {
		ip = netip.Addr{}
	}
	a.cursor = ip
}

// Point returns the address of the allocation range at an offset
// derived from seed (a hash of it, modulo the range's size): a
// deterministic, evenly spread point for seed.
func (a *Allocator) Point(seed string) netip.Addr {
	h := fnv.New64a()
	h.Write([]byte(seed))
	off := h.Sum64()
	if n := size(a.rng); n != math.MaxUint64 {
		off %= n
	}
	b := a.rng.Masked().Addr().As16()
	lo := binary.BigEndian.Uint64(b[8:]) + off // host bits are zero: no carry
	binary.BigEndian.PutUint64(b[8:], lo)
	return canonAddr(a.rng, netip.AddrFrom16(b))
}

// Config returns the normalized configuration of the allocator.
func (a *Allocator) Config() Config {
	c := a.cfg
	c.Aux = maps.Clone(c.Aux)
	return c
}
