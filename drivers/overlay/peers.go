package overlay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// desired is what a network's VXLAN device should hold on this host: a
// forwarding entry per remote MAC (to its host's address) and a neighbour
// entry per remote IP (to its MAC).
type desired struct {
	fdb   map[string]netip.Addr // MAC → host
	neigh map[netip.Addr]string // IP → MAC
}

// SetPeers implements driver.PeerSetter. It makes the network's VXLAN
// device on this host hold exactly one permanent forwarding entry (MAC →
// the peer's host, NTF_SELF) and one permanent neighbour entry per
// address (IP → MAC) for every peer on another host, and nothing else:
// entries no peer explains — left by a departed endpoint, a dead host or
// a crash — are deleted. There is never an all-zeros (flooding) entry, so
// broadcasts and unknown unicasts stay on this host, and ARP and
// neighbour solicitations for peers are answered by the device itself.
// Peers on this host (Node.Addr equal to the advertise address) are
// skipped. Safe to call again; a peer it cannot program (bad MAC or host
// address, a MAC or IP claimed twice) is reported in the error after the
// others are programmed.
func (d *Driver) SetPeers(ctx context.Context, h driver.Host, nw driver.Network, peers []driver.Peer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.peersMu.Lock()
	defer d.peersMu.Unlock()
	name := VXLANName(nw)
	vx, err := h.Handle.LinkByName(name)
	if nl.IsNotFound(err) {
		return cnm.NotFound("set peers of network %s: no VXLAN device %s on this host", nw.Name, name)
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if vx.Attrs().Alias != networkTag(h, nw) {
		return cnm.Conflict("set peers of network %s: %s is not this network's device", nw.Name, name)
	}
	want, errs := d.desired(peers)
	idx := vx.Attrs().Index
	// What this driver programmed last on this very device is known: only
	// the difference goes to the kernel, not a dump of every entry, so a
	// join costs each host the same whatever the network's size. The first
	// call for a device (and any call after a failure) compares with the
	// kernel's own tables, which clears what a crash or a dead host left.
	if p, ok := d.programmed[name]; ok && p.idx == idx {
		if err := applyDelta(h, idx, p.want, want); err == nil {
			d.programmed[name] = programmed{idx, want}
			return errors.Join(errs...)
		}
		delete(d.programmed, name)
	}
	synced := true
	if err := d.syncFDB(h, idx, want.fdb); err != nil {
		errs = append(errs, fmt.Errorf("set peers of network %s: %w", nw.Name, err))
		synced = false
	}
	if err := syncNeigh(h, idx, want.neigh); err != nil {
		errs = append(errs, fmt.Errorf("set peers of network %s: %w", nw.Name, err))
		synced = false
	}
	if synced {
		d.programmed[name] = programmed{idx, want}
	}
	return errors.Join(errs...)
}

// programmed is what SetPeers last made a VXLAN device hold.
type programmed struct {
	idx  int
	want desired
}

// applyDelta changes a device's entries from what prev programmed to
// want.
func applyDelta(h driver.Host, idx int, prev, want desired) error {
	for mac, dst := range prev.fdb {
		if want.fdb[mac] != dst {
			if err := delFDB(h, idx, mac, dst); err != nil {
				return err
			}
		}
	}
	for ip, mac := range prev.neigh {
		if _, keep := want.neigh[ip]; !keep { // replaced below if it changed
			if err := delNeigh(h, idx, ip, mac); err != nil {
				return err
			}
		}
	}
	for mac, dst := range want.fdb {
		if prev.fdb[mac] != dst {
			if err := setFDB(h, idx, mac, dst); err != nil {
				return err
			}
		}
	}
	for ip, mac := range want.neigh {
		if prev.neigh[ip] != mac {
			if err := setNeigh(h, idx, ip, mac); err != nil {
				return err
			}
		}
	}
	return nil
}

var _ driver.PeerSetter = (*Driver)(nil)

// desired is the entries the peers call for, and the peers refused.
func (d *Driver) desired(peers []driver.Peer) (desired, []error) {
	want := desired{fdb: map[string]netip.Addr{}, neigh: map[netip.Addr]string{}}
	var errs []error
	peers = slices.Clone(peers)
	slices.SortFunc(peers, func(a, b driver.Peer) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	for _, p := range peers {
		e, err := d.entries(p)
		if err == nil && e.local {
			continue
		}
		if err == nil {
			err = want.conflict(p, e)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want.add(e)
	}
	return want, errs
}

// peerEntries are the entries one peer calls for: its MAC at its host,
// and its addresses at its MAC. local: the peer is on this host and
// calls for none.
type peerEntries struct {
	mac   string
	host  netip.Addr
	ips   []netip.Addr
	local bool
}

// entries checks a peer and returns the entries it calls for.
func (d *Driver) entries(p driver.Peer) (peerEntries, error) {
	host := p.Node.Addr.Unmap()
	if host == d.cfg.Advertise {
		return peerEntries{local: true}, nil
	}
	if len(p.MAC) != 6 || !host.IsValid() || host.IsUnspecified() || host.Is4() != d.cfg.Advertise.Is4() {
		return peerEntries{}, cnm.Invalid("peer endpoint %s: bad MAC %q or host address %q", p.EndpointID, p.MAC, p.Node.Addr)
	}
	e := peerEntries{mac: p.MAC.String(), host: host}
	for _, a := range []netip.Prefix{p.IPv4, p.IPv6} {
		if a.IsValid() {
			e.ips = append(e.ips, a.Addr().Unmap())
		}
	}
	return e, nil
}

// conflict reports whether a peer's entries clash with want's: its MAC
// on another host, or one of its addresses at another MAC.
func (want desired) conflict(p driver.Peer, e peerEntries) error {
	if prev, ok := want.fdb[e.mac]; ok && prev != e.host {
		return cnm.Conflict("peer endpoint %s: MAC %s is already on host %s", p.EndpointID, e.mac, prev)
	}
	for _, ip := range e.ips {
		if prev, ok := want.neigh[ip]; ok && prev != e.mac {
			return cnm.Conflict("peer endpoint %s: address %s is already at MAC %s", p.EndpointID, ip, prev)
		}
	}
	return nil
}

func (want desired) add(e peerEntries) {
	want.fdb[e.mac] = e.host
	for _, ip := range e.ips {
		want.neigh[ip] = e.mac
	}
}

// UpdatePeers implements driver.PeerUpdater: it applies the departure
// (remove) and arrival (add) of some peers to what SetPeers last
// programmed on the network's device, so an endpoint joining or leaving
// elsewhere costs this host the same whatever the network's size. It
// fails, and the engine calls SetPeers, if SetPeers has not programmed
// this device yet or a change does not go through (which also makes the
// next SetPeers compare with the kernel's tables); a refused peer
// (conflict, bad address) is reported after the others are applied.
func (d *Driver) UpdatePeers(ctx context.Context, h driver.Host, nw driver.Network, add, remove []driver.Peer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.peersMu.Lock()
	defer d.peersMu.Unlock()
	name := VXLANName(nw)
	p, ok := d.programmed[name]
	if !ok {
		return fmt.Errorf("update peers of network %s: none programmed on %s yet", nw.Name, name)
	}
	err := p.update(h, d, add, remove)
	var refused *refusedPeers
	if err != nil && !errors.As(err, &refused) {
		delete(d.programmed, name)
	}
	if err != nil {
		return fmt.Errorf("update peers of network %s: %w", nw.Name, err)
	}
	return nil
}

// refusedPeers are peers UpdatePeers did not program.
type refusedPeers struct{ errs []error }

func (r *refusedPeers) Error() string   { return errors.Join(r.errs...).Error() }
func (r *refusedPeers) Unwrap() []error { return r.errs }

// update changes the device's entries and p.want together.
func (p programmed) update(h driver.Host, d *Driver, add, remove []driver.Peer) error {
	want := p.want
	for _, peer := range remove {
		e, err := d.entries(peer)
		if err != nil || e.local {
			continue // never programmed
		}
		if dst, ok := want.fdb[e.mac]; ok && dst == e.host {
			if err := delFDB(h, p.idx, e.mac, dst); err != nil {
				return err
			}
			delete(want.fdb, e.mac)
		}
		for _, ip := range e.ips {
			if want.neigh[ip] == e.mac {
				if err := delNeigh(h, p.idx, ip, e.mac); err != nil {
					return err
				}
				delete(want.neigh, ip)
			}
		}
	}
	var refused []error
	for _, peer := range add {
		e, err := d.entries(peer)
		if err == nil && e.local {
			continue
		}
		if err == nil {
			err = want.conflict(peer, e)
		}
		if err != nil {
			refused = append(refused, err)
			continue
		}
		if want.fdb[e.mac] != e.host {
			if err := setFDB(h, p.idx, e.mac, e.host); err != nil {
				return err
			}
		}
		for _, ip := range e.ips {
			if want.neigh[ip] != e.mac {
				if err := setNeigh(h, p.idx, ip, e.mac); err != nil {
					return err
				}
			}
		}
		want.add(e)
	}
	if len(refused) > 0 {
		return &refusedPeers{refused}
	}
	return nil
}

var _ driver.PeerUpdater = (*Driver)(nil)

// setFDB points a MAC at a host on the device.
func setFDB(h driver.Host, idx int, mac string, dst netip.Addr) error {
	hw, _ := net.ParseMAC(mac)
	add := netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT, IP: nl.IP(dst), HardwareAddr: hw}
	if err := h.Handle.NeighSet(&add); err != nil {
		return fmt.Errorf("add forwarding entry %s dst %s: %w", mac, dst, err)
	}
	return nil
}

// delFDB deletes a MAC's forwarding entry; one already gone is no error.
func delFDB(h driver.Host, idx int, mac string, dst netip.Addr) error {
	hw, _ := net.ParseMAC(mac)
	del := netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, IP: nl.IP(dst), HardwareAddr: hw}
	if err := h.Handle.NeighDel(&del); err != nil && !nl.IsNotFound(err) {
		return fmt.Errorf("delete forwarding entry %s dst %s: %w", mac, dst, err)
	}
	return nil
}

// setNeigh points an address at a MAC on the device.
func setNeigh(h driver.Host, idx int, ip netip.Addr, mac string) error {
	hw, _ := net.ParseMAC(mac)
	add := netlink.Neigh{LinkIndex: idx, Family: familyOf(ip), State: netlink.NUD_PERMANENT, IP: nl.IP(ip), HardwareAddr: hw}
	if err := h.Handle.NeighSet(&add); err != nil {
		return fmt.Errorf("add neighbour entry %s lladdr %s: %w", ip, mac, err)
	}
	return nil
}

// delNeigh deletes an address's neighbour entry; one already gone is no
// error.
func delNeigh(h driver.Host, idx int, ip netip.Addr, mac string) error {
	del := netlink.Neigh{LinkIndex: idx, Family: familyOf(ip), IP: nl.IP(ip)}
	if err := h.Handle.NeighDel(&del); err != nil && !nl.IsNotFound(err) {
		return fmt.Errorf("delete neighbour entry %s (%s): %w", ip, mac, err)
	}
	return nil
}

// syncFDB makes the device's own forwarding entries those of want.
func (d *Driver) syncFDB(h driver.Host, idx int, want map[string]netip.Addr) error {
	have, err := h.Handle.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("list forwarding entries: %w", err)
	}
	ok := map[string]bool{}
	for _, n := range have {
		if n.LinkIndex != idx || n.Flags&netlink.NTF_SELF == 0 {
			continue // the bridge's entries for this port, not the device's
		}
		mac := n.HardwareAddr.String()
		dst, _ := netip.AddrFromSlice(n.IP)
		if want[mac] == dst.Unmap() && dst.IsValid() && n.State&netlink.NUD_PERMANENT != 0 && !ok[mac] {
			ok[mac] = true
			continue
		}
		del := netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, IP: n.IP, HardwareAddr: n.HardwareAddr}
		if err := h.Handle.NeighDel(&del); err != nil && !nl.IsNotFound(err) {
			return fmt.Errorf("delete forwarding entry %s dst %s: %w", mac, dst, err)
		}
	}
	for mac, dst := range want {
		if !ok[mac] {
			if err := setFDB(h, idx, mac, dst); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncNeigh makes the device's neighbour entries those of want.
func syncNeigh(h driver.Host, idx int, want map[netip.Addr]string) error {
	ok := map[netip.Addr]bool{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		have, err := h.Handle.NeighList(idx, fam)
		if err != nil {
			return fmt.Errorf("list neighbour entries: %w", err)
		}
		for _, n := range have {
			if n.LinkIndex != idx {
				continue
			}
			ip, _ := netip.AddrFromSlice(n.IP)
			ip = ip.Unmap()
			if mac, found := want[ip]; found && mac == n.HardwareAddr.String() && n.State&netlink.NUD_PERMANENT != 0 {
				ok[ip] = true
				continue
			}
			del := netlink.Neigh{LinkIndex: idx, Family: fam, IP: n.IP}
			if err := h.Handle.NeighDel(&del); err != nil && !nl.IsNotFound(err) {
				return fmt.Errorf("delete neighbour entry %s: %w", ip, err)
			}
		}
	}
	for ip, mac := range want {
		if !ok[ip] {
			if err := setNeigh(h, idx, ip, mac); err != nil {
				return err
			}
		}
	}
	return nil
}
