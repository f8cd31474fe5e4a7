package engine

import (
	"fmt"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/firewall"
	"github.com/patchbay/patchbay/internal/nl"
)

// exposure is how the host firewalls a network; ok is false for networks
// whose driver does not route them through the host (or is unavailable).
func exposure(n *network) (driver.Exposure, bool) {
	x, ok := n.d.(driver.Exposer)
	if !ok {
		return driver.Exposure{}, false
	}
	return x.Exposure(driverNetwork(n)), true
}

// firewallNetwork is the firewall's view of a network; ok is false for
// networks the host does not firewall.
func firewallNetwork(n *network) (firewall.Network, bool) {
	x, ok := exposure(n)
	if !ok {
		return firewall.Network{}, false
	}
	return firewall.Network{Bridge: x.Device, Internal: n.Internal, Masquerade: x.Masquerade, ICC: x.ICC}, true
}

// firewallState is everything the firewall should hold. Caller holds mu
// or opMu.
func (e *Engine) firewallState() firewall.State {
	var st firewall.State
	for _, n := range e.networks {
		if fn, ok := firewallNetwork(n); ok {
			st.Networks = append(st.Networks, fn)
		}
	}
	for _, sb := range e.sandboxes {
		st.Mappings = append(st.Mappings, firewallMappings(sb.Ports)...)
	}
	return st
}

// enableForwarding turns on routing in the engine's namespace: IPv4
// always, IPv6 once a network has an IPv6 subnet (it stops the host
// accepting router advertisements, so not before it is needed).
func (e *Engine) enableForwarding(v6 bool) error {
	if err := nl.Sysctl(e.host.NS, "ipv4/ip_forward", "1"); err != nil {
		return err
	}
	if v6 {
		return nl.Sysctl(e.host.NS, "ipv6/conf/all/forwarding", "1")
	}
	return nil
}

// firewallAddNetwork installs a new network's isolation and masquerade;
// the returned func undoes it.
func (e *Engine) firewallAddNetwork(n *network) (undo func(), err error) {
	fn, ok := firewallNetwork(n)
	if !ok {
		return func() {}, nil
	}
	// IPv4 forwarding is on since start-up; IPv6 waits for a v6 network.
	if hasIPv6(n) {
		if err := e.enableForwarding(true); err != nil {
			return nil, err
		}
	}
	if err := e.fw.Update([]firewall.Network{fn}, nil, nil, nil); err != nil {
		return nil, fmt.Errorf("firewall for network %s: %w", n.Name, err)
	}
	return func() { _ = e.fw.Update(nil, []string{fn.Bridge}, nil, nil) }, nil
}

func (e *Engine) firewallRemoveNetwork(n *network) {
	if fn, ok := firewallNetwork(n); ok {
		if err := e.fw.Update(nil, []string{fn.Bridge}, nil, nil); err != nil {
			e.log.Warn("remove network from firewall", "net", n.Name, "err", err)
		}
	}
}

func hasIPv6(n *network) bool {
	for _, c := range n.IPAM.Config {
		if c.Subnet.Addr().Is6() {
			return true
		}
	}
	return false
}

// startFirewall installs the whole firewall state and keeps it installed.
func (e *Engine) startFirewall() error {
	v6 := false
	for _, n := range e.networks {
		v6 = v6 || hasIPv6(n)
	}
	if err := e.enableForwarding(v6); err != nil {
		return err
	}
	if err := e.fw.Sync(e.firewallState()); err != nil {
		return fmt.Errorf("install firewall: %w", err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.fw.Watch(e.ctx)
	}()
	return nil
}

// FirewallRules renders what the engine's firewall has installed, in
// nft's syntax.
func (e *Engine) FirewallRules() string {
	return firewall.Render(e.fw.Table(), e.fw.State())
}
