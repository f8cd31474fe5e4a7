package macvlan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ensureParentLocked makes sure the network's parent exists: an existing
// interface is checked and used as it is; a missing IF.VID is created as
// an 802.1q sub-interface of IF; a network without a parent gets a veth
// pair of its own. Parents patchbay makes carry the alias of a network
// using them, so the engine's sweep keeps them while one exists. The
// returned undo removes what this call created.
func (d *Driver) ensureParentLocked(h driver.Host, st netState) (undo func(), err error) {
	nothing := func() {}
	if ownParent(st.nw, st.o) {
		return ensureOwnParent(h, st)
	}
	l, err := h.Handle.LinkByName(st.parent)
	switch {
	case err == nil:
		if owned(h, l) {
			// Made by patchbay for another network (or before a
			// restart): name a network that exists now.
			if err := retag(h, l, st.nw.ID); err != nil {
				return nil, err
			}
			if isEmulatedVLAN(l) {
				if err := assertEmulatedVLAN(h, st.o, l); err != nil {
					return nil, err
				}
			}
			return nothing, h.Handle.LinkSetUp(l)
		}
		return nothing, usableParent(h, l, st.parent)
	case !nl.IsNotFound(err):
		return nil, fmt.Errorf("look up parent %s: %w", st.parent, err)
	case st.o.VLAN == 0:
		return nil, cnm.Invalid("parent interface %s not found", st.parent)
	}
	base, err := h.Handle.LinkByName(st.o.Base)
	if nl.IsNotFound(err) {
		return nil, cnm.Invalid("parent interface %s not found, nor %s to make VLAN %d on", st.parent, st.o.Base, st.o.VLAN)
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", st.o.Base, err)
	}
	if err := usableParent(h, base, st.o.Base); err != nil {
		return nil, err
	}
	return createVLAN(h, st, base)
}

// owned reports whether a link carries this engine's network tag.
func owned(h driver.Host, l netlink.Link) bool {
	return strings.HasPrefix(l.Attrs().Alias, h.Tag+"net:")
}

func retag(h driver.Host, l netlink.Link, id string) error {
	if l.Attrs().Alias == netTag(h, id) {
		return nil
	}
	if err := h.Handle.LinkSetAlias(l, netTag(h, id)); err != nil {
		return fmt.Errorf("tag %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// usableParent refuses interfaces a macvlan cannot or must not sit on.
func usableParent(h driver.Host, l netlink.Link, name string) error {
	a := l.Attrs()
	if a.Flags&unix.IFF_LOOPBACK != 0 || a.EncapType != "ether" {
		return cnm.Invalid("parent %s is not an Ethernet interface (%s)", name, a.EncapType)
	}
	if a.MasterIndex != 0 {
		master := fmt.Sprint(a.MasterIndex)
		if m, err := h.Handle.LinkByIndex(a.MasterIndex); err == nil {
			master = m.Attrs().Name
		}
		return cnm.Invalid("parent %s is enslaved to %s: use %s itself, or an interface no bridge or bond holds", name, master, master)
	}
	return nil
}

// ownPeer is the other end of a network's own parent.
func ownPeer(st netState) string { return "pbn" + st.nw.ID[:12] }

// ensureOwnParent makes the parent of a network without one: a veth pair
// kept in the host namespace, both ends up so the parent has a carrier.
// Its macvlans reach each other (bridge mode) and nothing else. (A
// dummy interface would do, but not every kernel has one.)
func ensureOwnParent(h driver.Host, st netState) (func(), error) {
	nothing := func() {}
	tag := netTag(h, st.nw.ID)
	if l, err := h.Handle.LinkByName(st.parent); err == nil {
		if l.Attrs().Alias != tag {
			return nil, cnm.Conflict("create parent %s: an interface of that name exists and is not this network's", st.parent)
		}
		for _, name := range []string{st.parent, ownPeer(st)} {
			if l, err := h.Handle.LinkByName(name); err == nil {
				if err := h.Handle.LinkSetUp(l); err != nil {
					return nil, fmt.Errorf("set %s up: %w", name, err)
				}
			}
		}
		return nothing, nil
	}
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: st.parent, TxQLen: -1, MTU: st.o.MTU},
		PeerName:  ownPeer(st),
	}
	if err := h.Handle.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create parent %s: %w", st.parent, err)
	}
	undo := func() { _ = h.Handle.LinkDel(veth) }
	for _, name := range []string{st.parent, ownPeer(st)} {
		l, err := h.Handle.LinkByName(name)
		if err == nil {
			err = h.Handle.LinkSetAlias(l, tag)
		}
		if err == nil {
			err = h.Handle.LinkSetIP6AddrGenMode(l, nl.AddrGenModeNone)
		}
		if err == nil {
			err = h.Handle.LinkSetUp(l)
		}
		if err != nil {
			undo()
			return nil, fmt.Errorf("set up parent %s: %w", name, err)
		}
	}
	return undo, nil
}

// createVLAN makes the 802.1q sub-interface st.parent on base: a kernel
// VLAN device, or where the kernel has no 802.1q support, an emulated
// one (see vlan.go).
func createVLAN(h driver.Host, st netState, base netlink.Link) (func(), error) {
	vl := &netlink.Vlan{
		LinkAttrs: netlink.LinkAttrs{Name: st.parent, ParentIndex: base.Attrs().Index, TxQLen: -1},
		VlanId:    st.o.VLAN, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q,
	}
	var link netlink.Link = vl
	err := h.Handle.LinkAdd(vl)
	if errors.Is(err, unix.EOPNOTSUPP) {
		link, err = createEmulatedVLAN(h, st.o, base)
	} else if err != nil {
		err = fmt.Errorf("create VLAN interface %s: %w", st.parent, err)
	}
	if err != nil {
		return nil, err
	}
	undo := func() { _ = deleteVLAN(h, st.o, link) }
	if err := retag(h, link, st.nw.ID); err != nil {
		undo()
		return nil, err
	}
	if err := h.Handle.LinkSetIP6AddrGenMode(link, nl.AddrGenModeNone); err != nil {
		undo()
		return nil, fmt.Errorf("set addrgenmode of %s: %w", st.parent, err)
	}
	if err := h.Handle.LinkSetUp(link); err != nil {
		undo()
		return nil, fmt.Errorf("set %s up: %w", st.parent, err)
	}
	return undo, nil
}

// deleteVLAN removes a VLAN sub-interface patchbay made.
func deleteVLAN(h driver.Host, o Options, l netlink.Link) error {
	if isEmulatedVLAN(l) {
		return deleteEmulatedVLAN(h, o, l)
	}
	if err := h.Handle.LinkDel(l); err != nil && !nl.IsNotFound(err) {
		return fmt.Errorf("delete VLAN interface %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// releaseParentLocked removes a parent patchbay made once no network
// uses it, or hands its tag to a network that still does.
func (d *Driver) releaseParentLocked(h driver.Host, st netState) error {
	l, err := h.Handle.LinkByName(st.parent)
	if nl.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up parent %s: %w", st.parent, err)
	}
	if !owned(h, l) {
		return nil // the administrator's: never touched
	}
	if users := d.usersLocked(st.parent, st.nw.ID); len(users) > 0 {
		return retag(h, l, users[0])
	}
	if l.Attrs().Alias != netTag(h, st.nw.ID) {
		// Tagged for a network this driver does not know: leave it to
		// the engine's sweep, which knows every record.
		return nil
	}
	if ownParent(st.nw, st.o) {
		if err := h.Handle.LinkDel(l); err != nil && !nl.IsNotFound(err) {
			return fmt.Errorf("delete parent %s: %w", st.parent, err)
		}
		return nil
	}
	return deleteVLAN(h, st.o, l)
}
