package firewall

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Firewall installs one engine's tables in one namespace. Its methods are
// safe for concurrent use; each change is one nftables transaction (txn.go),
// which the kernel applies in full or not at all.
type Firewall struct {
	table string
	log   *slog.Logger
	s     *schema
	ns    netns.NsHandle // kept open by the caller while the firewall lives

	mu sync.Mutex
	// conn reads what is installed. Changes never queue on it: each is a
	// txn of its own, sent on sock.
	conn *nftables.Conn
	sock *netlink.Conn // nil after a failure that may have left replies on it
	// What is installed, re-installed by Watch if lost; maps, so a change
	// costs the same whatever is installed already.
	nets     map[string]Network // by bridge
	mappings map[Mapping]struct{}
}

// New connects to nftables in the namespace ns. name is the tables' name.
func New(ns netns.NsHandle, name string, log *slog.Logger) (*Firewall, error) {
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	f := &Firewall{table: name, log: log, s: newSchema(name), ns: ns, conn: conn,
		nets: map[string]Network{}, mappings: map[Mapping]struct{}{}}
	if f.sock, err = f.dial(); err != nil {
		conn.CloseLasting()
		return nil, err
	}
	return f, nil
}

// dial opens the socket transactions are sent on.
func (f *Firewall) dial() (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(f.ns)})
	if err != nil {
		return nil, fmt.Errorf("netfilter netlink: %w", err)
	}
	if err := bigBuffers(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("netfilter netlink buffers: %w", err)
	}
	return c, nil
}

// commitLocked sends t to the kernel, which applies all of it or, on
// error, none.
func (f *Firewall) commitLocked(t *txn) error {
	body, err := t.messages()
	if err != nil || len(body) == 0 {
		return err
	}
	if f.sock == nil {
		if f.sock, err = f.dial(); err != nil {
			return err
		}
	}
	broken, err := send(f.sock, body)
	if broken {
		f.sock.Close()
		f.sock = nil
	}
	return err
}

// bigBuffers lets one transaction carry tens of thousands of elements (a
// restore with many published ports): it is sent in one write, and its
// acknowledgements come back together.
func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20); serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Table is the name of the firewall's tables.
func (f *Firewall) Table() string { return f.table }

// Close closes the connection. The rules stay, so published ports and
// isolation keep working while the daemon is down.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	if f.sock != nil {
		err = f.sock.Close()
		f.sock = nil
	}
	return errors.Join(err, f.conn.CloseLasting())
}

// Sync installs st in full, in one transaction: it creates whatever is
// missing, replaces patchbay's rules and set contents, and leaves the
// administrator's chain as it is.
func (f *Firewall) Sync(st State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.install(st); err != nil {
		return err
	}
	f.nets, f.mappings = map[string]Network{}, map[Mapping]struct{}{}
	for _, n := range st.Networks {
		f.nets[n.Bridge] = n
	}
	for _, m := range st.Mappings {
		f.mappings[m] = struct{}{}
	}
	return nil
}

func (f *Firewall) install(st State) error {
	els, err := elements(f.s, st)
	if err != nil {
		return err
	}
	s := f.s
	c := newTxn()
	c.AddTable(s.inet)
	for _, ch := range s.chains() {
		c.AddChain(ch)
		// The administrator's chain is never flushed; the publish chain
		// is replaced by publishMessages.
		if ch != s.userFwd && ch != s.publish {
			c.FlushChain(ch)
		}
	}
	for _, set := range s.filterSets() {
		if err := c.AddSet(set, nil); err != nil {
			return fmt.Errorf("nftables set %s: %w", set.Name, err)
		}
		c.FlushSet(set)
		for _, e := range chunks(els[set]) {
			if err := c.SetAddElements(set, e); err != nil {
				return fmt.Errorf("nftables set %s: %w", set.Name, err)
			}
		}
	}
	rules := s.rules()
	for _, ch := range s.chains() {
		for _, r := range rules[ch] {
			c.AddRule(&nftables.Rule{Table: ch.Table, Chain: ch, Exprs: r})
		}
	}
	// The DNAT maps and the rules using them end the same transaction
	// (publish.go).
	if c.raw, err = s.publishMessages(els, f.oldMaps()); err != nil {
		return fmt.Errorf("install nftables tables %s: %w", f.table, err)
	}
	if err := f.commitLocked(c); err != nil {
		return fmt.Errorf("install nftables tables %s: %w", f.table, err)
	}
	return nil
}

// oldMaps returns the DNAT maps of a table left by an older patchbay,
// whose maps had other types (it had no run maps), to be replaced.
func (f *Firewall) oldMaps() []string {
	if _, err := f.conn.GetSetByName(f.s.inet, f.s.run4.Name); err == nil {
		return nil
	}
	var old []string
	for _, set := range []*nftables.Set{f.s.pub4, f.s.pub4any, f.s.pub6, f.s.pub6any} {
		if _, err := f.conn.GetSetByName(f.s.inet, set.Name); err == nil {
			old = append(old, set.Name)
		}
	}
	return old
}

// Update applies a change in one transaction: networks and mappings to
// add, and ones to remove (networks by bridge name). On error nothing
// changed.
func (f *Firewall) Update(addNets []Network, delBridges []string, add, del []Mapping) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var delNets []Network
	for _, b := range delBridges {
		if n, ok := f.nets[b]; ok {
			delNets = append(delNets, n)
		}
	}
	del = slices.DeleteFunc(slices.Clone(del), func(m Mapping) bool { _, ok := f.mappings[m]; return !ok })
	rm, err := elements(f.s, State{Networks: delNets, Mappings: del})
	if err != nil {
		return err
	}
	put, err := elements(f.s, State{Networks: addNets, Mappings: add})
	if err != nil {
		return err
	}
	if err := f.apply(rm, put); err != nil {
		return err
	}
	for _, n := range delNets {
		delete(f.nets, n.Bridge)
	}
	for _, n := range addNets {
		f.nets[n.Bridge] = n
	}
	for _, m := range del {
		delete(f.mappings, m)
	}
	for _, m := range add {
		f.mappings[m] = struct{}{}
	}
	return nil
}

// apply removes the elements rm and adds put, in one transaction.
func (f *Firewall) apply(rm, put map[*nftables.Set][]nftables.SetElement) error {
	t := newTxn()
	for _, set := range f.s.sets() {
		for _, e := range chunks(rm[set]) {
			if err := t.SetDeleteElements(set, e); err != nil {
				return fmt.Errorf("update nftables set %s: %w", set.Name, err)
			}
		}
		for _, e := range chunks(put[set]) {
			if err := t.SetAddElements(set, e); err != nil {
				return fmt.Errorf("update nftables set %s: %w", set.Name, err)
			}
		}
	}
	if err := f.commitLocked(t); err != nil {
		return fmt.Errorf("update nftables tables %s: %w", f.table, err)
	}
	return nil
}

// State returns what the firewall has installed.
func (f *Firewall) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stateLocked()
}

func (f *Firewall) stateLocked() State {
	var st State
	for _, n := range f.nets {
		st.Networks = append(st.Networks, n)
	}
	for m := range f.mappings {
		st.Mappings = append(st.Mappings, m)
	}
	return st
}

// Remove deletes the firewall's table (the administrator's chain with
// it). A missing table is not an error.
func (f *Firewall) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := newTxn()
	t.DelTable(f.s.inet)
	if err := f.commitLocked(t); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nftables table %s: %w", f.table, err)
	}
	f.nets, f.mappings = map[string]Network{}, map[Mapping]struct{}{}
	return nil
}

// intact reports whether every table, chain and rule patchbay installed is
// still there.
func (f *Firewall) intact() bool {
	rules := f.s.rules()
	for _, ch := range f.s.chains() {
		got, err := f.conn.GetRules(ch.Table, ch)
		if err != nil {
			return false
		}
		want := len(rules[ch])
		if ch == f.s.publish {
			want = len(f.s.publishRules())
		}
		if ch != f.s.userFwd && len(got) != want {
			return false
		}
	}
	for _, set := range f.s.sets() {
		if _, err := f.conn.GetSetByName(set.Table, set.Name); err != nil {
			return false
		}
	}
	return true
}

// Watch re-installs everything when someone deletes any of it (a flushed
// ruleset, a deleted table or chain), until ctx ends. It notices through
// nftables events and checks once a second besides, in case an event was
// lost.
func (f *Firewall) Watch(ctx context.Context) {
	mon := nftables.NewMonitor(nftables.WithMonitorAction(nftables.MonitorActionDel))
	var events chan *nftables.MonitorEvent
	// The monitor needs a socket of its own: it reads everything that
	// arrives on it.
	mc, err := nftables.New(nftables.WithNetNSFd(int(f.ns)))
	var ch chan *nftables.MonitorEvent
	if err == nil {
		ch, err = mc.AddMonitor(mon)
	}
	if err != nil {
		f.log.Warn("nftables events unavailable; checking every second", "err", err)
	} else {
		events = ch
		defer mon.Close()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// Let the rest of the transaction's events pass first.
			time.Sleep(50 * time.Millisecond)
			drain(events)
		case <-tick.C:
		}
		f.repair()
	}
}

func drain(ch chan *nftables.MonitorEvent) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// repair re-installs the state if any of it is missing.
func (f *Firewall) repair() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.intact() {
		return
	}
	if err := f.install(f.stateLocked()); err != nil {
		f.log.Error("restore firewall", "table", f.table, "err", err)
		return
	}
	f.log.Warn("firewall rules were removed by someone else; restored them", "table", f.table)
}

// elements encodes a state's contents per set.
func elements(s *schema, st State) (map[*nftables.Set][]nftables.SetElement, error) {
	out := map[*nftables.Set][]nftables.SetElement{}
	add := func(set *nftables.Set, key, val []byte) {
		out[set] = append(out[set], nftables.SetElement{Key: key, Val: val})
	}
	for _, n := range st.Networks {
		if len(n.Bridge) == 0 || len(n.Bridge) > 15 {
			return nil, fmt.Errorf("bad bridge name %q", n.Bridge)
		}
		br := ifnameBytes(n.Bridge)
		add(s.bridges, br, nil)
		if n.ICC {
			add(s.same, append(slices.Clone(br), br...), nil)
		}
		if n.Internal {
			add(s.internal, br, nil)
		} else if n.Masquerade {
			add(s.masq, br, nil)
		}
	}
	self := map[netip.Addr]bool{}
	for _, m := range st.Mappings {
		if a := m.Addr.Unmap(); !self[a] {
			self[a] = true
			set := s.self4
			if a.Is6() {
				set = s.self6
			}
			add(set, append(a.AsSlice(), a.AsSlice()...), nil)
		}
		proto, err := protoNum(m.Proto)
		if err != nil {
			return nil, err
		}
		if !m.Addr.IsValid() || m.HostPort == 0 || m.Port == 0 {
			return nil, fmt.Errorf("incomplete mapping %s", m)
		}
		if m.HostIP.IsValid() && m.HostIP.Unmap().Is4() != m.Addr.Unmap().Is4() {
			return nil, fmt.Errorf("mapping %s mixes IPv4 and IPv6", m)
		}
		v6 := !m.Addr.Unmap().Is4()
		run := m.n() > 1
		var set *nftables.Set
		var prefix []byte
		switch {
		case m.HostIP.IsValid() && v6:
			set, prefix = pick(run, s.pub6, s.run6), m.HostIP.AsSlice()
		case m.HostIP.IsValid():
			set, prefix = pick(run, s.pub4, s.run4), m.HostIP.Unmap().AsSlice()
		case v6:
			set = pick(run, s.pub6any, s.run6any)
		default:
			set = pick(run, s.pub4any, s.run4any)
		}
		if int(m.HostPort)+m.n() > 65536 || int(m.Port)+m.n() > 65536 {
			return nil, fmt.Errorf("mapping %s runs past port 65535", m)
		}
		for _, w := range windows(m.HostPort, m.n(), m.Port) {
			key := func(p uint16) []byte {
				return append(append(slices.Clone(prefix), pad4([]byte{proto})...), pad4(port(p))...)
			}
			a := m.Addr.Unmap().AsSlice()
			e := nftables.SetElement{Key: key(w.hostLo), Val: slices.Concat(a, pad4(port(w.lo)), a, pad4(port(w.hi)))}
			if run {
				e.KeyEnd = key(w.hostHi)
			}
			out[set] = append(out[set], e)
		}
	}
	return out, nil
}

// pick returns the run map for runs, the port map otherwise.
func pick(run bool, port, runs *nftables.Set) *nftables.Set {
	if run {
		return runs
	}
	return port
}

// chunkSize bounds the elements of one set element message: their list is
// one netlink attribute, whose length field has 16 bits.
const chunkSize = 256

// chunks splits elements into messages' worth.
func chunks(els []nftables.SetElement) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	for len(els) > 0 {
		n := min(len(els), chunkSize)
		out = append(out, els[:n])
		els = els[n:]
	}
	return out
}

func ifnameBytes(name string) []byte {
	b := make([]byte, 16)
	copy(b, name)
	return b
}

func port(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }

// pad4 pads a concatenation field to its 4-byte register slot.
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
