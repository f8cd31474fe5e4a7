package bridge

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// Option keys, the same strings Docker uses.
const (
	OptBridgeName  = "com.docker.network.bridge.name"
	OptMTU         = "com.docker.network.driver.mtu"
	OptICC         = "com.docker.network.bridge.enable_icc"
	OptMasquerade  = "com.docker.network.bridge.enable_ip_masquerade"
	OptHostBinding = "com.docker.network.bridge.host_binding_ipv4"
	OptDefault     = "com.docker.network.bridge.default_bridge"
	// OptInhibitIPv4 keeps the IPv4 gateway address off the bridge: the
	// network's router is elsewhere or, on an internal network, there is
	// none (then no gateway address is reserved at all, so a /31 joins
	// two sandboxes point to point).
	OptInhibitIPv4 = "com.docker.network.bridge.inhibit_ipv4"
)

// Options are a bridge network's decoded driver options.
type Options struct {
	BridgeName    string
	MTU           int // 0: kernel default
	EnableICC     bool
	Masquerade    bool
	HostBindingV4 netip.Addr
	DefaultBridge bool
	InhibitIPv4   bool
}

// ParseOptions decodes and validates driver options. Unknown keys are an
// error naming the key.
func ParseOptions(opts map[string]string) (Options, error) {
	o := Options{EnableICC: true, Masquerade: true}
	for k, v := range opts {
		var err error
		switch k {
		case OptBridgeName:
			err = validIfName(v)
			o.BridgeName = v
		case OptMTU:
			o.MTU, err = strconv.Atoi(v)
			if err == nil && (o.MTU < 68 || o.MTU > 65535) {
				return o, cnm.Invalid("invalid option %s=%s: mtu must be between 68 and 65535", k, v)
			}
		case OptICC:
			o.EnableICC, err = strconv.ParseBool(v)
		case OptMasquerade:
			o.Masquerade, err = strconv.ParseBool(v)
		case OptHostBinding:
			o.HostBindingV4, err = netip.ParseAddr(v)
		case OptDefault:
			o.DefaultBridge, err = strconv.ParseBool(v)
		case OptInhibitIPv4:
			o.InhibitIPv4, err = strconv.ParseBool(v)
		default:
			return o, cnm.Invalid("unknown option %q for driver bridge", k)
		}
		if err != nil {
			return o, cnm.Invalid("invalid option %s=%q: %v", k, v, err)
		}
	}
	return o, nil
}

func validIfName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return cnm.Invalid("invalid interface name %q", name)
	case len(name) > 15:
		return cnm.Invalid("invalid interface name %q: longer than 15 characters", name)
	case strings.ContainsAny(name, "/: \t\n"):
		return cnm.Invalid("invalid interface name %q: contains '/', ':' or whitespace", name)
	}
	return nil
}
