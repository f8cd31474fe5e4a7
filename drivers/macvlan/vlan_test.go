package macvlan

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// lanVLAN gives the LAN side an interface on VLAN vid of lan0 with addr:
// a VLAN-aware LAN host. It is made by the same code as the host's (a
// kernel VLAN device, else the emulation); the capture in TestMacvlanVLAN checks
// the wire between them independently.
func (l *lab) lanVLAN(vid int, addr netip.Prefix) {
	l.t.Helper()
	name := "lan0." + itoa(vid)
	st := netState{nw: driver.Network{ID: randomID()}, o: Options{Parent: name, Base: "lan0", VLAN: vid}, parent: name}
	h := driver.Host{NS: l.lanNS, Handle: l.lanH, Tag: "pb:lanside:"}
	base, err := l.lanH.LinkByName("lan0")
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := createVLAN(h, st, base); err != nil {
		l.t.Fatalf("LAN side VLAN %d: %v", vid, err)
	}
	l.up(l.lanH, name, addr)
}

func itoa(i int) string { return netip.AddrFrom4([4]byte{0, 0, 0, byte(i)}).String()[6:] }

// frame is one frame seen on the wire: source MAC and 802.1q VLAN id
// (0: untagged).
type frame struct {
	src  string
	vlan int
}

// capture records frames arriving at the LAN side's lan0 until stop.
func (l *lab) capture() (stop func() []frame) {
	l.t.Helper()
	var fd int
	err := nl.InNetns(l.lanNS, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		return err
	})
	if err != nil {
		l.t.Fatalf("packet socket: %v", err)
	}
	lan0, _ := l.lanH.LinkByName("lan0")
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: lan0.Attrs().Index}); err != nil {
		l.t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		l.t.Fatal(err)
	}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	var mu sync.Mutex
	var frames []frame
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 2048)
		oob := make([]byte, 256)
		for {
			// Stop only once the queue is drained (a read times out):
			// on a busy machine this goroutine may lag the traffic.
			n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil {
				select {
				case <-done:
					return
				default:
					continue
				}
			}
			if n < 14 {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			f := frame{src: macString(buf[6:12])}
			if binary.BigEndian.Uint16(buf[12:14]) == unix.ETH_P_8021Q && n >= 16 {
				f.vlan = int(binary.BigEndian.Uint16(buf[14:16]) & 0xfff)
			}
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
					aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
					if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
						f.vlan = int(aux.Vlan_tci & 0xfff)
					}
				}
			}
			mu.Lock()
			frames = append(frames, f)
			mu.Unlock()
		}
	}()
	return func() []frame {
		close(done)
		<-stopped
		unix.Close(fd)
		mu.Lock()
		defer mu.Unlock()
		return frames
	}
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func macString(b []byte) string {
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 17)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}

// TestMacvlanVLAN: parent=eth1.20 makes the VLAN interface, the container's
// frames cross the wire tagged 20 and reach a VLAN-aware LAN host; the
// interface is shared by the networks on VLAN 20, outlives the first of
// them, goes with the last, and survives a driver restart.
func TestMacvlanVLAN(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	nw := l.mustNetwork("v20", false, "10.78.0.0/24", "parent=eth1.20")
	vl, err := l.host.Handle.LinkByName("eth1.20")
	if err != nil {
		t.Fatalf("eth1.20 not created: %v", err)
	}
	t.Logf("eth1.20 is a %s device (kernel 802.1q: %v)", vl.Type(), vl.Type() == "vlan")
	if vl.Attrs().Alias != netTag(l.host, nw.ID) {
		t.Errorf("eth1.20 alias %q, want the network's tag", vl.Attrs().Alias)
	}
	l.lanVLAN(20, netip.MustParsePrefix("10.78.0.1/24"))
	a := l.mustJoin(nw, "a", "10.78.0.10/24")
	stop := l.capture()
	expectPing(t, "VLAN 20 LAN host → a", l.lan, netip.MustParseAddr("10.78.0.10"), true)
	expectPing(t, "a → VLAN 20 LAN host", a.path, netip.MustParseAddr("10.78.0.1"), true)
	time.Sleep(50 * time.Millisecond)
	frames := stop()
	var tagged, untagged int
	for _, f := range frames {
		if f.src == a.ep.MAC.String() {
			if f.vlan == 20 {
				tagged++
			} else {
				untagged++
			}
		}
	}
	if tagged == 0 || untagged > 0 {
		t.Errorf("frames from a on the wire: %d tagged 20, %d not (of %d captured); want all tagged", tagged, untagged, len(frames))
	}
	if got := neighMAC(t, l.lanH, netip.MustParseAddr("10.78.0.10")); got != a.ep.MAC.String() {
		t.Errorf("LAN neighbour entry for a: %q, want %s", got, a.ep.MAC)
	}
	// The untagged LAN is another segment: a is not on it.
	expectPing(t, "a → untagged LAN host", a.path, lanAddr.Addr(), false)

	// Same VLAN, overlapping subnet: refused. Another VLAN may reuse it.
	if _, err := l.network("v20b", false, "10.78.0.128/25", "parent=eth1.20"); !errors.Is(err, cnm.ErrConflict) {
		t.Errorf("overlapping subnet on eth1.20: %v, want a conflict", err)
	}
	nw30, err := l.network("v30", false, "10.78.0.0/24", "parent=eth1.30")
	if err != nil {
		t.Errorf("same subnet on VLAN 30: %v", err)
	}
	// A driver restart re-asserts, and traffic still flows.
	l.d = New()
	for _, n := range []driver.Network{nw, nw30} {
		if _, err := l.d.CreateNetwork(ctx, l.host, n); err != nil {
			t.Fatalf("re-assert %s: %v", n.Name, err)
		}
	}
	if !l.d.EndpointOKIn(ctx, l.host, nw, a.ep, a.sb) {
		t.Error("endpoint not intact after a driver restart")
	}
	expectPing(t, "after restart: VLAN 20 LAN host → a", l.lan, netip.MustParseAddr("10.78.0.10"), true)

	second := l.mustNetwork("v20c", false, "10.79.0.0/24", "parent=eth1.20")
	if err := l.d.DeleteNetwork(ctx, l.host, nw); err != nil {
		t.Fatal(err)
	}
	vl, err = l.host.Handle.LinkByName("eth1.20")
	if err != nil {
		t.Fatal("eth1.20 removed while network v20c still uses it")
	}
	if vl.Attrs().Alias != netTag(l.host, second.ID) {
		t.Errorf("eth1.20 alias %q after v20 went, want v20c's tag", vl.Attrs().Alias)
	}
	for _, n := range []driver.Network{second, nw30} {
		if err := l.d.DeleteNetwork(ctx, l.host, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"eth1.20", "eth1.30"} {
		if linkExists(l.host.Handle, name) {
			t.Errorf("%s left after its last network went: %s", name, linkNames(t, l.host.Handle))
		}
	}
	checkNoTC(t, l.host.Handle, "eth1")
}

// checkNoTC fails if a link still has tc filters or a clsact qdisc.
func checkNoTC(t *testing.T, h *netlink.Handle, name string) {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := h.FilterList(link, netlink.HANDLE_MIN_INGRESS)
	qs, _ := h.QdiscList(link)
	for _, q := range qs {
		if q.Type() == "clsact" {
			t.Errorf("%s still has a clsact qdisc (%d ingress filters)", name, len(fs))
		}
	}
}

// TestMacvlanVLANExisting: an existing interface named like a VLAN is used as it
// is and never removed.
func TestMacvlanVLANExisting(t *testing.T) {
	l := newLab(t)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1.40", TxQLen: -1}, PeerName: "x40"}
	if err := l.host.Handle.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	nw := l.mustNetwork("v40", false, "10.40.0.0/24", "parent=eth1.40")
	if err := l.d.DeleteNetwork(context.Background(), l.host, nw); err != nil {
		t.Fatal(err)
	}
	if !linkExists(l.host.Handle, "eth1.40") {
		t.Error("an existing eth1.40 was removed with the network")
	}
	checkNoTC(t, l.host.Handle, "eth1")
}
