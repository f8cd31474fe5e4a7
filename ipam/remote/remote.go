// Package remote is the ipam.Driver of a Docker IpamDriver plugin: each
// method is one call of the protocol (GetCapabilities,
// GetDefaultAddressSpaces, RequestPool, ReleasePool, RequestAddress,
// ReleaseAddress; bodies in package plugin/wire). Replies are checked: a
// pool or address that is malformed, or an address outside its pool or
// other than the one asked for, fails naming the plugin and the call.
package remote

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin"
	"github.com/patchbay/patchbay/plugin/wire"
)

// Caller calls the plugin's IpamDriver methods (plugin.Caller).
type Caller interface {
	Call(ctx context.Context, method string, args, ret any) error
}

// Driver is a plugin's IPAM driver.
type Driver struct {
	name string
	c    Caller

	// mu guards pools: the prefix of each pool handed out, to check
	// the addresses of later replies against.
	mu    sync.Mutex
	pools map[string]netip.Prefix
}

// New returns the IPAM driver of the plugin name, called through c.
func New(name string, c Caller) *Driver {
	return &Driver{name: name, c: c, pools: map[string]netip.Prefix{}}
}

func (d *Driver) bad(method, format string, a ...any) error {
	return fmt.Errorf("plugin %s: IpamDriver.%s: %s", d.name, method, fmt.Sprintf(format, a...))
}

// Capabilities implements ipam.Driver. The call is optional: a plugin
// that does not implement it (404) has no capabilities, as in Docker.
func (d *Driver) Capabilities(ctx context.Context) (ipam.Capabilities, error) {
	var r wire.IPAMCapabilitiesResponse
	err := d.c.Call(ctx, "GetCapabilities", nil, &r)
	if errors.Is(err, plugin.ErrNotImplemented) {
		return ipam.Capabilities{}, nil
	}
	if err != nil {
		return ipam.Capabilities{}, err
	}
	return ipam.Capabilities{RequiresMACAddress: r.RequiresMACAddress, RequiresRequestReplay: r.RequiresRequestReplay}, nil
}

// DefaultAddressSpaces implements ipam.Driver.
func (d *Driver) DefaultAddressSpaces(ctx context.Context) (string, string, error) {
	var r wire.AddressSpacesResponse
	if err := d.c.Call(ctx, "GetDefaultAddressSpaces", nil, &r); err != nil {
		return "", "", err
	}
	if r.LocalDefaultAddressSpace == "" || r.GlobalDefaultAddressSpace == "" {
		return "", "", d.bad("GetDefaultAddressSpaces", "empty address space in %+v", r)
	}
	return r.LocalDefaultAddressSpace, r.GlobalDefaultAddressSpace, nil
}

// RequestPool implements ipam.Driver. An empty address space is the
// plugin's local default. Patchbay's own options (ipam.Option*) are not
// sent.
func (d *Driver) RequestPool(ctx context.Context, req ipam.PoolRequest) (ipam.Pool, error) {
	if err := ctx.Err(); err != nil {
		return ipam.Pool{}, fmt.Errorf("plugin %s: IpamDriver.RequestPool: %w", d.name, err)
	}
	space := req.AddressSpace
	if space == "" || space == ipam.LocalDefaultSpace {
		local, _, err := d.DefaultAddressSpaces(ctx)
		if err != nil {
			return ipam.Pool{}, err
		}
		space = local
	}
	w := wire.RequestPoolRequest{AddressSpace: space, Options: wireOptions(req.Options), V6: req.V6}
	if req.Pool.IsValid() {
		w.Pool = req.Pool.String()
	}
	if req.SubPool.IsValid() {
		w.SubPool = req.SubPool.String()
	}
	var r wire.RequestPoolResponse
	if err := d.c.Call(ctx, "RequestPool", w, &r); err != nil {
		return ipam.Pool{}, err
	}
	p, err := netip.ParsePrefix(r.Pool)
	switch {
	case r.PoolID == "":
		err = d.bad("RequestPool", "empty PoolID")
	case err != nil:
		err = d.bad("RequestPool", "invalid Pool %q", r.Pool)
	case p.Addr().Is6() != req.V6:
		err = d.bad("RequestPool", "pool %s is not of the family asked for", p)
	case req.Pool.IsValid() && p.Masked() != req.Pool.Masked():
		err = d.bad("RequestPool", "pool %s is not the %s asked for", p, req.Pool)
	}
	if err != nil {
		if r.PoolID != "" {
			uctx, cancel := undoContext(ctx)
			defer cancel()
			_ = d.c.Call(uctx, "ReleasePool", wire.ReleasePoolRequest{PoolID: r.PoolID}, nil)
		}
		return ipam.Pool{}, err
	}
	d.mu.Lock()
	d.pools[r.PoolID] = p.Masked()
	d.mu.Unlock()
	return ipam.Pool{ID: r.PoolID, Prefix: p.Masked(), Data: r.Data}, nil
}

// wireOptions drops patchbay's own options, which no plugin knows.
func wireOptions(opts map[string]string) map[string]string {
	out := maps.Clone(opts)
	for k := range out {
		if strings.HasPrefix(k, "patchbay.") {
			delete(out, k)
		}
	}
	if len(out) == 0 {
		return map[string]string{}
	}
	return out
}

// undoContext bounds the call that gives back a reply refused: it runs
// even when ctx has ended.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// ReleasePool implements ipam.Driver.
func (d *Driver) ReleasePool(ctx context.Context, poolID string) error {
	if err := d.c.Call(ctx, "ReleasePool", wire.ReleasePoolRequest{PoolID: poolID}, nil); err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.pools, poolID)
	d.mu.Unlock()
	return nil
}

// RequestAddress implements ipam.Driver.
func (d *Driver) RequestAddress(ctx context.Context, poolID string, addr netip.Addr, opts map[string]string) (netip.Prefix, error) {
	w := wire.RequestAddressRequest{PoolID: poolID, Options: wireOptions(opts)}
	if t := opts[ipam.RequestAddressType]; strings.HasPrefix(t, "patchbay.") {
		delete(w.Options, ipam.RequestAddressType) // an aux address: a plain request
	}
	if addr.IsValid() {
		w.Address = addr.String()
	}
	var r wire.RequestAddressResponse
	if err := d.c.Call(ctx, "RequestAddress", w, &r); err != nil {
		return netip.Prefix{}, err
	}
	p, err := netip.ParsePrefix(r.Address)
	d.mu.Lock()
	pool, known := d.pools[poolID]
	d.mu.Unlock()
	switch {
	case r.Address == "":
		err = d.bad("RequestAddress", "empty Address")
	case err != nil:
		err = d.bad("RequestAddress", "invalid Address %q", r.Address)
	case addr.IsValid() && p.Addr() != addr:
		err = d.bad("RequestAddress", "address %s is not the %s asked for", p.Addr(), addr)
	case known && (!pool.Contains(p.Addr()) || p.Bits() != pool.Bits()):
		err = d.bad("RequestAddress", "address %s is outside pool %s", p, pool)
	}
	if err != nil {
		if p.IsValid() {
			uctx, cancel := undoContext(ctx)
			defer cancel()
			_ = d.c.Call(uctx, "ReleaseAddress", wire.ReleaseAddressRequest{PoolID: poolID, Address: p.Addr().String()}, nil)
		}
		return netip.Prefix{}, err
	}
	return p, nil
}

// ReleaseAddress implements ipam.Driver.
func (d *Driver) ReleaseAddress(ctx context.Context, poolID string, addr netip.Addr) error {
	return d.c.Call(ctx, "ReleaseAddress", wire.ReleaseAddressRequest{PoolID: poolID, Address: addr.String()}, nil)
}
