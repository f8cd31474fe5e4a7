package firewall

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DNSTable is the table RedirectDNS installs in a sandbox's namespace.
const DNSTable = "patchbay-dns"

// RedirectDNS makes queries to addr port 53 inside the namespace ns reach
// the embedded resolver's sockets on addr:udpPort and addr:tcpPort, so the
// resolver never takes port 53 from the sandbox's own programs.
//
// The redirect is stateless: a rule rewrites the destination port of each
// query and another the source port of each reply (addr:udpPort or
// addr:tcpPort back to addr:53), before connection tracking, and both
// mark the packets untracked. No conntrack entry is made per query (with
// a DNAT, each lookup from a new socket made one, which lived for 30 s
// in a table shared with the host's limits), and nothing else in the
// sandbox's namespace needs conntrack, so the kernel does not even run
// it there. Only packets to or from addr are touched, and the resolver's
// ports are held by its sockets, so nothing else can own them.
//
// It replaces an earlier redirect (a restarted daemon has new ports) in
// one transaction.
func RedirectDNS(ns netns.NsHandle, addr netip.Addr, udpPort, tcpPort uint16) error {
	if !addr.Is4() {
		return fmt.Errorf("redirect DNS: %s is not an IPv4 address", addr)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: DNSTable})
	// An older daemon redirected with a DNAT chain, "output": delete it.
	// Only then: a chain with a hook costs a kernel-wide RCU grace period
	// (milliseconds) to remove, so the common case adds and flushes only.
	if old, err := c.ListChain(t, "output"); err == nil && old != nil {
		c.DelChain(old)
	}
	accept := nftables.ChainPolicyAccept
	out := c.AddChain(&nftables.Chain{Table: t, Name: "rewrite", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRaw, Policy: &accept})
	c.FlushChain(out)
	a := addr.As4()
	for _, r := range []struct {
		proto   byte
		port    uint16
		csumOff uint32 // of the transport checksum
	}{{unix.IPPROTO_UDP, udpPort, 6}, {unix.IPPROTO_TCP, tcpPort, 16}} {
		// ip daddr addr meta l4proto P th dport 53 th dport set port notrack
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: rewritePort(16, a, r.proto, 2, 53, r.port, r.csumOff)})
		// ip saddr addr meta l4proto P th sport port th sport set 53 notrack
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: rewritePort(12, a, r.proto, 0, r.port, 53, r.csumOff)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install DNS redirect: %w", err)
	}
	return nil
}

// rewritePort matches packets of proto whose IPv4 address at addrOff in
// the network header is a and whose port at portOff in the transport
// header is from, sets that port to to (fixing the transport checksum
// at csumOff), and marks them untracked.
func rewritePort(addrOff uint32, a [4]byte, proto byte, portOff uint32, from, to uint16, csumOff uint32) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(from)},
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(to)},
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseTransportHeader,
			Offset: portOff, Len: 2, CsumType: expr.CsumTypeInet, CsumOffset: csumOff},
		&expr.Notrack{},
	}
}
