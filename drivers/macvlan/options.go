package macvlan

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/vishvananda/netlink"
)

// Option keys, the strings Docker uses, plus patchbay's host_access.
const (
	OptParent     = "parent"
	OptMode       = "macvlan_mode"
	OptMTU        = "com.docker.network.driver.mtu"
	OptHostAccess = "host_access"
)

// Mode names (-o macvlan_mode).
const (
	ModeBridge   = "bridge"
	ModePrivate  = "private"
	ModeVEPA     = "vepa"
	ModePassthru = "passthru"
)

var modes = map[string]netlink.MacvlanMode{
	ModeBridge:   netlink.MACVLAN_MODE_BRIDGE,
	ModePrivate:  netlink.MACVLAN_MODE_PRIVATE,
	ModeVEPA:     netlink.MACVLAN_MODE_VEPA,
	ModePassthru: netlink.MACVLAN_MODE_PASSTHRU,
}

// Options are a macvlan network's decoded driver options.
type Options struct {
	// Parent is the parent interface as given; "" for a network on a
	// parent of its own.
	Parent string
	// Base and VLAN are set when Parent names an 802.1q sub-interface
	// (IF.VID): the interface it is made on and the VLAN id.
	Base string
	VLAN int
	// Mode is the macvlan mode name; default bridge.
	Mode       string
	MTU        int // 0: the parent's
	HostAccess bool
}

// kernelMode is the netlink value of the mode.
func (o Options) kernelMode() netlink.MacvlanMode { return modes[o.Mode] }

var vlanName = regexp.MustCompile(`^(.+)\.([0-9]+)$`)

// ParseOptions decodes and validates driver options. Unknown keys are an
// error naming the key.
func ParseOptions(opts map[string]string) (Options, error) {
	o := Options{Mode: ModeBridge}
	for k, v := range opts {
		var err error
		switch k {
		case OptParent:
			o.Parent = v
		case OptMode:
			if _, ok := modes[v]; !ok {
				return o, cnm.Invalid("invalid option %s=%q: the macvlan modes are bridge, private, vepa and passthru", k, v)
			}
			o.Mode = v
		case OptMTU:
			o.MTU, err = strconv.Atoi(v)
			if err == nil && (o.MTU < 68 || o.MTU > 65535) {
				return o, cnm.Invalid("invalid option %s=%s: mtu must be between 68 and 65535", k, v)
			}
		case OptHostAccess:
			o.HostAccess, err = strconv.ParseBool(v)
		default:
			return o, cnm.Invalid("unknown option %q for driver macvlan (have parent, macvlan_mode, host_access, %s)", k, OptMTU)
		}
		if err != nil {
			return o, cnm.Invalid("invalid option %s=%q: %v", k, v, err)
		}
	}
	if _, given := opts[OptParent]; given {
		if err := checkParent(&o); err != nil {
			return o, err
		}
	}
	if o.HostAccess && (o.Mode == ModePrivate || o.Mode == ModePassthru) {
		return o, cnm.Invalid("host_access needs macvlan_mode bridge or vepa: a %s endpoint cannot be reached through a shim on its parent", o.Mode)
	}
	return o, nil
}

func checkParent(o *Options) error {
	if err := validIfName(o.Parent); err != nil {
		return cnm.Invalid("invalid option parent=%q: %v", o.Parent, err)
	}
	if o.Parent == "lo" {
		return cnm.Invalid("invalid option parent=lo: the loopback interface cannot be a macvlan parent")
	}
	m := vlanName.FindStringSubmatch(o.Parent)
	if m == nil {
		return nil
	}
	vid, err := strconv.Atoi(m[2])
	if err != nil || vid < 1 || vid > 4094 {
		return cnm.Invalid("invalid option parent=%s: VLAN id %s is not between 1 and 4094", o.Parent, m[2])
	}
	o.Base, o.VLAN = m[1], vid
	return nil
}

func validIfName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return cnm.Invalid("not an interface name")
	case len(name) > 15:
		return cnm.Invalid("longer than 15 characters")
	case strings.ContainsAny(name, "/: \t\n"):
		return cnm.Invalid("contains '/', ':' or whitespace")
	}
	return nil
}
