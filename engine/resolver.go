package engine

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/patchbay/patchbay/dns"
	"github.com/patchbay/patchbay/firewall"
	"github.com/patchbay/patchbay/sandbox"
)

// The embedded resolver: every sandbox on a user-defined network gets
// sockets on 127.0.0.11 inside its namespace, on ports of their own, and
// a stateless nftables redirect of port 53 to them, so the sandbox's
// programs keep port 53. One dns.Resolver serves them all from the engine's name index;
// what it does not know it forwards to the host's name servers, dialled
// from the daemon's namespace (so 127.0.0.53 works), or to the sandbox's
// own --dns servers.

// startResolverLocked starts serving a sandbox's resolver if its
// resolv.conf points at it and it is not served yet. Caller holds opMu.
func (e *Engine) startResolverLocked(sb *sbox) error {
	e.mu.RLock()
	want := e.usesResolver(sb) && sb.dnsStop == nil && !sb.HostNetwork && !sb.Adopted && sb.NetnsPath != ""
	e.mu.RUnlock()
	if !want {
		return nil
	}
	ns, err := sandbox.OpenNetns(sb.NetnsPath)
	if err != nil {
		return fmt.Errorf("open sandbox namespace: %w", err)
	}
	defer ns.Close()
	udp, tcp, err := sandbox.ListenIn(ns, netip.AddrPortFrom(resolverAddr, 0))
	if err != nil {
		return fmt.Errorf("open resolver sockets in sandbox %s: %w", sb.Name, err)
	}
	uport := udp.LocalAddr().(*net.UDPAddr).Port
	tport := tcp.Addr().(*net.TCPAddr).Port
	if err := firewall.RedirectDNS(ns, resolverAddr, uint16(uport), uint16(tport)); err != nil {
		udp.Close()
		tcp.Close()
		return fmt.Errorf("sandbox %s: %w", sb.Name, err)
	}
	r := e.resolver
	if len(sb.DNS) > 0 {
		ups := upstreamsOf(sb.DNS)
		r = dns.New(dns.Config{Upstreams: func() []netip.AddrPort { return ups }, Logger: e.log})
	}
	stop, err := r.Start(udp, tcp, view{e.names, sb.ID})
	if err != nil {
		udp.Close()
		tcp.Close()
		return fmt.Errorf("serve resolver of sandbox %s: %w", sb.Name, err)
	}
	e.mu.Lock()
	sb.dnsStop = func() {
		stop()
		udp.Close()
		tcp.Close()
	}
	e.mu.Unlock()
	return nil
}

// stopResolver stops serving a sandbox's resolver.
func (e *Engine) stopResolver(sb *sbox) {
	e.mu.Lock()
	stop := sb.dnsStop
	sb.dnsStop = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// hostUpstreams are where the embedded resolver forwards for sandboxes
// without --dns: the daemon's --dns servers, or else the host's,
// loopback ones included (forwarding dials from the daemon's namespace),
// re-read when the file changes.
func hostUpstreams(cfg Config) func() []netip.AddrPort {
	if len(cfg.DNS) > 0 {
		ups := upstreamsOf(cfg.DNS)
		return func() []netip.AddrPort { return ups }
	}
	return dns.NewWatcher(cfg.ResolvConf, dns.DefaultPollInterval).Upstreams
}

func upstreamsOf(addrs []netip.Addr) []netip.AddrPort {
	var ups []netip.AddrPort
	for _, a := range addrs {
		ups = append(ups, netip.AddrPortFrom(a, 53))
	}
	return ups
}
