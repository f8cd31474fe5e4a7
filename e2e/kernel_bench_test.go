package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
)

// BenchmarkKernelAttach is the floor under BenchmarkEngine's attach: the
// bare kernel sequence of an attach (a new namespace, a veth pair with its
// inner end created inside it, the host end made a bridge port and brought
// up), 1000 times on one bridge in a throwaway namespace, with no engine,
// store or API. How much its last ten grow over its first ten is the
// kernel's (and the machine's) share of the growth BenchmarkEngine reports.
func BenchmarkKernelAttach(b *testing.B) {
	h := netnstest.NewHost(b)
	dir := b.TempDir()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "kbr0", Flags: net.FlagUp}}
	if err := h.Handle.LinkAdd(br); err != nil {
		b.Fatal(err)
	}
	var paths []string
	b.Cleanup(func() {
		for _, p := range paths {
			_ = sandbox.RemoveNetns(p)
		}
	})
	var all latencies
	for i := 0; i < 1000; i++ {
		p := filepath.Join(dir, fmt.Sprintf("ns%04d", i))
		all = append(all, timed(b, func() error {
			if err := sandbox.CreateNetns(p); err != nil {
				return err
			}
			paths = append(paths, p)
			ns, err := sandbox.OpenNetns(p)
			if err != nil {
				return err
			}
			defer ns.Close()
			v := &netlink.Veth{
				LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("kv%04d", i), MasterIndex: br.Index},
				PeerName:  "eth0", PeerNamespace: netlink.NsFd(ns),
			}
			if err := h.Handle.LinkAdd(v); err != nil {
				return err
			}
			return h.Handle.LinkSetUp(v)
		}))
	}
	all[:10].report(b, "kernel-attach-first10")
	all[990:].report(b, "kernel-attach-last10")
	b.ReportMetric(float64(all[990:].pct(0.5))/float64(all[:10].pct(0.5)), "kernel-last10/first10")
}
