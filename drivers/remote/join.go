package remote

import (
	"context"
	"net/netip"
	"strings"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/plugin/wire"
)

// Join implements driver.Driver. The plugin names the interface it made
// in the daemon's namespace; when the sandbox is open the driver moves
// it in (renamed ep.IfName, with the endpoint's MAC and addresses),
// otherwise it hands it to the caller to move. A reply naming no
// interface, or one that does not exist, or a malformed gateway or route,
// fails the join, and the plugin is told to Leave.
func (d *Driver) Join(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) (_ driver.JoinInfo, retErr error) {
	req := wire.JoinRequest{NetworkID: nw.ID, EndpointID: ep.ID, SandboxKey: sb.Key, Options: map[string]any{}}
	var r wire.JoinResponse
	if err := d.call(ctx, "Join", req, &r); err != nil {
		return driver.JoinInfo{}, err
	}
	defer func() {
		if retErr != nil {
			uctx, cancel := undoContext(ctx)
			defer cancel()
			_ = d.Leave(uctx, h, nw, ep)
		}
	}()
	info, err := d.joinInfo(r)
	if err != nil {
		return driver.JoinInfo{}, err
	}
	if _, err := h.Handle.LinkByName(info.Interface.SrcName); err != nil {
		return driver.JoinInfo{}, d.bad("Join", "interface %q it named is not in the daemon's namespace: %v", info.Interface.SrcName, err)
	}
	if !sb.InPlace() {
		return info, nil
	}
	if err := nl.MoveInto(h.Handle, info.Interface.SrcName, sb.NS, sb.Handle, ep.IfName, ep.MAC, ep.IPv4, ep.IPv6); err != nil {
		return driver.JoinInfo{}, d.bad("Join", "move interface %s into the sandbox: %v", info.Interface.SrcName, err)
	}
	info.Interface = nil
	return info, nil
}

// joinInfo checks and converts Join's reply.
func (d *Driver) joinInfo(r wire.JoinResponse) (driver.JoinInfo, error) {
	const m = "Join"
	var info driver.JoinInfo
	if r.InterfaceName == nil || r.InterfaceName.SrcName == "" {
		return info, d.bad(m, "the reply names no interface (InterfaceName.SrcName)")
	}
	info.Interface = &driver.Move{SrcName: r.InterfaceName.SrcName, DstPrefix: r.InterfaceName.DstPrefix}
	var err error
	if info.Gateway4, err = parseGateway(r.Gateway); err != nil || (info.Gateway4.IsValid() && !info.Gateway4.Is4()) {
		return info, d.bad(m, "invalid Gateway %q", r.Gateway)
	}
	if info.Gateway6, err = parseGateway(r.GatewayIPv6); err != nil || (info.Gateway6.IsValid() && !info.Gateway6.Is6()) {
		return info, d.bad(m, "invalid GatewayIPv6 %q", r.GatewayIPv6)
	}
	for _, sr := range r.StaticRoutes {
		dst, err := netip.ParsePrefix(sr.Destination)
		if err != nil {
			return info, d.bad(m, "invalid static route destination %q", sr.Destination)
		}
		rt := driver.Route{Destination: dst.Masked()}
		switch sr.RouteType {
		case wire.RouteConnected:
		case wire.RouteNextHop:
			if rt.NextHop, err = netip.ParseAddr(sr.NextHop); err != nil || rt.NextHop.Is4() != dst.Addr().Is4() {
				return info, d.bad(m, "invalid next hop %q of the route to %s", sr.NextHop, sr.Destination)
			}
		default:
			return info, d.bad(m, "unknown route type %d of the route to %s", sr.RouteType, sr.Destination)
		}
		info.StaticRoutes = append(info.StaticRoutes, rt)
	}
	info.DisableGatewayService = r.DisableGatewayService
	return info, nil
}

// parseGateway reads a gateway as an address, or as "ip/len" (some
// plugins send the CIDR form).
func parseGateway(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Addr(), err
	}
	return netip.ParseAddr(s)
}
