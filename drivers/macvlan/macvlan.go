// Package macvlan is the macvlan network driver: each endpoint is a
// macvlan sub-interface of a parent interface of the host, with a MAC and
// addresses of its own, created directly inside the sandbox, so
// containers sit on the parent's LAN without a bridge or NAT. It handles
// the four macvlan modes, 802.1q parents (IF.VID, created when missing),
// networks on a parent of their own (no parent or --internal), and an
// optional host shim through which the host reaches its containers.
package macvlan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/ipam"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Driver is the macvlan driver. It remembers the networks the engine
// created or restored through it (copies, keyed by ID), because networks
// share parents: a parent patchbay made goes with the last network on it,
// and two networks on one parent must not overlap.
type Driver struct {
	// mu guards nets and evicted, and serialises parent creation and
	// removal.
	mu   sync.Mutex
	nets map[string]netState
	// evicted are interfaces that left live sandboxes, by endpoint ID,
	// waiting for Leave to delete them (see Evict).
	evicted map[string]eviction
}

// eviction is a retired interface and the sandbox namespace it is in (a
// descriptor of its own, closed when the interface is deleted).
type eviction struct {
	ns     netns.NsHandle
	name   string
	parent string
}

// netState is what the driver knows of one of its networks.
type netState struct {
	nw     driver.Network
	o      Options
	parent string // the parent interface endpoints are made on
}

// New returns the macvlan driver.
func New() *Driver { return &Driver{nets: map[string]netState{}, evicted: map[string]eviction{}} }

// Type implements driver.Driver.
func (*Driver) Type() string { return "macvlan" }

// Capabilities implements driver.Driver.
func (*Driver) Capabilities(context.Context) (driver.Capability, error) {
	return driver.Capability{DataScope: driver.ScopeLocal, ConnectivityScope: driver.ScopeLocal, NeedsNamespace: true, Connectable: true, External: true}, nil
}

// ParseOptions implements driver.Driver: the decoded value is an Options.
func (*Driver) ParseOptions(opts map[string]string) (any, error) {
	return ParseOptions(opts)
}

// options returns the network's decoded options.
func options(nw driver.Network) (Options, error) { return driver.Decoded(nw, ParseOptions) }

// Sweep implements driver.Sweeper.
func (*Driver) Sweep(ctx context.Context, h driver.Host, known driver.Known) error {
	return nl.SweepTagged(h.Handle, h.Tag, known.Networks, known.Endpoints)
}

var _ driver.Sweeper = (*Driver)(nil)

// CreateEndpoint implements driver.Driver: the engine's MAC and addresses
// are taken as they are, and the macvlan is made in Join, directly inside
// the sandbox.
func (*Driver) CreateEndpoint(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) (driver.EndpointResult, error) {
	if err := driver.AcceptEndpoint(ctx, "macvlan", ep); err != nil {
		return driver.EndpointResult{}, err
	}
	return driver.EndpointResult{}, nil
}

func netTag(h driver.Host, id string) string { return h.Tag + "net:" + id }
func epTag(h driver.Host, id string) string  { return h.Tag + "ep:" + id }

// ownParent reports whether the network gets a parent of its own.
func ownParent(nw driver.Network, o Options) bool { return o.Parent == "" || nw.Internal }

// ParentName is the interface a network's endpoints are made on: the
// parent option, or the veth end patchbay makes for a network without
// one.
func ParentName(nw driver.Network, o Options) string {
	if ownParent(nw, o) {
		return "pbm" + nw.ID[:12]
	}
	return o.Parent
}

// ShimName is the host's shim of a network with host_access.
func ShimName(nw driver.Network) string { return "pbh" + nw.ID[:12] }

// CreateNetwork checks the network against the driver's other networks
// on the same parent, then makes or re-asserts its parent (a VLAN
// sub-interface or a parent of its own) and its host shim. Nothing is
// left behind when it fails.
func (d *Driver) CreateNetwork(ctx context.Context, h driver.Host, nw driver.Network) (driver.NetworkResult, error) {
	if err := ctx.Err(); err != nil {
		return driver.NetworkResult{}, err
	}
	return driver.NetworkResult{}, d.createNetwork(h, nw)
}

func (d *Driver) createNetwork(h driver.Host, nw driver.Network) (retErr error) {
	o, err := options(nw)
	if err != nil {
		return err
	}
	if nw.Internal && o.Parent != "" {
		return cnm.Invalid("an internal macvlan network gets a parent of its own: drop -o parent=%s or --internal", o.Parent)
	}
	st := netState{nw: nw, o: o, parent: ParentName(nw, o)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkSharedLocked(st); err != nil {
		return err
	}
	undo, err := d.ensureParentLocked(h, st)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			undo()
		}
	}()
	if o.HostAccess {
		if err := ensureShim(h, st); err != nil {
			return err
		}
	}
	d.nets[nw.ID] = st
	return nil
}

// checkSharedLocked refuses a network that cannot share its parent with
// the driver's other networks: passthru gives the parent to one endpoint
// of one network, and subnets on one parent (one LAN segment) must not
// overlap.
func (d *Driver) checkSharedLocked(st netState) error {
	for _, id := range slices.Sorted(maps.Keys(d.nets)) {
		o := d.nets[id]
		if id == st.nw.ID || o.parent != st.parent {
			continue
		}
		if o.o.Mode == ModePassthru || st.o.Mode == ModePassthru {
			return cnm.Conflict("parent %s is already used by macvlan network %s; a passthru network needs its parent to itself", st.parent, o.nw.Name)
		}
		for _, a := range st.nw.Subnets {
			for _, b := range o.nw.Subnets {
				if ipam.Overlaps(a.Prefix, b.Prefix) {
					return cnm.Conflict("subnet %s overlaps subnet %s of macvlan network %s on parent %s", a.Prefix, b.Prefix, o.nw.Name, st.parent)
				}
			}
		}
	}
	return nil
}

// usersLocked lists the other networks on a parent.
func (d *Driver) usersLocked(parent, except string) []string {
	var ids []string
	for id, st := range d.nets {
		if id != except && st.parent == parent {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// DeleteNetwork removes the network's shim, and its parent if patchbay
// made it and no other network uses it.
func (d *Driver) DeleteNetwork(ctx context.Context, h driver.Host, nw driver.Network) error {
	o, err := options(nw)
	if err != nil {
		return err
	}
	st := netState{nw: nw, o: o, parent: ParentName(nw, o)}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.nets, nw.ID)
	var errs []error
	if l, err := h.Handle.LinkByName(ShimName(nw)); err == nil && l.Attrs().Alias == netTag(h, nw.ID) {
		if err := h.Handle.LinkDel(l); err != nil && !nl.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete shim %s: %w", ShimName(nw), err))
		}
	}
	errs = append(errs, d.releaseParentLocked(h, st))
	return errors.Join(errs...)
}

// Join creates the endpoint's macvlan on the network's parent directly
// inside the sandbox, under its final name, with its MAC, addresses and
// MTU, and brings it up.
func (d *Driver) Join(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) (_ driver.JoinInfo, retErr error) {
	if err := ctx.Err(); err != nil {
		return driver.JoinInfo{}, err
	}
	o, err := options(nw)
	if err != nil {
		return driver.JoinInfo{}, err
	}
	pname := ParentName(nw, o)
	parent, err := h.Handle.LinkByName(pname)
	if err != nil {
		return driver.JoinInfo{}, fmt.Errorf("look up parent %s: %w", pname, err)
	}
	if o.Mode == ModePassthru {
		// An endpoint that left may still wait for the reaper; in
		// passthru mode it would hold the parent.
		d.reapEvictedOn(pname)
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{
			Name: ep.IfName, ParentIndex: parent.Attrs().Index, HardwareAddr: ep.MAC,
			MTU: o.MTU, TxQLen: -1,
		},
		Mode: o.kernelMode(),
	}
	if !sb.InPlace() {
		// The caller moves it in: leave it in the host namespace.
		return d.joinOutside(h, nw, o, mv, ep)
	}
	mv.Namespace = netlink.NsFd(sb.NS)
	if err := h.Handle.LinkAdd(mv); err != nil {
		return driver.JoinInfo{}, joinError(err, nw, o, pname, ep)
	}
	link, err := sb.Handle.LinkByName(ep.IfName)
	if err != nil {
		return driver.JoinInfo{}, fmt.Errorf("find %s in sandbox: %w", ep.IfName, err)
	}
	defer func() {
		if retErr != nil {
			_ = sb.Handle.LinkDel(link)
		}
	}()
	// The tag names the endpoint wherever the interface ends up.
	if err := sb.Handle.LinkSetAlias(link, epTag(h, ep.ID)); err != nil {
		return driver.JoinInfo{}, fmt.Errorf("tag %s: %w", ep.IfName, err)
	}
	if err := nl.BringUpEndpoint(sb.Handle, link, ep.IPv4, ep.IPv6); err != nil {
		return driver.JoinInfo{}, err
	}
	var info driver.JoinInfo
	if o.Mode == ModePassthru {
		// The kernel gives a passthru macvlan its parent's MAC.
		info.MAC = link.Attrs().HardwareAddr
	}
	if ownParent(nw, o) {
		return info, nil // no router behind a parent of its own
	}
	gw := driver.Gateways(nw, ep)
	info.Gateway4, info.Gateway6 = gw.Gateway4, gw.Gateway6
	return info, nil
}

// joinOutside makes the endpoint's macvlan in the host namespace under a
// temporary name and returns it for the caller to move into the sandbox.
func (d *Driver) joinOutside(h driver.Host, nw driver.Network, o Options, mv *netlink.Macvlan, ep driver.Endpoint) (driver.JoinInfo, error) {
	mv.Name = "pbc" + ep.ID[:11]
	if err := h.Handle.LinkAdd(mv); err != nil {
		return driver.JoinInfo{}, joinError(err, nw, o, ParentName(nw, o), ep)
	}
	if err := h.Handle.LinkSetAlias(mv, epTag(h, ep.ID)); err != nil {
		_ = h.Handle.LinkDel(mv)
		return driver.JoinInfo{}, fmt.Errorf("tag %s: %w", mv.Name, err)
	}
	info := driver.JoinInfo{Interface: &driver.Move{SrcName: mv.Name, DstPrefix: "eth"}}
	if !ownParent(nw, o) {
		gw := driver.Gateways(nw, ep)
		info.Gateway4, info.Gateway6 = gw.Gateway4, gw.Gateway6
	}
	return info, nil
}

// joinError explains why the kernel refused a macvlan.
func joinError(err error, nw driver.Network, o Options, parent string, ep driver.Endpoint) error {
	switch {
	case errors.Is(err, unix.EINVAL) && o.Mode == ModePassthru:
		return cnm.Conflict("macvlan network %s is in passthru mode and parent %s already has its one endpoint", nw.Name, parent)
	case errors.Is(err, unix.EINVAL):
		return cnm.Conflict("create macvlan on %s: %v (is the parent in passthru mode for another user?)", parent, err)
	case errors.Is(err, unix.EADDRINUSE):
		return cnm.Conflict("MAC address %s is already used by another macvlan on parent %s", ep.MAC, parent)
	}
	return fmt.Errorf("create macvlan %s on %s: %w", ep.IfName, parent, err)
}

// retiredName is the name of an endpoint's interface after it left a
// sandbox that stays (see the engine's retire).
func retiredName(ep driver.Endpoint) string { return "gone" + ep.ID[:11] }

// Evict takes the interface of an endpoint that leaves a live sandbox
// out of service — its addresses removed, renamed out of the way, left
// up — and keeps a descriptor of the sandbox namespace so Leave, run by
// the engine's reaper off the request path, deletes it there. Taking a
// macvlan down costs the kernel an RCU grace period (~14 ms), deleting
// it more; renaming a live interface costs nothing on kernels that allow
// it (older ones refuse with EBUSY, and then it goes down first).
// After a crash in between, the engine's restore removes the interface
// as one no endpoint explains.
func (d *Driver) Evict(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) error {
	l, err := sb.Handle.LinkByName(ep.IfName)
	if nl.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", ep.IfName, err)
	}
	addrs, err := sb.Handle.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", ep.IfName, err)
	}
	for _, a := range addrs {
		if err := sb.Handle.AddrDel(l, &a); err != nil && !nl.IsNotFound(err) && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove address %s from %s: %w", a.IPNet, ep.IfName, err)
		}
	}
	gone := retiredName(ep)
	if err := sb.Handle.LinkSetName(l, gone); errors.Is(err, unix.EBUSY) {
		if err := sb.Handle.LinkSetDown(l); err != nil {
			return fmt.Errorf("set %s down: %w", ep.IfName, err)
		}
		err = sb.Handle.LinkSetName(l, gone)
		if err != nil {
			return fmt.Errorf("rename %s: %w", ep.IfName, err)
		}
	} else if err != nil {
		return fmt.Errorf("rename %s: %w", ep.IfName, err)
	}
	fd, err := unix.FcntlInt(uintptr(sb.NS), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		// No descriptor to keep: delete it now.
		if err := sb.Handle.LinkDel(l); err != nil && !nl.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", ep.IfName, err)
		}
		return nil
	}
	o, _ := options(nw)
	d.mu.Lock()
	d.evicted[ep.ID] = eviction{ns: netns.NsHandle(fd), name: gone, parent: ParentName(nw, o)}
	d.mu.Unlock()
	return nil
}

var _ driver.Evicter = (*Driver)(nil)

// Leave implements driver.Driver: an endpoint leaving a sandbox that
// stays was evicted first (see Evict); one in a sandbox that goes goes
// with the sandbox namespace.
func (d *Driver) Leave(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	return nil
}

// DeleteEndpoint deletes an evicted interface, or one left in the host
// namespace for a caller that never moved it.
func (d *Driver) DeleteEndpoint(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint) error {
	if l, err := h.Handle.LinkByName("pbc" + ep.ID[:min(11, len(ep.ID))]); err == nil && l.Attrs().Alias == epTag(h, ep.ID) {
		_ = h.Handle.LinkDel(l)
	}
	d.mu.Lock()
	ev, ok := d.evicted[ep.ID]
	delete(d.evicted, ep.ID)
	d.mu.Unlock()
	if !ok {
		return nil
	}
	return ev.remove()
}

// remove deletes the evicted interface and closes the namespace.
func (ev eviction) remove() error {
	defer ev.ns.Close()
	h, err := netlink.NewHandleAt(ev.ns)
	if err != nil {
		return fmt.Errorf("open netlink in sandbox: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(ev.name)
	if nl.IsNotFound(err) {
		return nil
	}
	if err == nil {
		err = h.LinkDel(l)
	}
	if err != nil && !nl.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", ev.name, err)
	}
	return nil
}

// reapEvictedOn deletes, now, the evicted interfaces still on a parent:
// in passthru mode one would hold it.
func (d *Driver) reapEvictedOn(parent string) {
	d.mu.Lock()
	var evs []eviction
	for id, ev := range d.evicted {
		if ev.parent == parent {
			evs = append(evs, ev)
			delete(d.evicted, id)
		}
	}
	d.mu.Unlock()
	for _, ev := range evs {
		_ = ev.remove()
	}
}

// EndpointOKIn reports whether the endpoint's macvlan is in the sandbox
// with its mode and MAC. A macvlan whose parent was deleted is deleted
// with it, so one that exists still has its parent.
func (d *Driver) EndpointOKIn(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) bool {
	o, err := options(nw)
	if err != nil {
		return false
	}
	l, err := sb.Handle.LinkByName(ep.IfName)
	if err != nil {
		return false
	}
	mv, ok := l.(*netlink.Macvlan)
	if !ok || mv.Mode != o.kernelMode() || mv.Attrs().Alias != epTag(h, ep.ID) {
		return false
	}
	return o.Mode == ModePassthru || mv.Attrs().HardwareAddr.String() == ep.MAC.String()
}

var _ driver.SandboxChecker = (*Driver)(nil)
