package firewall

// A run of published ports is one interval element of a DNAT map: host
// ports [hostLo, hostHi] go to the same number of consecutive ports from
// first. nftables cannot add an offset to a port, but the kernel's NAT can
// when its range carries NF_NAT_RANGE_PROTO_OFFSET (patchbay's DNAT rules
// always do, see rawnat.go): it then picks port lo + (dport mod size) from
// the range [lo, lo+size-1] the map returns. So a run is expressed by a
// window: a size such that the whole run lies in one block of that size
// (dport mod size grows by one with dport across the run), and lo chosen
// so that the run's first host port lands on first. A single port is the
// window of size 1: [first, first].

// window is one DNAT map element: host ports hostLo..hostHi go to
// lo + (port mod (hi-lo+1)).
type window struct {
	hostLo, hostHi uint16
	lo, hi         uint16
}

// windows expresses a run of n ports as few elements as possible, almost
// always one. A run no single window fits is split in two, recursively.
func windows(hostFirst uint16, n int, first uint16) []window {
	if w, ok := fit(int(hostFirst), n, int(first)); ok {
		return []window{w}
	}
	half := n / 2
	return append(windows(hostFirst, half, first),
		windows(hostFirst+uint16(half), n-half, first+uint16(half))...)
}

// fit looks for a block size that holds the run [h, h+n-1] in one block
// and puts the run's first port on c, with the range inside 0–65535.
func fit(h, n, c int) (window, bool) {
	for size := n; size <= 65536; size++ {
		off := h % size // position of the first host port in its block
		if off+n > size {
			continue // the run crosses into the next block
		}
		lo := c - off
		if lo < 0 || lo+size-1 > 65535 {
			continue
		}
		return window{uint16(h), uint16(h + n - 1), uint16(lo), uint16(lo + size - 1)}, true
	}
	return window{}, false
}

// target is the port the kernel picks for host port p in w.
func (w window) target(p uint16) uint16 {
	size := int(w.hi) - int(w.lo) + 1
	return uint16(int(w.lo) + int(p)%size)
}
