package engine

import (
	"net/netip"
	"strconv"
)

// optInhibitIPv4 is the bridge option that keeps the IPv4 gateway off the
// bridge (Docker's name).
const optInhibitIPv4 = "com.docker.network.bridge.inhibit_ipv4"

// skipGateway reports whether no gateway address is reserved in subnet
// p of n when none is given: on an internal network whose IPv4 gateway
// is inhibited nothing routes, so every address of a /31 is a sandbox's
// (two sandboxes point to point), as Docker does.
func skipGateway(n *network, p netip.Prefix) bool {
	if !n.Internal || !p.Addr().Is4() {
		return false
	}
	inhibit, _ := strconv.ParseBool(n.Options[optInhibitIPv4])
	return inhibit
}
