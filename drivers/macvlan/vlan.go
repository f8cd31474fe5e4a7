package macvlan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A kernel built without 802.1q support (CONFIG_VLAN_8021Q) cannot make
// VLAN devices. There patchbay emulates the sub-interface IF.VID with a
// veth pair and two small tc programs:
//
//   - IF.VID is one end of the pair; macvlans sit on it as on any parent.
//   - Frames IF.VID sends arrive at the other end ("pbv<vid>-<ifindex>"),
//     whose ingress program pushes an 802.1q tag with VID and redirects
//     them out of IF.
//   - IF's ingress program takes frames tagged VID, pops the tag and
//     redirects them into the other end, so they arrive at IF.VID;
//     everything else goes on as before.
//
// On the wire it is the same as a VLAN device. The programs are loaded
// through bpf(2) and attached with netlink (clsact); no tools are run.

// Instruction encoding of eBPF (linux/bpf.h).
const (
	bpfMov64Reg = 0xbf // dst = src
	bpfMov64Imm = 0xb7 // dst = imm
	bpfAnd64Imm = 0x57 // dst &= imm
	bpfLdxW     = 0x61 // dst = *(u32 *)(src + off)
	bpfJeqImm   = 0x15 // if dst == imm goto +off
	bpfJneImm   = 0x55 // if dst != imm goto +off
	bpfCall     = 0x85
	bpfExit     = 0x95

	helperVlanPush = 18 // bpf_skb_vlan_push
	helperVlanPop  = 19 // bpf_skb_vlan_pop
	helperRedirect = 23 // bpf_redirect

	skbVlanPresent = 20 // offsetof(struct __sk_buff, vlan_present)
	skbVlanTCI     = 24 // offsetof(struct __sk_buff, vlan_tci)

	tcActShot   = 2
	tcActUnspec = -1

	progTypeSchedCls = 3 // BPF_PROG_TYPE_SCHED_CLS

	// vlanFilterPrio is the tc priority of patchbay's VLAN filters on a
	// base interface; each VLAN's filter has the VLAN id as its handle.
	vlanFilterPrio = 0xc0de
)

type insn struct {
	op   uint8
	regs uint8 // src<<4 | dst
	off  int16
	imm  int32
}

func ins(op uint8, dst, src uint8, off int16, imm int32) insn {
	return insn{op: op, regs: src<<4 | dst, off: off, imm: imm}
}

// tagProgram pushes tag vid and redirects out of ifindex.
func tagProgram(vid, ifindex int) []insn {
	var be8021Q [2]byte
	binary.BigEndian.PutUint16(be8021Q[:], unix.ETH_P_8021Q)
	proto := int32(binary.NativeEndian.Uint16(be8021Q[:]))
	return []insn{
		ins(bpfMov64Imm, 2, 0, 0, proto),
		ins(bpfMov64Imm, 3, 0, 0, int32(vid)),
		ins(bpfCall, 0, 0, 0, helperVlanPush), // r1 is still the skb
		ins(bpfJneImm, 0, 0, 4, 0),
		ins(bpfMov64Imm, 1, 0, 0, int32(ifindex)),
		ins(bpfMov64Imm, 2, 0, 0, 0),
		ins(bpfCall, 0, 0, 0, helperRedirect),
		ins(bpfExit, 0, 0, 0, 0),
		ins(bpfMov64Imm, 0, 0, 0, tcActShot),
		ins(bpfExit, 0, 0, 0, 0),
	}
}

// untagProgram takes frames tagged vid, pops the tag and redirects them
// out of ifindex; other frames continue (TC_ACT_UNSPEC).
func untagProgram(vid, ifindex int) []insn {
	return []insn{
		ins(bpfMov64Reg, 6, 1, 0, 0),
		ins(bpfLdxW, 2, 6, skbVlanPresent, 0),
		ins(bpfJeqImm, 2, 0, 12, 0), // → pass
		ins(bpfLdxW, 2, 6, skbVlanTCI, 0),
		ins(bpfAnd64Imm, 2, 0, 0, 0xfff),
		ins(bpfJneImm, 2, 0, 9, int32(vid)), // → pass
		ins(bpfMov64Reg, 1, 6, 0, 0),
		ins(bpfCall, 0, 0, 0, helperVlanPop),
		ins(bpfJneImm, 0, 0, 4, 0), // → drop
		ins(bpfMov64Imm, 1, 0, 0, int32(ifindex)),
		ins(bpfMov64Imm, 2, 0, 0, 0),
		ins(bpfCall, 0, 0, 0, helperRedirect),
		ins(bpfExit, 0, 0, 0, 0),
		ins(bpfMov64Imm, 0, 0, 0, tcActShot), // drop
		ins(bpfExit, 0, 0, 0, 0),
		ins(bpfMov64Imm, 0, 0, 0, tcActUnspec), // pass
		ins(bpfExit, 0, 0, 0, 0),
	}
}

// progLoadAttr is the head of union bpf_attr for BPF_PROG_LOAD.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

// loadProgram loads a tc classifier and returns its file descriptor.
func loadProgram(name string, prog []insn) (int, error) {
	license := []byte("GPL\x00")
	logBuf := make([]byte, 64<<10)
	attr := progLoadAttr{
		progType: progTypeSchedCls,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(logBuf)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
	}
	copy(attr.progName[:15], name)
	// The verifier gives up with EAGAIN when a signal reaches the thread
	// (the Go runtime preempts goroutines with one): try again.
	var fd uintptr
	var errno unix.Errno
	for range 10 {
		fd, _, errno = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno != unix.EAGAIN {
			break
		}
	}
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	runtime.KeepAlive(logBuf)
	if errno != 0 {
		log := string(logBuf[:clen(logBuf)])
		return -1, fmt.Errorf("load tc program %s: %w: %s", name, errno, log)
	}
	return int(fd), nil
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// emulatedPeer is the hidden end of an emulated VLAN interface.
func emulatedPeer(o Options, base netlink.Link) string {
	return fmt.Sprintf("pbv%d-%d", o.VLAN, base.Attrs().Index)
}

// isEmulatedVLAN reports whether a VLAN parent patchbay made is emulated.
func isEmulatedVLAN(l netlink.Link) bool { return l.Type() == "veth" }

// createEmulatedVLAN makes IF.VID as a veth pair with its tc programs.
func createEmulatedVLAN(h driver.Host, o Options, base netlink.Link) (netlink.Link, error) {
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: o.Parent, TxQLen: -1, MTU: base.Attrs().MTU},
		PeerName:  emulatedPeer(o, base),
	}
	if err := h.Handle.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create VLAN interface %s (emulated: the kernel has no 802.1q): %w", o.Parent, err)
	}
	l, err := h.Handle.LinkByName(o.Parent)
	if err == nil {
		err = assertEmulatedVLAN(h, o, l)
	}
	if err != nil {
		_ = deleteEmulatedVLAN(h, o, veth)
		return nil, err
	}
	return l, nil
}

// assertEmulatedVLAN (re)installs the tc programs of an emulated VLAN
// interface l: safe to run again, as restore does.
func assertEmulatedVLAN(h driver.Host, o Options, l netlink.Link) error {
	base, err := h.Handle.LinkByName(o.Base)
	if err != nil {
		return fmt.Errorf("look up %s: %w", o.Base, err)
	}
	peer, err := h.Handle.LinkByName(emulatedPeer(o, base))
	if err != nil {
		return fmt.Errorf("look up the hidden end of %s: %w", o.Parent, err)
	}
	if err := h.Handle.LinkSetAlias(peer, l.Attrs().Alias); err != nil {
		return fmt.Errorf("tag %s: %w", peer.Attrs().Name, err)
	}
	if err := h.Handle.LinkSetIP6AddrGenMode(peer, nl.AddrGenModeNone); err != nil {
		return fmt.Errorf("set addrgenmode of %s: %w", peer.Attrs().Name, err)
	}
	if err := h.Handle.LinkSetUp(peer); err != nil {
		return fmt.Errorf("set %s up: %w", peer.Attrs().Name, err)
	}
	if err := attach(h, peer, 1, "pb_vlan_tag", tagProgram(o.VLAN, base.Attrs().Index)); err != nil {
		return err
	}
	return attach(h, base, uint32(o.VLAN), "pb_vlan_untag", untagProgram(o.VLAN, peer.Attrs().Index))
}

// attach installs prog as the ingress filter of link with the handle.
func attach(h driver.Host, link netlink.Link, handle uint32, name string, prog []insn) error {
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := h.Handle.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact to %s: %w", link.Attrs().Name, err)
	}
	fd, err := loadProgram(name, prog)
	if err != nil {
		return err
	}
	defer unix.Close(fd) // the filter keeps the program
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS,
			Handle: handle, Priority: vlanFilterPrio, Protocol: unix.ETH_P_ALL,
		},
		Fd: fd, Name: name, DirectAction: true,
	}
	if err := h.Handle.FilterReplace(f); err != nil {
		return fmt.Errorf("attach %s to %s: %w", name, link.Attrs().Name, err)
	}
	return nil
}

// deleteEmulatedVLAN removes the veth pair and the base's filter for the
// VLAN, and the base's clsact if nothing else uses it.
func deleteEmulatedVLAN(h driver.Host, o Options, l netlink.Link) error {
	var errs []error
	if err := h.Handle.LinkDel(l); err != nil && !nl.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete VLAN interface %s: %w", o.Parent, err))
	}
	base, err := h.Handle.LinkByName(o.Base)
	if err != nil {
		return errors.Join(errs...)
	}
	f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{
		LinkIndex: base.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS,
		Handle: uint32(o.VLAN), Priority: vlanFilterPrio, Protocol: unix.ETH_P_ALL,
	}}
	if err := h.Handle.FilterDel(f); err != nil && !nl.IsNotFound(err) && !errors.Is(err, unix.EINVAL) {
		errs = append(errs, fmt.Errorf("remove VLAN %d filter from %s: %w", o.VLAN, o.Base, err))
	}
	in, err1 := h.Handle.FilterList(base, netlink.HANDLE_MIN_INGRESS)
	out, err2 := h.Handle.FilterList(base, netlink.HANDLE_MIN_EGRESS)
	if err1 == nil && err2 == nil && len(in) == 0 && len(out) == 0 {
		q := &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: base.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}
		_ = h.Handle.QdiscDel(q)
	}
	return errors.Join(errs...)
}
