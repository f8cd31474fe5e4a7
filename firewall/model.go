// Package firewall is patchbay's only nftables code. It owns one table per
// engine in the engine's namespace, "inet patchbay-<instance>", for
// isolation between networks, published ports and masquerade, and never
// reads or edits any other table.
//
// Everything that varies lives in sets and maps, never in rules: a
// network is an element of a few interface-name sets, a published port one
// element of a DNAT map. The rules are fixed, so adding the ten-thousandth
// mapping costs what the first did and the rule count stays flat. Every
// engine operation is one nftables transaction.
//
// The chain "user-forward" of the inet table is the administrator's: the
// forward chain jumps to it before any of patchbay's rules, so its accept
// and drop verdicts decide first (like Docker's DOCKER-USER). patchbay
// creates it empty and never flushes it, so its rules survive restarts.
//
// If someone flushes the ruleset or deletes patchbay's table, Watch
// notices through nftables events and installs everything again.
package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Network is a bridge network as the firewall sees it.
type Network struct {
	// Bridge is the bridge device.
	Bridge string
	// Internal networks have no way out and accept no published traffic.
	Internal bool
	// ICC lets containers of the network reach each other. Their traffic
	// stays on the bridge and meets these rules only when br_netfilter
	// passes bridged packets to IP's hooks; otherwise the bridge driver
	// enforces ICC off by isolating the bridge's ports.
	ICC bool
	// Masquerade translates outbound traffic to the host's address.
	Masquerade bool
}

// Mapping is a published port, or a run of them: traffic to
// HostIP:HostPort+i (any local address when HostIP is invalid) goes to
// Addr:Port+i, for i below Count (0 counts as 1). A run is one interval
// element of a DNAT map, whatever its length.
type Mapping struct {
	HostIP   netip.Addr
	HostPort uint16
	Count    uint16
	Proto    string // tcp, udp or sctp
	Addr     netip.Addr
	Port     uint16
}

// n is the number of ports the mapping covers.
func (m Mapping) n() int { return max(int(m.Count), 1) }

func (m Mapping) String() string {
	host := "*"
	if m.HostIP.IsValid() {
		host = m.HostIP.String()
	}
	if m.n() == 1 {
		return fmt.Sprintf("%s %s:%d -> %s", m.Proto, host, m.HostPort, netip.AddrPortFrom(m.Addr, m.Port))
	}
	return fmt.Sprintf("%s %s:%s -> %s:%s", m.Proto, host, m.hostPorts(), m.Addr, m.ports())
}

func (m Mapping) hostPorts() string { return portRun(m.HostPort, m.n()) }
func (m Mapping) ports() string     { return portRun(m.Port, m.n()) }

func portRun(first uint16, n int) string {
	if n == 1 {
		return fmt.Sprint(first)
	}
	return fmt.Sprintf("%d-%d", first, int(first)+n-1)
}

// Coalesce joins mappings that continue each other (the next host port to
// the next port, for the same host address, protocol and address) into
// runs, in the order the runs start. Publishing a range becomes one
// element per address, however long.
func Coalesce(ms []Mapping) []Mapping {
	type key struct {
		hostIP, addr netip.Addr
		proto        string
	}
	var out []Mapping
	last := map[key]int{} // the latest run of each key, in out
	for _, m := range ms {
		k := key{m.HostIP, m.Addr, m.Proto}
		if i, ok := last[k]; ok && m.n() == 1 {
			l := &out[i]
			n := l.n()
			if int(l.HostPort)+n == int(m.HostPort) && int(l.Port)+n == int(m.Port) && n < 65535 {
				l.Count = uint16(n + 1)
				continue
			}
		}
		last[k] = len(out)
		out = append(out, m)
	}
	return out
}

// is6 reports whether the mapping is an IPv6 one.
func (m Mapping) is6() bool { return m.Addr.Is6() && !m.Addr.Is4In6() }

// State is everything the firewall installs.
type State struct {
	Networks []Network
	Mappings []Mapping
}

// protoNum maps a protocol name to its IP protocol number.
func protoNum(p string) (byte, error) {
	switch p {
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "sctp":
		return 132, nil
	}
	return 0, fmt.Errorf("unknown protocol %q", p)
}

// Render describes the state as patchbay installs it, in nft's syntax.
func Render(table string, st State) string {
	var b strings.Builder
	set := func(name string, pick func(Network) bool) {
		var els []string
		for _, n := range st.Networks {
			if pick(n) {
				els = append(els, fmt.Sprintf("%q", n.Bridge))
			}
		}
		slices.Sort(els)
		fmt.Fprintf(&b, "\tset %s { type ifname; elements = { %s } }\n", name, strings.Join(els, ", "))
	}
	fmt.Fprintf(&b, "table inet %s {\n", table)
	set("bridges", func(Network) bool { return true })
	set("internal", func(n Network) bool { return n.Internal })
	set("masq", func(n Network) bool { return n.Masquerade && !n.Internal })
	var self []string
	for _, m := range st.Mappings {
		if e := fmt.Sprintf("%s . %s", m.Addr, m.Addr); !slices.Contains(self, e) {
			self = append(self, e)
		}
	}
	slices.Sort(self)
	fmt.Fprintf(&b, "\tset self { elements = { %s } }\n", strings.Join(self, ", "))
	var same []string
	for _, n := range st.Networks {
		if n.ICC {
			same = append(same, fmt.Sprintf("%q . %q", n.Bridge, n.Bridge))
		}
	}
	slices.Sort(same)
	fmt.Fprintf(&b, "\tset same { type ifname . ifname; elements = { %s } }\n", strings.Join(same, ", "))
	var maps [8][]string
	for _, m := range st.Mappings {
		i := 0
		if m.is6() {
			i = 2
		}
		key := fmt.Sprintf("%s . %s", m.Proto, m.hostPorts())
		if m.HostIP.IsValid() {
			key = m.HostIP.String() + " . " + key
		} else {
			i++
		}
		if m.n() > 1 {
			i += 4
		}
		maps[i] = append(maps[i], fmt.Sprintf("%s : %s . %s", key, m.Addr, m.ports()))
	}
	for i, name := range []string{"pub4", "pub4any", "pub6", "pub6any", "run4", "run4any", "run6", "run6any"} {
		slices.Sort(maps[i])
		fmt.Fprintf(&b, "\tmap %s { elements = { %s } }\n", name, strings.Join(maps[i], ", "))
	}
	for _, r := range ruleText {
		b.WriteString(r)
	}
	b.WriteString("}\n")
	return b.String()
}

// ruleText is the fixed rule set of the inet table, as nft would print
// it; rules.go builds the same rules as netlink expressions.
var ruleText = []string{
	"\tchain user-forward { } # the administrator's: runs first, never flushed\n",
	"\tchain forward { type filter hook forward priority filter; policy accept;\n",
	"\t\tjump user-forward\n",
	"\t\toifname @bridges ct state established,related accept\n",
	"\t\tiifname @bridges ct state established,related accept\n",
	"\t\tiifname . oifname @same accept # an ICC network's own traffic, when br_netfilter sends it here\n",
	"\t\tiifname @internal drop\n",
	"\t\toifname @internal drop\n",
	"\t\toifname @bridges ct status dnat accept # published ports\n",
	"\t\tiifname @bridges oifname @bridges drop # networks cannot reach each other\n",
	"\t\tiifname @bridges accept # outbound\n",
	"\t\toifname @bridges drop # direct access to container addresses\n",
	"\t}\n",
	"\tchain prerouting { type nat hook prerouting priority dstnat; fib daddr type local jump publish }\n",
	"\tchain output { type nat hook output priority dstnat; fib daddr type local jump publish }\n",
	"\tchain publish {\n",
	"\t\tmeta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @pub4 # single ports: hash maps\n",
	"\t\tmeta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @run4 # ranges: interval maps\n",
	"\t\tmeta nfproto ipv4 dnat ip to meta l4proto . th dport map @pub4any\n",
	"\t\tmeta nfproto ipv4 dnat ip to meta l4proto . th dport map @run4any\n",
	"\t\tmeta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6\n",
	"\t\tmeta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @run6\n",
	"\t\tmeta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @pub6any\n",
	"\t\tmeta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @run6any\n",
	"\t}\n",
	"\tchain postrouting { type nat hook postrouting priority srcnat;\n",
	"\t\tiifname @masq oifname != @bridges masquerade\n",
	"\t\tct status dnat iifname @bridges oifname @bridges masquerade # hairpin\n",
	"\t\tct status dnat ip saddr 127.0.0.0/8 oifname @bridges masquerade # host via 127.0.0.1\n",
	"\t\tct status dnat ip saddr . ip daddr @self4 masquerade # a container to its own published port\n",
	"\t\tct status dnat ip6 saddr . ip6 daddr @self6 masquerade\n",
	"\t}\n",
}
