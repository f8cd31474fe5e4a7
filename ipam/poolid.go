package ipam

import (
	"net/netip"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// PoolKey is what a pool ID of the default driver says: the address
// space, the subnet, the optional sub-pool (--ip-range) and the optional
// name given with OptionPoolName. Its String form is the ID:
//
//	LocalDefault/172.18.0.0/16
//	LocalDefault/172.18.0.0/16/172.18.5.0/24
//	LocalDefault/10.78.0.0/24@<name>
//
// which is Docker's format, plus the name.
type PoolKey struct {
	AddressSpace string
	Pool         netip.Prefix
	SubPool      netip.Prefix // zero if none
	Name         string       // "" if none
}

// String returns the pool ID of k.
func (k PoolKey) String() string {
	var b strings.Builder
	b.WriteString(k.AddressSpace)
	b.WriteByte('/')
	b.WriteString(k.Pool.String())
	if k.SubPool.IsValid() {
		b.WriteByte('/')
		b.WriteString(k.SubPool.String())
	}
	if k.Name != "" {
		b.WriteByte('@')
		b.WriteString(k.Name)
	}
	return b.String()
}

// check rejects keys whose String would not parse back to them.
func (k PoolKey) check() error {
	switch {
	case k.AddressSpace == "" || strings.ContainsAny(k.AddressSpace, "/@"):
		return cnm.Invalid("invalid address space %q", k.AddressSpace)
	case !k.Pool.IsValid() || k.Pool.Masked() != k.Pool:
		return cnm.Invalid("invalid pool %s", k.Pool)
	case k.SubPool != (netip.Prefix{}) && (!k.SubPool.IsValid() || k.SubPool.Masked() != k.SubPool):
		return cnm.Invalid("invalid sub-pool %s", k.SubPool)
	}
	return nil
}

// ParsePoolID parses a pool ID of the default driver. Errors are of kind
// cnm.ErrInvalid.
func ParsePoolID(id string) (PoolKey, error) {
	var k PoolKey
	rest, name, named := strings.Cut(id, "@")
	if named {
		if name == "" {
			return PoolKey{}, cnm.Invalid("invalid pool ID %q: empty name after @", id)
		}
		k.Name = name
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 && len(parts) != 5 {
		return PoolKey{}, cnm.Invalid("invalid pool ID %q: want space/subnet or space/subnet/sub-pool", id)
	}
	k.AddressSpace = parts[0]
	var err error
	if k.Pool, err = netip.ParsePrefix(parts[1] + "/" + parts[2]); err != nil {
		return PoolKey{}, cnm.Invalid("invalid pool ID %q: bad subnet", id)
	}
	if len(parts) == 5 {
		if k.SubPool, err = netip.ParsePrefix(parts[3] + "/" + parts[4]); err != nil {
			return PoolKey{}, cnm.Invalid("invalid pool ID %q: bad sub-pool", id)
		}
	}
	if err := k.check(); err != nil {
		return PoolKey{}, cnm.Invalid("invalid pool ID %q: %w", id, err)
	}
	if k.String() != id {
		return PoolKey{}, cnm.Invalid("invalid pool ID %q: not in canonical form %q", id, k.String())
	}
	return k, nil
}
