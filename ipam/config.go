package ipam

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/patchbay/patchbay/cnm"
)

// Config is one IPAM pool of a network (Docker's IPAM.Config entry).
type Config struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix          // optional: allocate dynamic addresses only from here
	Gateway netip.Addr            // optional: defaults to the first usable address of Subnet
	Aux     map[string]netip.Addr // optional: reserved, never handed out
	// NoDefaultGateway leaves Gateway unset when it is not given: the
	// network's router is outside patchbay (macvlan), so no address is
	// held for it.
	NoDefaultGateway bool
}

// Normalize checks c and returns it in canonical form: IPv4-mapped IPv6
// addresses and ip-ranges become IPv4 in an IPv4 subnet, the Aux map is
// copied (nil when empty), and a missing Gateway is set to the first
// usable address of Subnet that is not an auxiliary address (unless
// NoDefaultGateway is set). It rejects, with an error of kind
// cnm.ErrInvalid naming the offending value:
//   - a missing subnet, or a subnet or ip-range with host bits set;
//   - a subnet no network can use (CheckSubnet: loopback, multicast,
//     0.0.0.0/8, limited broadcast, IPv6 link-local, IPv4-mapped IPv6);
//   - an ip-range with no address left for sandboxes once the gateway,
//     the auxiliary addresses and the network and broadcast addresses
//     are set aside;
//   - an ip-range, gateway or auxiliary address of the other family or
//     outside the subnet;
//   - a gateway that is the network (or IPv6 subnet-router anycast)
//     address or the IPv4 broadcast address, or carries a zone;
//   - an auxiliary address with an empty name, an invalid address or a
//     zone, or equal to the gateway.
//
// A normalized Config normalizes to itself.
func (c Config) Normalize() (Config, error) {
	out := Config{Subnet: c.Subnet, IPRange: unmapPrefix(c.IPRange), NoDefaultGateway: c.NoDefaultGateway}
	sub := out.Subnet
	if !sub.IsValid() {
		return Config{}, cnm.Invalid("invalid subnet: missing or not a CIDR")
	}
	if m := sub.Masked(); m != sub {
		return Config{}, cnm.Invalid("invalid subnet %s: host bits set, did you mean %s", sub, m)
	}
	if err := CheckSubnet(sub); err != nil {
		return Config{}, err
	}
	if r := out.IPRange; r.IsValid() {
		if m := r.Masked(); m != r {
			return Config{}, cnm.Invalid("invalid ip-range %s: host bits set, did you mean %s", r, m)
		}
		if err := sameFamily("ip-range "+r.String(), r.Addr(), sub); err != nil {
			return Config{}, err
		}
		if r.Bits() < sub.Bits() || !sub.Contains(r.Addr()) {
			return Config{}, cnm.Invalid("ip-range %s is outside subnet %s", r, sub)
		}
	} else if c.IPRange != (netip.Prefix{}) {
		return Config{}, cnm.Invalid("invalid ip-range %s", c.IPRange)
	}
	if len(c.Aux) > 0 {
		out.Aux = make(map[string]netip.Addr, len(c.Aux))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Aux)) {
		a, err := checkAux(name, c.Aux[name], sub)
		if err != nil {
			return Config{}, err
		}
		out.Aux[name] = a
	}
	if c.Gateway.IsValid() || !c.NoDefaultGateway {
		gw, err := gateway(c.Gateway, sub, out.Aux)
		if err != nil {
			return Config{}, err
		}
		out.Gateway = gw
	}
	if err := checkRange(out); err != nil {
		return Config{}, err
	}
	return out, nil
}

// gateway checks the gateway gw of subnet sub, or picks the default one.
func gateway(gw netip.Addr, sub netip.Prefix, aux map[string]netip.Addr) (netip.Addr, error) {
	if !gw.IsValid() {
		for a := firstUsable(sub); a.IsValid() && sub.Contains(a); a = a.Next() {
			if special(sub, a) != "" {
				break
			}
			if auxName(aux, a) == "" {
				return a, nil
			}
		}
		return netip.Addr{}, cnm.Invalid("subnet %s has no address left for the gateway", sub)
	}
	if gw.Zone() != "" {
		return netip.Addr{}, cnm.Invalid("invalid gateway %s: zones are not allowed", gw)
	}
	gw = canonAddr(sub, gw)
	if err := sameFamily("gateway "+gw.String(), gw, sub); err != nil {
		return netip.Addr{}, err
	}
	if !sub.Contains(gw) {
		return netip.Addr{}, cnm.Invalid("gateway %s is outside subnet %s", gw, sub)
	}
	if what := special(sub, gw); what != "" {
		return netip.Addr{}, cnm.Invalid("gateway %s is the %s of subnet %s", gw, what, sub)
	}
	if name := auxName(aux, gw); name != "" {
		return netip.Addr{}, cnm.Invalid("gateway %s is also auxiliary address %s", gw, name)
	}
	return gw, nil
}

// checkAux checks the auxiliary address name=a of subnet sub.
func checkAux(name string, a netip.Addr, sub netip.Prefix) (netip.Addr, error) {
	switch {
	case name == "":
		return netip.Addr{}, cnm.Invalid("invalid auxiliary address =%s: empty name", a)
	case !a.IsValid():
		return netip.Addr{}, cnm.Invalid("invalid auxiliary address %s: missing address", name)
	case a.Zone() != "":
		return netip.Addr{}, cnm.Invalid("invalid auxiliary address %s=%s: zones are not allowed", name, a)
	}
	a = canonAddr(sub, a)
	if err := sameFamily("auxiliary address "+name+"="+a.String(), a, sub); err != nil {
		return netip.Addr{}, err
	}
	if !sub.Contains(a) {
		return netip.Addr{}, cnm.Invalid("auxiliary address %s=%s is outside subnet %s", name, a, sub)
	}
	return a, nil
}

// sameFamily fails if a and sub are of different IP families; label
// names the value in the error.
func sameFamily(label string, a netip.Addr, sub netip.Prefix) error {
	if a.Is4() == sub.Addr().Is4() {
		return nil
	}
	return cnm.Invalid("%s is %s but subnet %s is %s", label, family(a), sub, family(sub.Addr()))
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// auxName returns the name of the auxiliary address a, or "". With
// several names for a, the least one is returned.
func auxName(aux map[string]netip.Addr, a netip.Addr) string {
	found := ""
	for name, b := range aux {
		if b == a && (found == "" || name < found) {
			found = name
		}
	}
	return found
}
