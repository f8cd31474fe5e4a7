package cli

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/patchbay/patchbay/api/types"
	"github.com/spf13/cobra"
)

// netCreateOpts are the flags of network create.
type netCreateOpts struct {
	driver     string
	ipamDriver string
	ipam       ipamFlags
	ipamOpts   []string
	opts       []string
	labels     []string
	internal   bool
	attachable bool
	ipv6       bool
}

// ipamFlags are network create's address flags before grouping.
type ipamFlags struct {
	subnets  []string
	ipRanges []string
	gateways []string
	aux      []string
}

// newNetworkCreateCmd is network create.
func newNetworkCreateCmd(e *env) *cobra.Command {
	var o netCreateOpts
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := o.request(args[0])
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			resp, err := c.NetworkCreate(cmd.Context(), req)
			if err != nil {
				return err
			}
			if resp.Warning != "" {
				fmt.Fprintln(e.stderr, "WARNING:", resp.Warning)
			}
			fmt.Fprintln(e.stdout, resp.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.driver, "driver", "d", "bridge", "driver to manage the network")
	f.StringSliceVar(&o.ipam.subnets, "subnet", nil, "subnet in CIDR format that represents a network segment")
	f.StringSliceVar(&o.ipam.ipRanges, "ip-range", nil, "allocate container ip from a sub-range")
	f.StringSliceVar(&o.ipam.gateways, "gateway", nil, "IPv4 or IPv6 gateway for the master subnet")
	f.StringArrayVar(&o.ipam.aux, "aux-address", nil, "auxiliary IPv4 or IPv6 addresses used by the network driver (name=ip)")
	f.StringVar(&o.ipamDriver, "ipam-driver", "default", "IP address management driver")
	f.StringArrayVar(&o.ipamOpts, "ipam-opt", nil, "set IPAM driver specific options (k=v)")
	f.StringArrayVarP(&o.opts, "opt", "o", nil, "set driver specific options (k=v)")
	f.StringArrayVar(&o.labels, "label", nil, "set metadata on a network (k=v)")
	f.BoolVar(&o.internal, "internal", false, "restrict external access to the network")
	f.BoolVar(&o.attachable, "attachable", false, "enable manual sandbox attachment")
	f.BoolVar(&o.ipv6, "ipv6", false, "enable IPv6 networking")
	return cmd
}

// request builds the create request from the flags.
func (o *netCreateOpts) request(name string) (types.NetworkCreateRequest, error) {
	cfgs, err := ipamConfigs(o.ipam)
	if err != nil {
		return types.NetworkCreateRequest{}, err
	}
	ipamOpts, err := parseKV("ipam-opt", o.ipamOpts)
	if err != nil {
		return types.NetworkCreateRequest{}, err
	}
	opts, err := parseKV("opt", o.opts)
	if err != nil {
		return types.NetworkCreateRequest{}, err
	}
	labels, err := parseKV("label", o.labels)
	if err != nil {
		return types.NetworkCreateRequest{}, err
	}
	return types.NetworkCreateRequest{
		Name:       name,
		Driver:     o.driver,
		EnableIPv6: o.ipv6,
		IPAM:       &types.IPAM{Driver: o.ipamDriver, Options: ipamOpts, Config: cfgs},
		Internal:   o.internal,
		Attachable: o.attachable,
		Options:    opts,
		Labels:     labels,
	}, nil
}

// parseKV reads k=v flag values into a map; the value may be left out
// ("k" means k=""), the key may not. It returns nil for no values.
func parseKV(flag string, vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, _ := strings.Cut(v, "=")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("invalid %s %q: no key", flag, v)
		}
		m[k] = val
	}
	return m, nil
}

// ipamConfigs groups each --ip-range, --gateway and --aux-address under
// the --subnet that contains it, in --subnet order, as Docker does.
// Values that do not parse are passed through for the daemon to report:
// under the only subnet when there is exactly one, else as an error.
func ipamConfigs(f ipamFlags) ([]types.IPAMConfig, error) {
	g := subnetGroups{cfgs: make([]types.IPAMConfig, len(f.subnets))}
	for i, s := range f.subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			p = netip.Prefix{} // the daemon names the bad subnet
		}
		for j, q := range g.prefixes {
			if p.IsValid() && q.IsValid() && p.Overlaps(q) {
				return nil, fmt.Errorf("multiple overlapping subnet configuration is not supported (%s, %s)", f.subnets[j], s)
			}
		}
		g.prefixes = append(g.prefixes, p)
		g.cfgs[i].Subnet = s
	}
	for _, r := range f.ipRanges {
		i, err := g.find("ip-range", "range", r)
		if err != nil {
			return nil, err
		}
		if prev := g.cfgs[i].IPRange; prev != "" {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, prev, g.cfgs[i].Subnet)
		}
		g.cfgs[i].IPRange = r
	}
	for _, gw := range f.gateways {
		i, err := g.find("gateway", "gateway", gw)
		if err != nil {
			return nil, err
		}
		if prev := g.cfgs[i].Gateway; prev != "" {
			return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", gw, prev, g.cfgs[i].Subnet)
		}
		g.cfgs[i].Gateway = gw
	}
	for _, a := range f.aux {
		name, addr, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid aux-address %s: want name=ip", a)
		}
		i, err := g.find("aux-address", "aux-address", addr)
		if err != nil {
			return nil, err
		}
		if g.cfgs[i].AuxAddress == nil {
			g.cfgs[i].AuxAddress = map[string]string{}
		}
		g.cfgs[i].AuxAddress[name] = addr
	}
	return g.cfgs, nil
}

// subnetGroups are the --subnet values being filled in; prefixes[i] is
// the parsed cfgs[i].Subnet, invalid when it does not parse.
type subnetGroups struct {
	prefixes []netip.Prefix
	cfgs     []types.IPAMConfig
}

// find returns the index of the subnet containing v, an address or a
// prefix. flag names v in parse errors, kind in "no matching subnet".
func (g *subnetGroups) find(flag, kind, v string) (int, error) {
	only := len(g.cfgs) == 1
	addr, ok := parseAddrOrPrefix(v)
	if !ok {
		if only {
			return 0, nil
		}
		return 0, fmt.Errorf("invalid %s %s", flag, v)
	}
	for i, p := range g.prefixes {
		if p.IsValid() && p.Contains(addr) {
			return i, nil
		}
	}
	if only && !g.prefixes[0].IsValid() {
		return 0, nil // the daemon reports the subnet that does not parse
	}
	return 0, fmt.Errorf("no matching subnet for %s %s", kind, v)
}

// parseAddrOrPrefix reads "10.0.0.1" or "10.0.0.0/25" (its address).
func parseAddrOrPrefix(s string) (netip.Addr, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Addr(), err == nil
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}
