package dockerplugin

import (
	"context"
	"net/netip"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/plugin/wire"
)

// The address spaces patchbay's IPAM names to Docker. They differ from
// Docker's own (LocalDefault, GlobalDefault) so that CreateNetwork tells
// which IPAM allocated a network's pools; they map onto the default
// driver's spaces.
const (
	LocalSpace  = "PatchbayLocal"
	GlobalSpace = "PatchbayGlobal"
)

func (s *Server) ipamHandlers() map[string]handler {
	return map[string]handler{
		"GetCapabilities": func(context.Context, []byte) (any, error) {
			return wire.IPAMCapabilitiesResponse{}, nil
		},
		"GetDefaultAddressSpaces": func(context.Context, []byte) (any, error) {
			return wire.AddressSpacesResponse{LocalDefaultAddressSpace: LocalSpace, GlobalDefaultAddressSpace: GlobalSpace}, nil
		},
		"RequestPool":    s.requestPool,
		"ReleasePool":    s.releasePool,
		"RequestAddress": s.requestAddress,
		"ReleaseAddress": s.releaseAddress,
	}
}

func space(name string) (string, error) {
	switch name {
	case LocalSpace, "":
		return ipam.LocalDefaultSpace, nil
	case GlobalSpace:
		return ipam.GlobalDefaultSpace, nil
	}
	return "", cnm.Invalid("unknown address space %q (have %s, %s)", name, LocalSpace, GlobalSpace)
}

func optionalPrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, cnm.Invalid("invalid pool %q", s)
	}
	return p, nil
}

func (s *Server) requestPool(ctx context.Context, body []byte) (any, error) {
	var req wire.RequestPoolRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	sp, err := space(req.AddressSpace)
	if err != nil {
		return nil, err
	}
	pool, err := optionalPrefix(req.Pool)
	if err != nil {
		return nil, err
	}
	sub, err := optionalPrefix(req.SubPool)
	if err != nil {
		return nil, err
	}
	p, err := s.ipam.RequestPool(ctx, ipam.PoolRequest{AddressSpace: sp, Pool: pool, SubPool: sub, Options: req.Options, V6: req.V6})
	if err != nil {
		return nil, err
	}
	return wire.RequestPoolResponse{PoolID: p.ID, Pool: p.Prefix.String(), Data: map[string]string{}}, nil
}

func (s *Server) releasePool(ctx context.Context, body []byte) (any, error) {
	var req wire.ReleasePoolRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return nil, s.ipam.ReleasePool(ctx, req.PoolID)
}

func (s *Server) requestAddress(ctx context.Context, body []byte) (any, error) {
	var req wire.RequestAddressRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	var want netip.Addr
	if req.Address != "" {
		a, err := netip.ParseAddr(req.Address)
		if err != nil {
			return nil, cnm.Invalid("invalid address %q", req.Address)
		}
		want = a
	}
	p, err := s.ipam.RequestAddress(ctx, req.PoolID, want, req.Options)
	if err != nil {
		return nil, err
	}
	return wire.RequestAddressResponse{Address: p.String(), Data: map[string]string{}}, nil
}

func (s *Server) releaseAddress(ctx context.Context, body []byte) (any, error) {
	var req wire.ReleaseAddressRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	a, err := netip.ParseAddr(req.Address)
	if err != nil {
		return nil, cnm.Invalid("invalid address %q", req.Address)
	}
	return nil, s.ipam.ReleaseAddress(ctx, req.PoolID, a)
}
