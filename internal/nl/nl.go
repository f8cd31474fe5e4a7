// Package nl holds small helpers over vishvananda/netlink shared by the
// engine and the drivers. Namespace handles are always passed explicitly;
// nothing here uses the package-level netlink handle.
package nl

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// IsNotFound reports whether a netlink error means the object is absent.
func IsNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) ||
		errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

// IPNet converts a prefix (address with its prefix length) to *net.IPNet.
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Addr converts a prefix to a netlink address.
func Addr(p netip.Prefix) *netlink.Addr { return &netlink.Addr{IPNet: IPNet(p)} }

// Prefix converts *net.IPNet to a prefix, keeping the host bits.
func Prefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// IP converts an address to net.IP.
func IP(a netip.Addr) net.IP { return a.AsSlice() }
