package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/sandbox"
)

// kernelOverlay builds, beside patchbay's overlay, the same data path by
// hand between the lab's first two hosts: on each a bridge and a VXLAN
// device (VNI 4242, UDP port 4790, learning off, static forwarding and
// neighbour entries) and a namespace on a veth port, addressed
// 10.99.0.1 and 10.99.0.2, the MTU the underlay's less 50. It returns
// the two namespaces; iperf3 between them is the kernel's own overlay
// throughput, the floor patchbay's data path can reach on this machine.
func kernelOverlay(b *testing.B, l *lab) (ns [2]string) {
	b.Helper()
	hosts := l.u.Hosts[:2]
	run := func(netns string, args ...string) string {
		b.Helper()
		out, err := exec.Command("nsenter", append([]string{"--net=" + netns, "--"}, args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	up, err := hosts[0].Handle.LinkByName(netnstest.UnderlayLink)
	if err != nil {
		b.Fatal(err)
	}
	mtu := fmt.Sprint(up.Attrs().MTU - 50)
	var macs [2]string
	for i, h := range hosts {
		ns[i] = filepath.Join(b.TempDir(), fmt.Sprintf("floor%d", i))
		if err := sandbox.CreateNetns(ns[i]); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sandbox.RemoveNetns(ns[i]) })
		in := func(args ...string) { run(h.Path, args...) }
		in("ip", "link", "add", "pbfx", "type", "vxlan", "id", "4242", "dstport", "4790", "local", h.Addr.Addr().String(), "nolearning")
		in("ip", "link", "add", "pbfb", "mtu", mtu, "type", "bridge")
		in("ip", "link", "set", "pbfx", "mtu", mtu, "master", "pbfb", "up")
		in("ip", "link", "set", "pbfb", "up")
		in("ip", "link", "add", "pbfv", "mtu", mtu, "type", "veth", "peer", "name", "eth0", "mtu", mtu, "netns", ns[i])
		in("ip", "link", "set", "pbfv", "master", "pbfb", "up")
		b.Cleanup(func() {
			for _, dev := range []string{"pbfv", "pbfx", "pbfb"} {
				_ = exec.Command("nsenter", "--net="+h.Path, "--", "ip", "link", "del", dev).Run()
			}
		})
		sb := func(args ...string) string { return run(ns[i], args...) }
		sb("ip", "addr", "add", fmt.Sprintf("10.99.0.%d/24", i+1), "dev", "eth0")
		sb("ip", "link", "set", "eth0", "up")
		sb("ip", "link", "set", "lo", "up")
		_, nh := netnstest.Open(b, ns[i])
		eth0, err := nh.LinkByName("eth0")
		if err != nil {
			b.Fatal(err)
		}
		macs[i] = eth0.Attrs().HardwareAddr.String()
	}
	for i, h := range hosts {
		o := 1 - i
		run(h.Path, "bridge", "fdb", "add", macs[o], "dev", "pbfx", "dst", hosts[o].Addr.Addr().String(), "self", "permanent")
		run(ns[i], "ip", "neigh", "add", fmt.Sprintf("10.99.0.%d", o+1), "lladdr", macs[o], "dev", "eth0", "nud", "permanent")
	}
	return ns
}

// median is the middle of xs (the mean of the two middle ones for an
// even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
