package engine

import (
	"net/netip"

	"github.com/patchbay/patchbay/cnm"
	"slices"
	"strings"
	"sync"
)

// dnsNames indexes the names the embedded resolver answers for: per
// user-defined network, each endpoint's sandbox name, short ID, hostname
// and network aliases; per sandbox, its link aliases. It has a lock of its
// own, so a query never waits for an engine operation, and it changes the
// moment a join or leave does.
type dnsNames struct {
	mu sync.RWMutex
	// nets holds each indexed network's names, by network ID.
	nets map[string]*netNames
	// netByName maps a network's name to its ID, for "name.network".
	netByName map[string]string
	// sbNets lists the indexed networks each sandbox is on.
	sbNets map[string][]string
	// links holds each sandbox's link aliases: alias -> target sandbox ID.
	links map[string]map[string]string
	// extra holds each sandbox's --add-host names.
	extra map[string]map[string][]netip.Addr
	// sbAddrs holds each sandbox's addresses per network, for links.
	sbAddrs map[string]map[string][]netip.Addr
}

// netNames is one network's names.
type netNames struct {
	name  string
	names map[string][]nameEntry // lower-case name -> endpoints
	rev   map[netip.Addr][]string
}

// nameEntry is one endpoint's addresses under a name.
type nameEntry struct {
	ep    string
	addrs []netip.Addr
}

func newDNSNames() *dnsNames {
	return &dnsNames{
		nets: map[string]*netNames{}, netByName: map[string]string{},
		sbNets: map[string][]string{}, links: map[string]map[string]string{},
		extra:   map[string]map[string][]netip.Addr{},
		sbAddrs: map[string]map[string][]netip.Addr{},
	}
}

// addNetwork starts indexing a network.
func (d *dnsNames) addNetwork(id, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.nets[id]; !ok {
		d.nets[id] = &netNames{name: name, names: map[string][]nameEntry{}, rev: map[netip.Addr][]string{}}
		d.netByName[strings.ToLower(name)] = id
	}
}

// removeNetwork stops indexing a network.
func (d *dnsNames) removeNetwork(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.nets[id]; ok {
		delete(d.netByName, strings.ToLower(n.name))
		delete(d.nets, id)
	}
}

// endpointNames are the names an endpoint answers to on its network.
func endpointNames(sb *sbox, aliases []string) []string {
	names := []string{sb.Name, sb.ID[:12]}
	if sb.Hostname != "" {
		names = append(names, sb.Hostname)
		if sb.Domainname != "" {
			names = append(names, sb.Hostname+"."+sb.Domainname)
		}
	}
	names = append(names, aliases...)
	var out []string // the sandbox name first: PTR answers with it
	for _, n := range names {
		if n = strings.ToLower(n); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// addEndpoint indexes an endpoint of sandbox sbID on network netID under
// names. A network that is not indexed (the default bridge) only records
// the addresses, for links.
func (d *dnsNames) addEndpoint(netID, sbID, epID string, names []string, addrs []netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sbAddrs[sbID] == nil {
		d.sbAddrs[sbID] = map[string][]netip.Addr{}
	}
	d.sbAddrs[sbID][netID] = addrs
	n, ok := d.nets[netID]
	if !ok {
		return
	}
	if !slices.Contains(d.sbNets[sbID], netID) {
		d.sbNets[sbID] = append(d.sbNets[sbID], netID)
	}
	for _, name := range names {
		n.names[name] = append(n.names[name], nameEntry{ep: epID, addrs: addrs})
	}
	ptr := append([]string{names[0] + "." + strings.ToLower(n.name)}, names...)
	for _, a := range addrs {
		n.rev[a] = ptr
	}
}

// removeEndpoint forgets an endpoint.
func (d *dnsNames) removeEndpoint(netID, sbID, epID string, addrs []netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.sbAddrs[sbID], netID)
	n, ok := d.nets[netID]
	if !ok {
		return
	}
	d.sbNets[sbID] = slices.DeleteFunc(d.sbNets[sbID], func(id string) bool { return id == netID })
	for name, es := range n.names {
		es = slices.DeleteFunc(es, func(e nameEntry) bool { return e.ep == epID })
		if len(es) == 0 {
			delete(n.names, name)
		} else {
			n.names[name] = es
		}
	}
	for _, a := range addrs {
		delete(n.rev, a)
	}
}

// setSandbox records a sandbox's own names: link aliases (alias ->
// target sandbox ID) and --add-host entries.
func (d *dnsNames) setSandbox(sbID string, links map[string]string, extra map[string][]netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.links, sbID)
	delete(d.extra, sbID)
	if len(links) > 0 {
		d.links[sbID] = links
	}
	if len(extra) > 0 {
		d.extra[sbID] = extra
	}
}

// forgetSandbox drops everything of a removed sandbox.
func (d *dnsNames) forgetSandbox(sbID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.links, sbID)
	delete(d.extra, sbID)
	delete(d.sbNets, sbID)
	delete(d.sbAddrs, sbID)
}

// view is one sandbox's view of the names, served by its resolver.
type view struct {
	d    *dnsNames
	sbID string
}

// Lookup answers a name for the sandbox: its --add-host names and link
// aliases first, then names on each network it is on, then
// "name.network" for one of them.
func (v view) Lookup(name string, v6 bool) ([]netip.Addr, bool) {
	d := v.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []netip.Addr
	known := false
	pick := func(addrs []netip.Addr) {
		known = true
		for _, a := range addrs {
			if a.Is6() == v6 {
				out = append(out, a)
			}
		}
	}
	if addrs, ok := d.extra[v.sbID][name]; ok {
		pick(addrs)
		return out, true
	}
	if target, ok := d.links[v.sbID][name]; ok {
		for _, netID := range d.sbNets[v.sbID] {
			pick(d.sbAddrs[target][netID])
		}
		if known {
			return out, true
		}
	}
	nets := d.sbNets[v.sbID]
	for _, netID := range nets {
		for _, e := range d.nets[netID].names[name] {
			pick(e.addrs)
		}
	}
	if known {
		return out, true
	}
	// name.network: the longest suffix naming one of the sandbox's
	// networks.
	for i := strings.IndexByte(name, '.'); i > 0; {
		netID, ok := d.netByName[name[i+1:]]
		if ok && slices.Contains(nets, netID) {
			for _, e := range d.nets[netID].names[name[:i]] {
				pick(e.addrs)
			}
			return out, known
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return nil, false
}

// Reverse names an address on one of the sandbox's networks.
func (v view) Reverse(a netip.Addr) []string {
	d := v.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, netID := range d.sbNets[v.sbID] {
		if names, ok := d.nets[netID].rev[a]; ok {
			return names
		}
	}
	return nil
}

// resolvable reports whether a network's names are served by the embedded
// resolver: user-defined networks, as in Docker (not the default bridge,
// and not host or none, which have no addresses).
func resolvable(n *network) bool {
	return !n.Builtin && connectable(n)
}

func epAddrs(ep *cnm.Endpoint) []netip.Addr {
	var out []netip.Addr
	for _, p := range []netip.Prefix{ep.IPv4, ep.IPv6} {
		if p.IsValid() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// indexNetwork starts serving a network's names.
func (e *Engine) indexNetwork(n *network) {
	if resolvable(n) {
		e.names.addNetwork(n.ID, n.Name)
	}
}

// indexEndpoint makes an endpoint's names resolvable.
func (e *Engine) indexEndpoint(n *network, sb *sbox, ep *cnm.Endpoint) {
	e.names.addEndpoint(n.ID, sb.ID, ep.ID, endpointNames(sb, ep.Aliases), epAddrs(ep))
}

// unindexEndpoint makes an endpoint's names unresolvable.
func (e *Engine) unindexEndpoint(sb *sbox, ep *cnm.Endpoint) {
	e.names.removeEndpoint(ep.NetworkID, sb.ID, ep.ID, epAddrs(ep))
}
