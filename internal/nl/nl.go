// Package nl holds small helpers over vishvananda/netlink shared by the
// engine and the drivers. Namespace handles are always passed explicitly;
// nothing here uses the package-level netlink handle.
package nl

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	vnl "github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
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

// ReapGroup is the link group (IFLA_GROUP) under which links tagged tag
// wait to be deleted together. It is derived from the tag, so engines
// sharing a namespace never delete each other's links, and it is never 0,
// the group every link starts in.
func ReapGroup(tag string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(tag))
	return h.Sum32() | 1<<31
}

// DeleteGroup deletes every link of group in the namespace ns with one
// request. The kernel unregisters them together, paying one RCU grace
// period for the lot instead of one per link (about 30 ms each, with the
// rtnl lock held). A group with no links is not an error.
func DeleteGroup(ns netns.NsHandle, group uint32) error {
	s, err := vnl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer s.Close()
	req := vnl.NewNetlinkRequest(unix.RTM_DELLINK, unix.NLM_F_ACK)
	req.Sockets = map[int]*vnl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
	req.AddData(vnl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(vnl.NewRtAttr(unix.IFLA_GROUP, vnl.Uint32Attr(group)))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link group %#x: %w", group, err)
	}
	return nil
}

// InNetns runs f on a thread in the namespace ns. Files and sockets f
// opens belong to ns; /proc/sys/net is ns's.
func InNetns(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	cur, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer cur.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace: %w", err)
	}
	defer func() {
		// A thread that cannot go back is left locked, so it dies with
		// this goroutine instead of serving others in the wrong namespace.
		if netns.Set(cur) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// Sysctl writes a /proc/sys/net value of the namespace ns, e.g.
// Sysctl(ns, "ipv4/ip_forward", "1").
func Sysctl(ns netns.NsHandle, key, value string) error {
	return InNetns(ns, func() error {
		if err := os.WriteFile("/proc/sys/net/"+key, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl net.%s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
		}
		return nil
	})
}

// IPv6 address generation modes (IFLA_INET6_ADDR_GEN_MODE).
const (
	AddrGenModeEUI64 = 0
	AddrGenModeNone  = 1
)

// BringUpEndpoint gives an endpoint's interface inside a sandbox its
// addresses and brings it up: an IPv6 endpoint gets a link-local address
// (sandboxes default to none) and its address without duplicate address
// detection, which would hold it back for a second. Sandboxes have
// arp_notify set, so going up announces the IPv4 address and a reused IP
// never meets a stale neighbour entry.
func BringUpEndpoint(h *netlink.Handle, link netlink.Link, v4, v6 netip.Prefix) error {
	name := link.Attrs().Name
	if v6.IsValid() {
		if err := h.LinkSetIP6AddrGenMode(link, AddrGenModeEUI64); err != nil {
			return fmt.Errorf("set addrgenmode of %s: %w", name, err)
		}
	}
	for _, p := range []netip.Prefix{v4, v6} {
		if !p.IsValid() {
			continue
		}
		addr := Addr(p)
		if p.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add address %s to %s: %w", p, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// SweepTagged deletes the links of the namespace whose alias carries tag
// followed by "net:ID" or "ep:ID" for an ID that is not in nets or eps:
// the leftovers of operations a crash cut short.
func SweepTagged(h *netlink.Handle, tag string, nets, eps map[string]bool) error {
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		rest, ok := strings.CutPrefix(l.Attrs().Alias, tag)
		if !ok {
			continue
		}
		if id, ok := strings.CutPrefix(rest, "net:"); ok && nets[id] {
			continue
		}
		if id, ok := strings.CutPrefix(rest, "ep:"); ok && eps[id] {
			continue
		}
		if err := h.LinkDel(l); err != nil && !IsNotFound(err) {
			return fmt.Errorf("delete leftover link %s: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

// DeleteNamed deletes the named links of the namespace together: each
// joins the reap group of tag, then the group goes in one kernel
// operation, which pays the device grace period once for all of them.
// Missing links are skipped, and so are those ours rejects (nil: all are
// ours). what names the links in errors ("veth", "bridge").
func DeleteNamed(h *netlink.Handle, ns netns.NsHandle, tag, what string, names []string, ours func(netlink.Link) bool) error {
	group := ReapGroup(tag)
	marked := 0
	var errs []error
	for _, name := range names {
		if name == "" {
			continue
		}
		l, err := h.LinkByName(name)
		if IsNotFound(err) {
			continue
		}
		if err == nil && ours != nil && !ours(l) {
			continue
		}
		if err == nil {
			err = h.LinkSetGroup(l, int(group))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s %s for deletion: %w", what, name, err))
			continue
		}
		marked++
	}
	if marked > 0 {
		errs = append(errs, DeleteGroup(ns, group))
	}
	return errors.Join(errs...)
}
