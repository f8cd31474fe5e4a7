package testplugin

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/patchbay/patchbay/plugin/wire"
)

// Address spaces of the test IPAM.
const (
	LocalSpace  = "TestLocal"
	GlobalSpace = "TestGlobal"
)

// pools is the test IPAM's state. Caller holds Server.mu.
type pools struct {
	seq   int
	pools map[string]*tpool
}

type tpool struct {
	prefix netip.Prefix
	sub    netip.Prefix
	used   map[netip.Addr]bool
}

func newPools() *pools { return &pools{pools: map[string]*tpool{}} }

func (s *Server) ipamRoutes() {
	handle(s, "IpamDriver.GetCapabilities", func(*struct{}) (int, any) {
		return http.StatusOK, wire.IPAMCapabilitiesResponse{RequiresRequestReplay: true}
	})
	handle(s, "IpamDriver.GetDefaultAddressSpaces", func(*struct{}) (int, any) {
		return http.StatusOK, wire.AddressSpacesResponse{LocalDefaultAddressSpace: LocalSpace, GlobalDefaultAddressSpace: GlobalSpace}
	})
	handle(s, "IpamDriver.RequestPool", s.requestPool)
	handle(s, "IpamDriver.ReleasePool", func(req *wire.ReleasePoolRequest) (int, any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ipam.pools[req.PoolID] == nil {
			// go-plugins-helpers' shape: {"Err"} with 500.
			return failure("err500", "no pool "+req.PoolID)
		}
		delete(s.ipam.pools, req.PoolID)
		return ok()
	})
	handle(s, "IpamDriver.RequestAddress", s.requestAddress)
	handle(s, "IpamDriver.ReleaseAddress", func(req *wire.ReleaseAddressRequest) (int, any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.ipam.pools[req.PoolID]
		if p == nil {
			return failure("err500", "no pool "+req.PoolID)
		}
		a, err := netip.ParseAddr(req.Address)
		if err != nil {
			return failure("ipam200", "bad address "+req.Address)
		}
		delete(p.used, a)
		return ok()
	})
}

func (s *Server) requestPool(req *wire.RequestPoolRequest) (int, any) {
	if shape := req.Options[OptFail]; shape != "" {
		if shape == "err200" {
			shape = "ipam200"
		}
		return failure(shape, "refused on purpose ("+shape+")")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var p tpool
	switch {
	case req.Pool != "":
		pp, err := netip.ParsePrefix(req.Pool)
		if err != nil {
			return failure("ipam200", "bad pool "+req.Pool)
		}
		p.prefix = pp.Masked()
	case req.V6:
		p.prefix = netip.MustParsePrefix(fmt.Sprintf("fd7e:7e57:%x::/64", s.ipam.seq+1))
	default:
		for i := 1; i < 255 && !p.prefix.IsValid(); i++ {
			c := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 232, byte(i), 0}), 24)
			if !s.overlaps(c) {
				p.prefix = c
			}
		}
	}
	if !p.prefix.IsValid() || s.overlaps(p.prefix) {
		return failure("ipam200", "pool "+p.prefix.String()+" overlaps another")
	}
	if req.SubPool != "" {
		sp, err := netip.ParsePrefix(req.SubPool)
		if err != nil || !p.prefix.Contains(sp.Addr()) || sp.Bits() < p.prefix.Bits() {
			return failure("ipam200", "bad sub-pool "+req.SubPool)
		}
		p.sub = sp
	}
	p.used = map[netip.Addr]bool{}
	s.ipam.seq++
	id := fmt.Sprintf("tp%d/%s", s.ipam.seq, p.prefix)
	s.ipam.pools[id] = &p
	return http.StatusOK, wire.RequestPoolResponse{PoolID: id, Pool: p.prefix.String(), Data: map[string]string{}}
}

func (s *Server) overlaps(c netip.Prefix) bool {
	for _, p := range s.ipam.pools {
		if p.prefix.Overlaps(c) {
			return true
		}
	}
	return false
}

func (s *Server) requestAddress(req *wire.RequestAddressRequest) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.ipam.pools[req.PoolID]
	if p == nil {
		return failure("err500", "no pool "+req.PoolID)
	}
	var a netip.Addr
	if req.Address != "" {
		var err error
		if a, err = netip.ParseAddr(req.Address); err != nil || !p.prefix.Contains(a) {
			return failure("ipam200", "address "+req.Address+" is not in "+p.prefix.String())
		}
		if p.used[a] {
			return failure("ipam200", "address "+req.Address+" already in use")
		}
	} else {
		from := p.prefix
		if p.sub.IsValid() && req.Options["RequestAddressType"] != "com.docker.network.gateway" {
			from = p.sub
		}
		for c, i := from.Addr().Next(), 0; from.Contains(c) && i < 1<<16; c, i = c.Next(), i+1 {
			if !p.used[c] && from.Contains(c.Next()) { // skip the last (broadcast)
				a = c
				break
			}
		}
		if !a.IsValid() {
			return failure("ipam200", "no address left in "+from.String())
		}
	}
	p.used[a] = true
	return http.StatusOK, wire.RequestAddressResponse{Address: netip.PrefixFrom(a, p.prefix.Bits()).String(), Data: map[string]string{}}
}
