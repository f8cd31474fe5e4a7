package engine

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/bridge"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/store"
)

// NetworkCreate asks for a new network. Addresses are strings so the
// engine can name exactly which one is malformed.
type NetworkCreate struct {
	Name        string
	Driver      string // default "bridge"
	IPAMDriver  string // default "default"
	IPAMOptions map[string]string
	IPAM        []IPAMRequest
	Options     map[string]string
	Labels      map[string]string
	Internal    bool
	Attachable  bool
	EnableIPv6  bool
}

// IPAMRequest is one requested subnet.
type IPAMRequest struct {
	Subnet       string
	IPRange      string
	Gateway      string
	AuxAddresses map[string]string
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CreateNetwork creates a network through its driver.
func (e *Engine) CreateNetwork(ctx context.Context, req NetworkCreate) (cnm.Network, error) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	n, err := e.planNetwork(req)
	if err != nil {
		return cnm.Network{}, err
	}
	if err := e.commitNewNetwork(ctx, n); err != nil {
		return cnm.Network{}, err
	}
	return cloneNetwork(&n.Network), nil
}

func (e *Engine) commitNewNetwork(ctx context.Context, n *network) (retErr error) {
	d, err := e.driverFor(n.Driver)
	if err != nil {
		return err
	}
	if err := d.CreateNetwork(ctx, e.host, driverNetwork(n)); err != nil {
		return fmt.Errorf("create network %s: %w", n.Name, err)
	}
	defer func() {
		if retErr != nil {
			_ = d.DeleteNetwork(ctx, e.host, driverNetwork(n))
		}
	}()
	undoFW, err := e.firewallAddNetwork(n)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			undoFW()
		}
	}()
	if err := e.store.Update(func(tx *store.Tx) error { return tx.PutNetwork(&n.Network) }); err != nil {
		return fmt.Errorf("save network %s: %w", n.Name, err)
	}
	e.mu.Lock()
	e.networks[n.ID] = n
	e.mu.Unlock()
	e.indexNetwork(n)
	return nil
}

// planNetwork validates a request against the current state and builds
// the network with its allocators, touching nothing. Caller holds opMu.
func (e *Engine) planNetwork(req NetworkCreate) (*network, error) {
	if req.Name == "" {
		return nil, cnm.Invalid("network name is required")
	}
	if !validName.MatchString(req.Name) {
		return nil, cnm.Invalid("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	if req.Driver == "" {
		req.Driver = "bridge"
	}
	if req.IPAMDriver == "" {
		req.IPAMDriver = "default"
	}
	e.mu.RLock()
	for _, o := range e.networks {
		if o.Name == req.Name {
			e.mu.RUnlock()
			return nil, cnm.Conflict("network with name %s already exists", req.Name)
		}
	}
	e.mu.RUnlock()
	d, err := e.driverFor(req.Driver)
	if err != nil {
		return nil, err
	}
	if req.IPAMDriver != "default" {
		return nil, cnm.NotFound("ipam driver %q not found (have default)", req.IPAMDriver)
	}
	for k := range req.IPAMOptions {
		return nil, cnm.Invalid("unknown ipam option %q for ipam driver default", k)
	}
	if err := d.ParseOptions(req.Options); err != nil {
		return nil, err
	}
	n := &network{
		Network: cnm.Network{
			ID: newID(), Name: req.Name, Driver: req.Driver, Scope: d.Capability().Scope,
			Created: time.Now(), EnableIPv6: req.EnableIPv6, Internal: req.Internal,
			Attachable: req.Attachable, Options: req.Options, Labels: req.Labels,
			IPAM: cnm.IPAM{Driver: req.IPAMDriver, Options: req.IPAMOptions},
		},
		eps: map[string]*cnm.Endpoint{},
	}
	if err := e.checkBridgeName(n); err != nil {
		return nil, err
	}
	if d.Capability().Connectable || len(req.IPAM) > 0 {
		if err := e.planIPAM(n, req.IPAM, d.Capability().External); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (e *Engine) checkBridgeName(n *network) error {
	if n.Driver != "bridge" {
		return nil
	}
	name := bridge.DeviceName(driver.Network{ID: n.ID, Options: n.Options})
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, o := range e.networks {
		if o.Driver == "bridge" && bridge.DeviceName(driverNetwork(o)) == name {
			return cnm.Conflict("bridge name %s is already used by network %s", name, o.Name)
		}
	}
	if _, err := e.host.Handle.LinkByName(name); err == nil {
		return cnm.Conflict("bridge name %s is already used by an interface of the host", name)
	}
	return nil
}

// planIPAM parses the requested subnets (or picks free ones) and builds
// the allocators, with the gateway reserved. A network of an external
// driver (a LAN segment) holds no gateway unless one is given, and a
// subnet it names only has to avoid other drivers' networks: it may be
// the host's own LAN, and the driver judges overlaps between its own.
func (e *Engine) planIPAM(n *network, reqs []IPAMRequest, external bool) error {
	avoid, err := e.usedPrefixes()
	if err != nil {
		return err
	}
	given := avoid
	if external {
		given = nil
		for _, u := range avoid {
			if u.driver != "" && u.driver != n.Driver {
				given = append(given, u)
			}
		}
	}
	var have4, have6 bool
	for _, r := range reqs {
		c, err := parseIPAM(r, external)
		if err != nil {
			return err
		}
		if c.Subnet.Addr().Is6() {
			if !n.EnableIPv6 {
				return cnm.Invalid("subnet %s is IPv6: add --ipv6 to enable IPv6 on the network", c.Subnet)
			}
			have6 = true
		} else {
			have4 = true
		}
		if err := checkOverlap(c.Subnet, given); err != nil {
			return err
		}
		for _, o := range n.IPAM.Config {
			if ipam.Overlaps(o.Subnet, c.Subnet) {
				return cnm.Invalid("subnets %s and %s overlap", o.Subnet, c.Subnet)
			}
		}
		n.IPAM.Config = append(n.IPAM.Config, c)
	}
	if !have4 {
		p, err := ipam.ChooseSubnet(e.cfg.DefaultPools, prefixesOf(avoid), false)
		if err != nil {
			return err
		}
		n.IPAM.Config = append(n.IPAM.Config, cnm.IPAMConfig{Subnet: p})
	}
	if n.EnableIPv6 && !have6 {
		pools := []ipam.PoolSpec{{Base: e.ula, Size: 64}}
		p, err := ipam.ChooseSubnet(pools, prefixesOf(avoid), true)
		if err != nil {
			return err
		}
		n.IPAM.Config = append(n.IPAM.Config, cnm.IPAMConfig{Subnet: p})
	}
	for i, c := range n.IPAM.Config {
		a, err := ipam.NewAllocator(ipam.Config{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, Aux: c.AuxAddresses, NoDefaultGateway: external})
		if err != nil {
			return err
		}
		n.IPAM.Config[i].Gateway = a.Config().Gateway
		n.alloc = append(n.alloc, a)
	}
	return nil
}

func parseIPAM(r IPAMRequest, external bool) (cnm.IPAMConfig, error) {
	c := ipam.Config{NoDefaultGateway: external}
	var err error
	if c.Subnet, err = netip.ParsePrefix(r.Subnet); err != nil {
		return cnm.IPAMConfig{}, cnm.Invalid("invalid subnet %q: not a CIDR", r.Subnet)
	}
	if r.IPRange != "" {
		if c.IPRange, err = netip.ParsePrefix(r.IPRange); err != nil {
			return cnm.IPAMConfig{}, cnm.Invalid("invalid ip-range %q: not a CIDR", r.IPRange)
		}
	}
	if r.Gateway != "" {
		if c.Gateway, err = netip.ParseAddr(r.Gateway); err != nil {
			return cnm.IPAMConfig{}, cnm.Invalid("invalid gateway %q: not an IP address", r.Gateway)
		}
	}
	for name, s := range r.AuxAddresses {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return cnm.IPAMConfig{}, cnm.Invalid("invalid auxiliary address %s=%q: not an IP address", name, s)
		}
		if c.Aux == nil {
			c.Aux = map[string]netip.Addr{}
		}
		c.Aux[name] = a
	}
	if c, err = c.Normalize(); err != nil {
		return cnm.IPAMConfig{}, err
	}
	return cnm.IPAMConfig{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, AuxAddresses: c.Aux}, nil
}

// used is a prefix in use, and by what.
type used struct {
	prefix netip.Prefix
	what   string
	driver string // the network's driver; "" for the host's own
}

func prefixesOf(us []used) []netip.Prefix {
	out := make([]netip.Prefix, len(us))
	for i, u := range us {
		out[i] = u.prefix
	}
	return out
}

func checkOverlap(p netip.Prefix, avoid []used) error {
	for _, u := range avoid {
		if ipam.Overlaps(p, u.prefix) {
			return cnm.Conflict("subnet %s overlaps with %s", p, u.what)
		}
	}
	return nil
}

// RemoveNetwork removes a network that has no endpoints left.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	n, err := e.findNetwork(ref)
	if err != nil {
		return err
	}
	return e.removeNetworkLocked(ctx, n)
}

func (e *Engine) removeNetworkLocked(ctx context.Context, n *network) error {
	if n.Builtin {
		return cnm.Forbidden("%s is a pre-defined network and cannot be removed", n.Name)
	}
	e.mu.RLock()
	var names []string
	for _, ep := range n.eps {
		if sb := e.sandboxes[ep.SandboxID]; sb != nil {
			names = append(names, sb.Name)
		}
	}
	e.mu.RUnlock()
	if len(n.eps) > 0 {
		slices.Sort(names)
		return cnm.Forbidden("network %s has active endpoints (%s)", n.Name, strings.Join(names, ", "))
	}
	if err := e.store.Update(func(tx *store.Tx) error { return tx.DeleteNetwork(n.ID) }); err != nil {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	e.mu.Lock()
	delete(e.networks, n.ID)
	e.mu.Unlock()
	e.names.removeNetwork(n.ID)
	e.firewallRemoveNetwork(n)
	d, _ := e.driverFor(n.Driver)
	if err := d.DeleteNetwork(ctx, e.host, driverNetwork(n)); err != nil {
		// The record is gone; the tagged leftover is swept at next start.
		e.log.Warn("delete network kernel objects", "net", n.Name, "err", err)
	}
	return nil
}

// PruneNetworks removes every custom network without endpoints and
// returns their names.
func (e *Engine) PruneNetworks(ctx context.Context) ([]string, error) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	e.mu.RLock()
	var idle []*network
	for _, n := range e.networks {
		if !n.Builtin && len(n.eps) == 0 {
			idle = append(idle, n)
		}
	}
	e.mu.RUnlock()
	var removed []string
	for _, n := range idle {
		if err := e.removeNetworkLocked(ctx, n); err != nil {
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	slices.Sort(removed)
	return removed, nil
}

func (e *Engine) ensureDefaultNetworks(ctx context.Context) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	defaults := []NetworkCreate{
		{Name: "bridge", Driver: "bridge", Options: map[string]string{
			bridge.OptBridgeName: e.cfg.DefaultBridge, bridge.OptDefault: "true",
			bridge.OptICC: "true", bridge.OptMasquerade: "true",
		}},
		{Name: "host", Driver: "host"},
		{Name: "none", Driver: "null"},
	}
	for _, req := range defaults {
		if _, err := e.findNetwork(req.Name); err == nil {
			continue
		}
		n, err := e.planNetwork(req)
		if err != nil {
			return fmt.Errorf("create default network %s: %w", req.Name, err)
		}
		n.Builtin = true
		if req.Driver != "bridge" {
			n.Created = time.Time{}
		}
		if err := e.commitNewNetwork(ctx, n); err != nil {
			return fmt.Errorf("create default network %s: %w", req.Name, err)
		}
	}
	return nil
}

func driverNetwork(n *network) driver.Network {
	dn := driver.Network{ID: n.ID, Name: n.Name, Internal: n.Internal, IPv6: n.EnableIPv6, Options: n.Options}
	for _, c := range n.IPAM.Config {
		dn.Subnets = append(dn.Subnets, driver.Subnet{Prefix: c.Subnet, Gateway: c.Gateway, IPRange: c.IPRange, Aux: c.AuxAddresses})
	}
	return dn
}

func cloneNetwork(n *cnm.Network) cnm.Network {
	c := *n
	c.Options = maps.Clone(n.Options)
	c.Labels = maps.Clone(n.Labels)
	c.IPAM.Options = maps.Clone(n.IPAM.Options)
	c.IPAM.Config = slices.Clone(n.IPAM.Config)
	c.Cursors = nil
	return c
}
