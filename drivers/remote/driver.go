// Package remote is the network driver of a Docker NetworkDriver plugin:
// each method of driver.Driver is one call of the plugin protocol
// (package plugin/wire has the bodies), as libnetwork's remote driver
// does it. The plugin makes its interface in the daemon's namespace and
// names it in Join's reply; the driver moves it into the sandbox. Every
// call carries the caller's deadline; replies are checked, and a
// malformed or contradictory one fails naming the plugin and the call.
package remote

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin"
	"github.com/patchbay/patchbay/plugin/wire"
)

// Caller calls the plugin's NetworkDriver methods (plugin.Caller).
type Caller interface {
	Call(ctx context.Context, method string, args, ret any) error
}

// Docker's option keys of CreateNetwork.
const (
	OptGeneric    = "com.docker.network.generic"
	OptEnableIPv4 = "com.docker.network.enable_ipv4"
	OptEnableIPv6 = "com.docker.network.enable_ipv6"
	OptInternal   = "com.docker.network.internal"
)

// NullAddressSpace is the address space of the null IPAM driver's one
// pool, 0.0.0.0/0, as CreateNetwork's IPv4Data names it.
const NullAddressSpace = "null"

// Driver is a plugin's network driver.
type Driver struct {
	name string
	c    Caller

	// mu guards scope: the plugin's DataScope, as GetCapabilities last
	// reported it; and nodes, the hosts the plugin was told of
	// (DiscoverNew), and noDiscovery, set once it answered 404.
	mu          sync.Mutex
	scope       string
	nodes       map[string]bool
	noDiscovery bool
}

// New returns the driver of the plugin name, called through c.
func New(name string, c Caller) *Driver { return &Driver{name: name, c: c, nodes: map[string]bool{}} }

// Type implements driver.Driver: the plugin's name.
func (d *Driver) Type() string { return d.name }

// call calls a method and names the call in a malformed reply's error.
func (d *Driver) call(ctx context.Context, method string, args, ret any) error {
	return d.c.Call(ctx, method, args, ret)
}

// bad is the error of a reply patchbay cannot use.
func (d *Driver) bad(method, format string, a ...any) error {
	return fmt.Errorf("plugin %s: NetworkDriver.%s: %s", d.name, method, fmt.Sprintf(format, a...))
}

// Capabilities implements driver.Driver (GetCapabilities).
func (d *Driver) Capabilities(ctx context.Context) (driver.Capability, error) {
	var r wire.CapabilitiesResponse
	if err := d.call(ctx, "GetCapabilities", nil, &r); err != nil {
		return driver.Capability{}, err
	}
	c := driver.Capability{DataScope: r.Scope, ConnectivityScope: r.ConnectivityScope,
		NeedsNamespace: true, Connectable: true, OutOfProcess: true}
	if c.ConnectivityScope == "" {
		c.ConnectivityScope = c.DataScope
	}
	for _, s := range []string{c.DataScope, c.ConnectivityScope} {
		if s != driver.ScopeLocal && s != driver.ScopeGlobal {
			return driver.Capability{}, d.bad("GetCapabilities", "invalid scope %q", s)
		}
	}
	d.mu.Lock()
	d.scope = c.DataScope
	d.mu.Unlock()
	return c, nil
}

// global reports whether the plugin is global-scoped, asking it only
// if it was never asked.
func (d *Driver) global(ctx context.Context) (bool, error) {
	d.mu.Lock()
	scope := d.scope
	d.mu.Unlock()
	if scope == "" {
		c, err := d.Capabilities(ctx)
		if err != nil {
			return false, err
		}
		scope = c.DataScope
	}
	return scope == driver.ScopeGlobal, nil
}

// ParseOptions implements driver.Driver. Options are the plugin's to
// judge (in CreateNetwork); only the keys Docker itself puts beside them
// in CreateNetwork's options are refused, as they would be ambiguous.
func (d *Driver) ParseOptions(opts map[string]string) (any, error) {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		switch k {
		case OptGeneric, OptEnableIPv4, OptEnableIPv6, OptInternal:
			return nil, cnm.Invalid("driver option %q is reserved: Docker sets it for plugin %s", k, d.name)
		case "":
			return nil, cnm.Invalid("empty driver option name")
		}
	}
	return nil, nil
}

// ipamData is the network's pools in CreateNetwork's shape.
func ipamData(nw driver.Network) (v4, v6 []wire.IPAMData) {
	for _, s := range nw.Subnets {
		if !s.Prefix.IsValid() {
			continue
		}
		space := s.AddressSpace
		switch {
		case space != "":
		case s.Prefix.Bits() == 0:
			// Only the null IPAM driver's pool (--ipam-driver null)
			// is a /0; Docker names its address space "null".
			space = NullAddressSpace
		default:
			space = ipam.LocalDefaultSpace
		}
		data := wire.IPAMData{AddressSpace: space, Pool: s.Prefix.String()}
		if s.Gateway.IsValid() {
			data.Gateway = netip.PrefixFrom(s.Gateway, s.Prefix.Bits()).String()
		}
		for name, a := range s.Aux {
			if data.AuxAddresses == nil {
				data.AuxAddresses = map[string]string{}
			}
			data.AuxAddresses[name] = netip.PrefixFrom(a, s.Prefix.Bits()).String()
		}
		if s.Prefix.Addr().Is6() {
			v6 = append(v6, data)
		} else {
			v4 = append(v4, data)
		}
	}
	return v4, v6
}

func networkOptions(nw driver.Network) map[string]any {
	generic := map[string]any{}
	for k, v := range nw.Options {
		generic[k] = v
	}
	return map[string]any{
		OptGeneric:    generic,
		OptEnableIPv4: true,
		OptEnableIPv6: nw.IPv6,
		OptInternal:   nw.Internal,
	}
}

// CreateNetwork implements driver.Driver.
func (d *Driver) CreateNetwork(ctx context.Context, _ driver.Host, nw driver.Network) (driver.NetworkResult, error) {
	v4, v6 := ipamData(nw)
	req := wire.CreateNetworkRequest{NetworkID: nw.ID, Options: networkOptions(nw), IPv4Data: v4, IPv6Data: v6}
	if err := d.call(ctx, "CreateNetwork", req, nil); err != nil {
		return driver.NetworkResult{}, err
	}
	return driver.NetworkResult{}, nil
}

// DeleteNetwork implements driver.Driver.
func (d *Driver) DeleteNetwork(ctx context.Context, _ driver.Host, nw driver.Network) error {
	return d.call(ctx, "DeleteNetwork", wire.NetworkRequest{NetworkID: nw.ID}, nil)
}

// AllocateNetwork implements driver.Allocator: a global-scope plugin
// allocates the network once for the cluster; for others it is not
// called (as Docker calls it only for global-scope drivers).
func (d *Driver) AllocateNetwork(ctx context.Context, nw driver.Network) (map[string]string, error) {
	if g, err := d.global(ctx); err != nil || !g {
		return nil, err
	}
	v4, v6 := ipamData(nw)
	req := wire.AllocateNetworkRequest{NetworkID: nw.ID, Options: maps.Clone(nw.Options), IPv4Data: v4, IPv6Data: v6}
	var r wire.AllocateNetworkResponse
	if err := d.call(ctx, "AllocateNetwork", req, &r); err != nil {
		if errors.Is(err, plugin.ErrNotImplemented) {
			return nil, nil
		}
		return nil, err
	}
	return r.Options, nil
}

// FreeNetwork implements driver.Allocator.
func (d *Driver) FreeNetwork(ctx context.Context, nw driver.Network) error {
	if g, err := d.global(ctx); err != nil || !g {
		return err
	}
	err := d.call(ctx, "FreeNetwork", wire.NetworkRequest{NetworkID: nw.ID}, nil)
	if errors.Is(err, plugin.ErrNotImplemented) {
		return nil
	}
	return err
}

// endpointOptions are the endpoint's driver options; its MAC and
// addresses travel in CreateEndpoint's Interface.
func endpointOptions(ep driver.Endpoint) map[string]any {
	out := map[string]any{}
	for k, v := range ep.Options {
		out[k] = v
	}
	return out
}

// CreateEndpoint implements driver.Driver. The plugin may supply what
// the engine left empty (MAC, addresses); a value that contradicts the
// engine's, or an address outside the network's subnets, is refused.
func (d *Driver) CreateEndpoint(ctx context.Context, _ driver.Host, nw driver.Network, ep driver.Endpoint) (driver.EndpointResult, error) {
	in := &wire.EndpointInterface{}
	if ep.IPv4.IsValid() {
		in.Address = ep.IPv4.String()
	}
	if ep.IPv6.IsValid() {
		in.AddressIPv6 = ep.IPv6.String()
	}
	if len(ep.MAC) > 0 {
		in.MacAddress = ep.MAC.String()
	}
	req := wire.CreateEndpointRequest{NetworkID: nw.ID, EndpointID: ep.ID, Interface: in, Options: endpointOptions(ep)}
	var r wire.CreateEndpointResponse
	if err := d.call(ctx, "CreateEndpoint", req, &r); err != nil {
		return driver.EndpointResult{}, err
	}
	res, err := d.endpointResult(nw, ep, r.Interface)
	if err != nil {
		// Undo what the plugin did, as Docker does.
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = d.call(uctx, "DeleteEndpoint", wire.EndpointRequest{NetworkID: nw.ID, EndpointID: ep.ID}, nil)
		return driver.EndpointResult{}, err
	}
	return res, nil
}

func (d *Driver) endpointResult(nw driver.Network, ep driver.Endpoint, in *wire.EndpointInterface) (driver.EndpointResult, error) {
	var res driver.EndpointResult
	if in == nil {
		return res, nil
	}
	const m = "CreateEndpoint"
	if in.MacAddress != "" {
		mac, err := net.ParseMAC(in.MacAddress)
		if err != nil {
			return res, d.bad(m, "invalid MacAddress %q", in.MacAddress)
		}
		if len(ep.MAC) > 0 && mac.String() != ep.MAC.String() {
			return res, d.bad(m, "MacAddress %s contradicts the endpoint's %s", mac, ep.MAC)
		}
		if len(ep.MAC) == 0 {
			res.MAC = mac
		}
	}
	for _, f := range []struct {
		name, val string
		have      netip.Prefix
		dst       *netip.Prefix
		v6        bool
	}{{"Address", in.Address, ep.IPv4, &res.IPv4, false}, {"AddressIPv6", in.AddressIPv6, ep.IPv6, &res.IPv6, true}} {
		if f.val == "" {
			continue
		}
		p, err := netip.ParsePrefix(f.val)
		if err != nil || p.Addr().Is6() != f.v6 {
			return res, d.bad(m, "invalid %s %q", f.name, f.val)
		}
		if f.have.IsValid() {
			if p != f.have {
				return res, d.bad(m, "%s %s contradicts the endpoint's %s", f.name, p, f.have)
			}
			continue
		}
		if !inSubnets(nw, p.Addr()) {
			return res, d.bad(m, "%s %s is outside the network's subnets", f.name, p)
		}
		*f.dst = p
	}
	return res, nil
}

func inSubnets(nw driver.Network, a netip.Addr) bool {
	for _, s := range nw.Subnets {
		if s.Prefix.Contains(a) {
			return true
		}
	}
	return false
}

// undoTimeout bounds the call that undoes a failed step.
const undoTimeout = 10 * time.Second

// undoContext is the context of an undo call: it runs even when ctx has
// ended, within undoTimeout.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
}

// DeleteEndpoint implements driver.Driver.
func (d *Driver) DeleteEndpoint(ctx context.Context, _ driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return d.call(ctx, "DeleteEndpoint", wire.EndpointRequest{NetworkID: nw.ID, EndpointID: ep.ID}, nil)
}

// Leave implements driver.Driver.
func (d *Driver) Leave(ctx context.Context, _ driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return d.call(ctx, "Leave", wire.EndpointRequest{NetworkID: nw.ID, EndpointID: ep.ID}, nil)
}

// ProgramExternalConnectivity implements driver.ExternalConnectivity; a
// plugin that does not implement it (404) is fine.
func (d *Driver) ProgramExternalConnectivity(ctx context.Context, _ driver.Host, nw driver.Network, ep driver.Endpoint) error {
	req := wire.ProgramExternalConnectivityRequest{NetworkID: nw.ID, EndpointID: ep.ID, Options: endpointOptions(ep)}
	if err := d.call(ctx, "ProgramExternalConnectivity", req, nil); err != nil && !errors.Is(err, plugin.ErrNotImplemented) {
		return err
	}
	return nil
}

// RevokeExternalConnectivity implements driver.ExternalConnectivity.
func (d *Driver) RevokeExternalConnectivity(ctx context.Context, _ driver.Host, nw driver.Network, ep driver.Endpoint) error {
	err := d.call(ctx, "RevokeExternalConnectivity", wire.EndpointRequest{NetworkID: nw.ID, EndpointID: ep.ID}, nil)
	if err != nil && !errors.Is(err, plugin.ErrNotImplemented) {
		return err
	}
	return nil
}

// EndpointOperInfo implements driver.OperInfoer; a plugin that does not
// implement it (404) reports nothing.
func (d *Driver) EndpointOperInfo(ctx context.Context, _ driver.Host, nw driver.Network, ep driver.Endpoint) (map[string]string, error) {
	var r wire.EndpointInfoResponse
	err := d.call(ctx, "EndpointOperInfo", wire.EndpointRequest{NetworkID: nw.ID, EndpointID: ep.ID}, &r)
	if errors.Is(err, plugin.ErrNotImplemented) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range r.Value {
		if s, ok := v.(string); ok {
			out[k] = s
		} else {
			out[k] = strings.TrimSpace(fmt.Sprint(v))
		}
	}
	return out, nil
}
