package firewall

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Registers: 1 is the first 16-byte register; 8 and up are the 4-byte
// registers concatenations are built in (8–11 overlap 1).
const (
	reg1   = 1
	reg32a = 8
)

// Conntrack status bit of a destination-NATed connection.
const ipsDstNAT = 1 << 5

// schema is the inet and bridge tables' fixed objects.
type schema struct {
	inet *nftables.Table

	userFwd, forward, prerouting, output, publish, postrouting *nftables.Chain

	bridges, internal, masq, same *nftables.Set
	self4, self6                  *nftables.Set // published container address . itself
	pub4, pub4any, pub6, pub6any  *nftables.Set // single ports (hash maps)
	run4, run4any, run6, run6any  *nftables.Set // runs of ports (interval maps)
}

func newSchema(name string) *schema {
	s := &schema{
		inet: &nftables.Table{Family: nftables.TableFamilyINet, Name: name},
	}
	accept := nftables.ChainPolicyAccept
	base := func(t *nftables.Table, name string, typ nftables.ChainType, hook *nftables.ChainHook, prio int32) *nftables.Chain {
		return &nftables.Chain{Table: t, Name: name, Type: typ, Hooknum: hook, Priority: nftables.ChainPriorityRef(nftables.ChainPriority(prio)), Policy: &accept}
	}
	s.userFwd = &nftables.Chain{Table: s.inet, Name: "user-forward"}
	s.publish = &nftables.Chain{Table: s.inet, Name: "publish"}
	s.forward = base(s.inet, "forward", nftables.ChainTypeFilter, nftables.ChainHookForward, 0)
	s.prerouting = base(s.inet, "prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, -100)
	s.output = base(s.inet, "output", nftables.ChainTypeNAT, nftables.ChainHookOutput, -100)
	s.postrouting = base(s.inet, "postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100)

	ifset := func(t *nftables.Table, name string) *nftables.Set {
		// nft prints interface names only from sets it knows hold host-order strings.
		return &nftables.Set{Table: t, Name: name, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian}
	}
	s.bridges, s.internal, s.masq = ifset(s.inet, "bridges"), ifset(s.inet, "internal"), ifset(s.inet, "masq")
	s.same = &nftables.Set{Table: s.inet, Name: "same",
		KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIFName)}
	s.self4 = &nftables.Set{Table: s.inet, Name: "self4", KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)}
	s.self6 = &nftables.Set{Table: s.inet, Name: "self6", KeyType: nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeIP6Addr)}
	// The DNAT maps are created by publishMessages (publish.go); these
	// describe them for element updates, which need only the name.
	pubmap := func(name string, interval bool) *nftables.Set {
		return &nftables.Set{Table: s.inet, Name: name, IsMap: true, Interval: interval, Concatenation: interval}
	}
	s.pub4, s.pub4any = pubmap("pub4", false), pubmap("pub4any", false)
	s.pub6, s.pub6any = pubmap("pub6", false), pubmap("pub6any", false)
	s.run4, s.run4any = pubmap("run4", true), pubmap("run4any", true)
	s.run6, s.run6any = pubmap("run6", true), pubmap("run6any", true)
	return s
}

func (s *schema) chains() []*nftables.Chain {
	return []*nftables.Chain{s.userFwd, s.publish, s.forward, s.prerouting, s.output, s.postrouting}
}

func (s *schema) sets() []*nftables.Set {
	return append(s.filterSets(), s.pub4, s.pub4any, s.pub6, s.pub6any, s.run4, s.run4any, s.run6, s.run6any)
}

// filterSets are the sets google/nftables creates; the DNAT maps are
// created by publishMessages.
func (s *schema) filterSets() []*nftables.Set {
	return []*nftables.Set{s.bridges, s.internal, s.masq, s.same, s.self4, s.self6}
}

// Expression builders.

func ifname(key expr.MetaKey, reg uint32) expr.Any { return &expr.Meta{Key: key, Register: reg} }

func inSet(s *nftables.Set, reg uint32, invert bool) expr.Any {
	return &expr.Lookup{SourceRegister: reg, SetName: s.Name, SetID: s.ID, Invert: invert}
}

func ctBits(key expr.CtKey, mask uint32) []expr.Any {
	zero := make([]byte, 4)
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: key},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: zero},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: zero},
	}
}

func established() []expr.Any {
	return ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

func dnatted() []expr.Any { return ctBits(expr.CtKeySTATUS, ipsDstNAT) }

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
	}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(e ...expr.Any) []expr.Any { return e }

// rules returns each chain's rules, in order. They never change: all that
// varies is in the sets.
func (s *schema) rules() map[*nftables.Chain][][]expr.Any {
	iif := func(set *nftables.Set) []expr.Any {
		return one(ifname(expr.MetaKeyIIFNAME, reg1), inSet(set, reg1, false))
	}
	oif := func(set *nftables.Set, invert bool) []expr.Any {
		return one(ifname(expr.MetaKeyOIFNAME, reg1), inSet(set, reg1, invert))
	}
	accept, drop := one(verdict(expr.VerdictAccept)), one(verdict(expr.VerdictDrop))
	fibLocal := one(
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: s.publish.Name},
	)
	loopback := cat(nfproto(unix.NFPROTO_IPV4), one(
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: []byte{0xff, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{127, 0, 0, 0}},
	))
	masq := one(&expr.Masq{})
	// selfNAT matches a container sending to its own published port: the
	// packet comes back to it, and must not look like it came from itself.
	selfNAT := func(fam byte, set *nftables.Set) []expr.Any {
		off, l := uint32(12), uint32(4)
		if fam == unix.NFPROTO_IPV6 {
			off, l = 8, 16
		}
		return cat(nfproto(fam), dnatted(), one(
			&expr.Payload{DestRegister: reg32a, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l},
			&expr.Payload{DestRegister: reg32a + l/4, Base: expr.PayloadBaseNetworkHeader, Offset: off + l, Len: l},
			inSet(set, reg32a, false),
		), masq)
	}
	return map[*nftables.Chain][][]expr.Any{
		s.forward: {
			one(&expr.Verdict{Kind: expr.VerdictJump, Chain: s.userFwd.Name}),
			cat(oif(s.bridges, false), established(), accept),
			cat(iif(s.bridges), established(), accept),
			cat(one(ifname(expr.MetaKeyIIFNAME, reg32a), ifname(expr.MetaKeyOIFNAME, reg32a+4), inSet(s.same, reg32a, false)), accept),
			cat(iif(s.internal), drop),
			cat(oif(s.internal, false), drop),
			cat(oif(s.bridges, false), dnatted(), accept),
			cat(iif(s.bridges), oif(s.bridges, false), drop),
			cat(iif(s.bridges), accept),
			cat(oif(s.bridges, false), drop),
		},
		s.prerouting: {fibLocal},
		s.output:     {fibLocal},
		s.postrouting: {
			cat(iif(s.masq), oif(s.bridges, true), masq),
			cat(dnatted(), iif(s.bridges), oif(s.bridges, false), masq),
			cat(dnatted(), loopback, oif(s.bridges, false), masq),
			selfNAT(unix.NFPROTO_IPV4, s.self4),
			selfNAT(unix.NFPROTO_IPV6, s.self6),
		},
	}
}
