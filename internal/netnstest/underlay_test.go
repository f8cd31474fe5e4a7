package netnstest_test

import (
	"net/netip"
	"os/exec"
	"strconv"
	"testing"

	"github.com/patchbay/patchbay/internal/netnstest"
)

// ping sends one ping of size bytes from a namespace; it reports whether
// a reply came.
func ping(t *testing.T, ns string, to netip.Addr, size int) bool {
	t.Helper()
	args := []string{"--net=" + ns, "--", "busybox", "ping", "-c", "1", "-W", "2", "-s", strconv.Itoa(size), to.String()}
	return exec.Command("nsenter", args...).Run() == nil
}

// Hosts reach each other and the bridge over the underlay, whose links
// have its MTU; a cut host is unreachable until restored.
func TestUnderlay(t *testing.T) {
	u := netnstest.NewUnderlay(t, 3, netnstest.UnderlayOptions{MTU: 1400})
	h1, h2, h3 := u.Hosts[0], u.Hosts[1], u.Hosts[2]
	if h2.Addr.String() != "198.51.100.2/24" || h1.Name != "h1" {
		t.Fatalf("host 2 %s %s", h2.Name, h2.Addr)
	}
	// 1400 - 20 (IPv4) - 8 (ICMP) = 1372 bytes of payload fit.
	if !ping(t, h1.Path, h2.Addr.Addr(), 1372) {
		t.Error("h1 cannot reach h2 with a full 1400-byte packet")
	}
	for _, h := range u.Hosts {
		l, err := h.Handle.LinkByName(netnstest.UnderlayLink)
		if err != nil || l.Attrs().MTU != 1400 {
			t.Errorf("%s's underlay link: %v, MTU %d", h.Name, err, l.Attrs().MTU)
		}
	}
	if br, err := u.Handle.LinkByName("br0"); err != nil || br.Attrs().MTU != 1400 {
		t.Errorf("underlay bridge: %v, %+v", err, br)
	}
	if !ping(t, h3.Path, u.Addr, 56) {
		t.Error("h3 cannot reach the underlay bridge")
	}
	// Each host still has its own outside.
	if !ping(t, h2.Path, netnstest.OutsideAddr.Addr(), 56) {
		t.Error("h2 cannot reach its outside namespace")
	}
	h2.Cut(t)
	if ping(t, h1.Path, h2.Addr.Addr(), 56) {
		t.Error("h1 reaches h2 whose link is cut")
	}
	h2.Restore(t)
	if !ping(t, h1.Path, h2.Addr.Addr(), 56) {
		t.Error("h1 cannot reach h2 after its link is restored")
	}
}
