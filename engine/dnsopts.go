package engine

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/sandbox"
)

// DNSOptions are a sandbox's name-service settings (run's --dns,
// --dns-search, --dns-option, --add-host, --domainname and --link).
type DNSOptions struct {
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	// ExtraHosts are "name:ip" (or "name=ip"); ip may be host-gateway.
	ExtraHosts []string
	Domainname string
	// Links are "name[:alias]".
	Links []string
}

func (o DNSOptions) empty() bool {
	return len(o.DNS) == 0 && len(o.DNSSearch) == 0 && len(o.DNSOptions) == 0 &&
		len(o.ExtraHosts) == 0 && o.Domainname == "" && len(o.Links) == 0
}

// validDNSName reports whether s is a usable DNS name: dot-separated
// labels of letters, digits, '-' and '_' (Docker's names allow it), not
// starting or ending with '-', each at most 63 and all at most 253 long.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// applyDNSOptions validates o and records it in sb. hostGateway is the
// address host-gateway stands for. Links are resolved by the caller.
func applyDNSOptions(sb *cnm.Sandbox, o DNSOptions, hostGateway netip.Addr) error {
	for _, s := range o.DNS {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cnm.Invalid("invalid --dns %q: not an IP address", s)
		}
		sb.DNS = append(sb.DNS, a.Unmap())
	}
	for _, s := range o.DNSSearch {
		if s != "." && !validDNSName(s) {
			return cnm.Invalid("invalid --dns-search %q: not a domain name", s)
		}
		sb.DNSSearch = append(sb.DNSSearch, s)
	}
	for _, s := range o.DNSOptions {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return cnm.Invalid("invalid --dns-option %q", s)
		}
		sb.DNSOptions = append(sb.DNSOptions, s)
	}
	for _, s := range o.ExtraHosts {
		name, addr, ok := strings.Cut(s, ":")
		if i := strings.IndexByte(s, '='); i >= 0 && (!ok || i < len(name)) {
			name, addr, ok = s[:i], s[i+1:], true
		}
		if !ok || !validDNSName(name) {
			return cnm.Invalid("invalid --add-host %q: want name:ip", s)
		}
		var a netip.Addr
		if addr == "host-gateway" {
			if !hostGateway.IsValid() {
				return cnm.Invalid("invalid --add-host %q: no host gateway address is known", s)
			}
			a = hostGateway
		} else {
			var err error
			if a, err = netip.ParseAddr(strings.Trim(addr, "[]")); err != nil {
				return cnm.Invalid("invalid --add-host %q: %q is not an IP address", s, addr)
			}
		}
		sb.ExtraHosts = append(sb.ExtraHosts, cnm.HostAlias{Name: name, Addr: a.Unmap()})
	}
	if o.Domainname != "" && !validDNSName(o.Domainname) {
		return cnm.Invalid("invalid domain name %q", o.Domainname)
	}
	sb.Domainname = o.Domainname
	return nil
}

// resolveLinks checks each "name[:alias]" names an existing sandbox. Caller
// holds opMu.
func (e *Engine) resolveLinks(specs []string) ([]cnm.Link, error) {
	var out []cnm.Link
	for _, s := range specs {
		name, alias, _ := strings.Cut(s, ":")
		if alias == "" {
			alias = name
		}
		if name == "" || !validDNSName(alias) {
			return nil, cnm.Invalid("invalid --link %q: want name[:alias]", s)
		}
		target, err := e.findSandbox(name)
		if err != nil {
			return nil, cnm.NotFound("cannot link to %s: no such sandbox", name)
		}
		out = append(out, cnm.Link{Target: target.ID, Name: target.Name, Alias: alias})
	}
	return out, nil
}

// indexSandbox gives the resolver a sandbox's own names: its link aliases
// (alias and the target's name, each to the target) and its --add-host
// entries.
func (e *Engine) indexSandbox(sb *sbox) {
	var links map[string]string
	if len(sb.Links) > 0 {
		links = map[string]string{}
		for _, l := range sb.Links {
			links[strings.ToLower(l.Alias)] = l.Target
			links[strings.ToLower(l.Name)] = l.Target
		}
	}
	var extra map[string][]netip.Addr
	if len(sb.ExtraHosts) > 0 {
		extra = map[string][]netip.Addr{}
		for _, h := range sb.ExtraHosts {
			n := strings.ToLower(h.Name)
			extra[n] = append(extra[n], h.Addr)
		}
	}
	e.names.setSandbox(sb.ID, links, extra)
}

// usesResolver reports whether a sandbox's resolv.conf points at the
// embedded resolver: it is on a user-defined network. Caller holds mu.
func (e *Engine) usesResolver(sb *sbox) bool {
	for _, ep := range sb.eps {
		if n := e.networks[ep.NetworkID]; n != nil && resolvable(n) {
			return true
		}
	}
	return false
}

// resolvConf renders a sandbox's resolv.conf: the embedded resolver on
// user-defined networks, else the host's file without loopback servers;
// --dns, --dns-search and --dns-option replace their sections. Caller
// holds mu.
func (e *Engine) resolvConf(sb *sbox, host []byte) []byte {
	c := sandbox.ParseResolvConf(host)
	if len(sb.DNSSearch) > 0 {
		c.Search = slices.DeleteFunc(slices.Clone(sb.DNSSearch), func(s string) bool { return s == "." })
	}
	if len(sb.DNSOptions) > 0 {
		c.Options = sb.DNSOptions
	}
	switch {
	case len(sb.DNS) > 0:
		c.Nameservers = sb.DNS
	case len(e.cfg.DNS) > 0:
		c.Nameservers = e.cfg.DNS
	}
	if e.usesResolver(sb) {
		// The resolver forwards to the others; ndots:0 as Docker, so
		// single names are tried as they are first.
		c.Nameservers = []netip.Addr{resolverAddr}
		if !slices.ContainsFunc(c.Options, func(o string) bool { return strings.HasPrefix(o, "ndots:") }) {
			c.Options = append(c.Options, "ndots:0")
		}
		return c.Render("the embedded resolver answers for sandbox names and forwards the rest")
	}
	c.Nameservers = slices.DeleteFunc(c.Nameservers, func(a netip.Addr) bool { return a.IsLoopback() })
	return c.Render("")
}

// resolverAddr is where sandboxes find the embedded resolver.
var resolverAddr = netip.MustParseAddr("127.0.0.11")

// hostsFile renders a sandbox's /etc/hosts: its own addresses with its
// names, --add-host entries and its links. Caller holds mu.
func (e *Engine) hostsFile(sb *sbox) []byte {
	names := []string{sb.Hostname}
	if sb.Domainname != "" {
		names = []string{sb.Hostname + "." + sb.Domainname, sb.Hostname}
	}
	var self, extra []sandbox.HostEntry
	for _, ep := range sb.eps {
		for _, a := range epAddrs(ep) {
			self = append(self, sandbox.HostEntry{Addr: a, Names: names})
		}
	}
	for _, h := range sb.ExtraHosts {
		extra = append(extra, sandbox.HostEntry{Addr: h.Addr, Names: []string{h.Name}})
	}
	for _, l := range sb.Links {
		t := e.sandboxes[l.Target]
		if t == nil {
			continue
		}
		ln := []string{l.Alias}
		if l.Name != l.Alias {
			ln = append(ln, l.Name)
		}
		ln = append(ln, t.ID[:12])
		for _, a := range e.linkAddrs(sb, t) {
			extra = append(extra, sandbox.HostEntry{Addr: a, Names: ln})
		}
	}
	return sandbox.HostsFile(self, extra)
}

// linkAddrs are the target's addresses on networks the linking sandbox
// is on. Caller holds mu.
func (e *Engine) linkAddrs(sb, target *sbox) []netip.Addr {
	var out []netip.Addr
	for _, ep := range target.eps {
		if slices.ContainsFunc(sb.eps, func(o *cnm.Endpoint) bool { return o.NetworkID == ep.NetworkID }) {
			out = append(out, epAddrs(ep)...)
		}
	}
	return out
}

// hostGateway is the address --add-host's host-gateway stands for: the
// default bridge's gateway, as in Docker.
func (e *Engine) hostGateway() netip.Addr {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, n := range e.networks {
		if n.Name != "bridge" {
			continue
		}
		for _, c := range n.IPAM.Config {
			if c.Gateway.Is4() {
				return c.Gateway
			}
		}
	}
	return netip.Addr{}
}
