package overlay

import (
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// Option keys. OptVXLANIDList is the key Docker's agents take a network's
// VNIs by; OptVNI is patchbay's short form. Either asks AllocateNetwork
// for one given VNI instead of a free one.
const (
	OptVNI         = "vni"
	OptVXLANIDList = "com.docker.network.driver.overlay.vxlanid_list"
	OptMTU         = "com.docker.network.driver.mtu"
	OptEncrypted   = "encrypted"
)

// Options are an overlay network's decoded driver options.
type Options struct {
	// VNI is the VNI asked for, 0 for any free one.
	VNI uint32
	// MTU overrides the MTU derived from the underlay (0: derived).
	MTU int
}

// ParseOptions decodes and validates driver options. Unknown keys are an
// error naming the key.
func ParseOptions(opts map[string]string) (Options, error) {
	var o Options
	for k, v := range opts {
		switch k {
		case OptVNI, OptVXLANIDList:
			// Docker's list holds one VNI per subnet; patchbay gives a
			// network one VNI whatever its subnets, so one is taken.
			first, rest, _ := strings.Cut(v, ",")
			n, err := strconv.ParseUint(strings.TrimSpace(first), 10, 32)
			if err != nil || n == 0 || n > maxVNI || strings.TrimSpace(rest) != "" && !sameVNIs(v) {
				return o, cnm.Invalid("invalid option %s=%q: want one VNI between 1 and %d", k, v, maxVNI)
			}
			if o.VNI != 0 && o.VNI != uint32(n) {
				return o, cnm.Invalid("invalid option %s=%q: another VNI option asks for %d", k, v, o.VNI)
			}
			o.VNI = uint32(n)
		case OptMTU:
			n, err := strconv.Atoi(v)
			if err != nil || n < 68 || n > 65535 {
				return o, cnm.Invalid("invalid option %s=%q: mtu must be between 68 and 65535", k, v)
			}
			o.MTU = n
		case OptEncrypted:
			return o, cnm.Invalid("option %s is not supported by driver overlay (VXLAN traffic is not encrypted)", k)
		default:
			return o, cnm.Invalid("unknown option %q for driver overlay", k)
		}
	}
	return o, nil
}

// sameVNIs reports whether a comma-separated list repeats one VNI.
func sameVNIs(list string) bool {
	parts := strings.Split(list, ",")
	for _, p := range parts {
		if strings.TrimSpace(p) != strings.TrimSpace(parts[0]) {
			return false
		}
	}
	return true
}
