package e2e

import (
	"context"
	be "encoding/binary"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPublishedRange: a shifted range of ports is one map element, and
// each host port of it reaches its own container port.
func TestPublishedRange(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.11.0/24", "rangenet")
	d.ok("run", "-d", "--name", "ranged", "-p", "20000-20009:7000-7009", "--network", "rangenet", "--", "sh", "-c",
		"socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:'echo p7000' & socat TCP-LISTEN:7004,fork,reuseaddr SYSTEM:'echo p7004' & exec socat TCP-LISTEN:7009,fork,reuseaddr SYSTEM:'echo p7009'")
	waitListening(t, d, "ranged", ":7000/tcp", ":7004/tcp", ":7009/tcp")
	for _, c := range []struct{ ns, addr, want string }{
		{d.host.Outside, hostIP + ":20000", "p7000"},
		{d.host.Outside, hostIP + ":20004", "p7004"},
		{d.host.Outside, hostIP + ":20009", "p7009"},
		{d.host.Path, "127.0.0.1:20009", "p7009"},
	} {
		if out, ok := inNS(t, c.ns, "socat", "-T", "3", "-", "TCP:"+c.addr); !ok || strings.TrimSpace(out) != c.want {
			t.Errorf("connect %s = %q ok=%v, want %s", c.addr, out, ok, c.want)
		}
	}
	if out := d.ok("port", "ranged", "7004/tcp"); strings.TrimSpace(out) != "0.0.0.0:20004" {
		t.Errorf("port ranged 7004/tcp = %q", out)
	}
	if fw := d.ok("firewall", "show"); !strings.Contains(fw, "tcp . 20000-20009 : 10.0.11.2 . 7000-7009") {
		t.Errorf("firewall show lacks the range as one element:\n%s", fw)
	}
	out, _ := inNS(t, d.host.Path, "nft", "list", "ruleset")
	if n := strings.Count(out, "tcp . 2000"); n != 1 {
		t.Errorf("the kernel holds %d elements for the range, want 1:\n%s", n, out)
	}
	d.ok("rm", "-f", "ranged")
	if out, _ := inNS(t, d.host.Path, "nft", "list", "ruleset"); strings.Contains(out, "20000-20009") {
		t.Errorf("the range outlived its sandbox:\n%s", out)
	}
}

// TestPublishedIPv6: a dual-stack network publishes on both families,
// masquerades outbound IPv6 to the host's address (NAT66), and keeps its
// container addresses unreachable from outside.
func TestPublishedIPv6(t *testing.T) {
	d := startDaemon(t)
	const host6, out6 = "2001:db8:1::2", "2001:db8:1::1"
	for _, c := range [][]string{
		{d.host.Path, "ip", "-6", "addr", "add", host6 + "/64", "dev", "uplink", "nodad"},
		{d.host.Path, "ip", "-6", "route", "add", "default", "via", out6},
		{d.host.Outside, "ip", "-6", "addr", "add", out6 + "/64", "dev", "wan", "nodad"},
	} {
		if out, ok := inNS(t, c[0], c[1:]...); !ok {
			t.Fatalf("%v: %s", c[1:], out)
		}
	}
	d.ok("network", "create", "--ipv6", "--subnet", "10.0.12.0/24", "--subnet", "fd00:12::/64", "v6net")
	d.ok("run", "-d", "--name", "web6", "--hostname", "web6host", "-p", "8080:80", "--network", "v6net", "--",
		"busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	waitListening(t, d, "web6", ":80/tcp")
	for _, c := range []struct{ ns, url string }{
		{d.host.Outside, "http://[" + host6 + "]:8080/hostname"},
		{d.host.Outside, "http://" + hostIP + ":8080/hostname"},
		{d.host.Path, "http://[" + host6 + "]:8080/hostname"},
	} {
		if out, ok := inNS(t, c.ns, "timeout", "3", "busybox", "wget", "-qO-", c.url); !ok || strings.TrimSpace(out) != "web6host" {
			t.Errorf("GET %s = %q ok=%v", c.url, out, ok)
		}
	}
	if out := d.ok("port", "web6"); !strings.Contains(out, "80/tcp -> [::]:8080") || !strings.Contains(out, "80/tcp -> 0.0.0.0:8080") {
		t.Errorf("port web6 lacks a family:\n%s", out)
	}
	// Outbound over IPv6 leaves with the host's address.
	background(t, d.host.Outside, "socat", "TCP6-LISTEN:9999,reuseaddr,fork", "SYSTEM:echo $SOCAT_PEERADDR")
	r := d.pb("run", "--rm", "--network", "v6net", "--", "socat", "-T", "3", "-", "TCP6:["+out6+"]:9999")
	seen, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(r.stdout), "[]"))
	if r.code != 0 || err != nil || seen != netip.MustParseAddr(host6) {
		t.Errorf("outbound IPv6 source seen outside = %q, want %s (%s)", strings.TrimSpace(r.stdout), host6, r)
	}
	// The container's own IPv6 address is closed to the outside, even
	// with a route to it.
	if out, ok := inNS(t, d.host.Outside, "ip", "-6", "route", "add", "fd00:12::/64", "via", host6); !ok {
		t.Fatal(out)
	}
	if out, ok := inNS(t, d.host.Outside, "timeout", "3", "busybox", "wget", "-qO-", "http://[fd00:12::2]:80/hostname"); ok {
		t.Errorf("the container's IPv6 address was reachable from outside: %q", out)
	}
}

// TestPublishedSCTP: an SCTP port is translated like TCP's. This kernel
// may have no SCTP sockets, so the test speaks SCTP through raw sockets:
// an INIT sent from outside to the published port must arrive at the
// container with the container's port and address.
func TestPublishedSCTP(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.13.0/24", "sctpnet")
	d.ok("run", "-d", "--name", "sc", "-p", "9132:132/sctp", "--network", "sctpnet", "--", "sleep", "600")
	if out := d.ok("port", "sc"); !strings.Contains(out, "132/sctp -> 0.0.0.0:9132") {
		t.Fatalf("port sc:\n%s", out)
	}
	sb, err := d.client().SandboxInspect(context.Background(), "sc")
	if err != nil {
		t.Fatal(err)
	}
	recv := rawSocket(t, sb.NetworkSettings.SandboxKey)
	send := rawSocket(t, d.host.Outside)
	pkt := sctpInit(40000, 9132)
	if err := unix.Sendto(send, pkt, 0, &unix.SockaddrInet4{Addr: netip.MustParseAddr(hostIP).As4()}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval((3 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(recv, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n, _, err := unix.Recvfrom(recv, buf, 0)
		if err != nil {
			t.Fatalf("no SCTP packet reached the container: %v", err)
		}
		ip := buf[:n]
		ihl := int(ip[0]&0x0f) * 4
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		sport, dport := be.BigEndian.Uint16(ip[ihl:]), be.BigEndian.Uint16(ip[ihl+2:])
		if sport != 40000 {
			continue // not ours
		}
		if dport != 132 || dst.String() != "10.0.13.2" || src.String() != outsideIP {
			t.Errorf("SCTP arrived as %s:%d -> %s:%d, want %s:40000 -> 10.0.13.2:132", src, sport, dst, dport, outsideIP)
		}
		return
	}
}

// rawSocket opens a raw IPv4 SCTP socket in the namespace at path.
func rawSocket(t *testing.T, path string) int {
	t.Helper()
	var fd int
	var err error
	inNetns(t, path, func() { fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// sctpInit builds an SCTP packet holding one INIT chunk (RFC 9260 §3.3.2).
func sctpInit(sport, dport uint16) []byte {
	b := make([]byte, 12+20)
	be.BigEndian.PutUint16(b[0:], sport)
	be.BigEndian.PutUint16(b[2:], dport)
	// verification tag 0 for INIT; checksum at 8, filled below
	c := b[12:]
	c[0] = 1                                  // INIT
	be.BigEndian.PutUint16(c[2:], 20)         // chunk length
	be.BigEndian.PutUint32(c[4:], 0x01020304) // initiate tag
	be.BigEndian.PutUint32(c[8:], 65536)      // a_rwnd
	be.BigEndian.PutUint16(c[12:], 1)         // outbound streams
	be.BigEndian.PutUint16(c[14:], 1)         // inbound streams
	be.BigEndian.PutUint32(c[16:], 1)         // initial TSN
	sum := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	be.LittleEndian.PutUint32(b[8:], sum)
	return b
}

// TestDisconnectUnpublishes: leaving the network a port is published on
// removes the mapping and frees the host port; the sandbox keeps the rest.
func TestDisconnectUnpublishes(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.14.0/24", "pubnet")
	d.ok("run", "-d", "--name", "web", "-p", "8080:80", "--network", "pubnet", "--", "sleep", "600")
	d.ok("network", "disconnect", "pubnet", "web")
	if out := d.ok("port", "web"); strings.TrimSpace(out) != "" {
		t.Errorf("port web after disconnect:\n%s", out)
	}
	if fw := d.ok("firewall", "show"); strings.Contains(fw, "8080") {
		t.Errorf("the mapping outlived the endpoint:\n%s", fw)
	}
	d.ok("run", "-d", "--name", "web2", "-p", "8080:80", "--network", "pubnet", "--", "sleep", "600")
	// The record agrees after a restart.
	d.stop()
	d.start()
	if out := d.ok("port", "web"); strings.TrimSpace(out) != "" {
		t.Errorf("port web after restart:\n%s", out)
	}
	if out := d.ok("port", "web2"); !strings.Contains(out, "0.0.0.0:8080") {
		t.Errorf("port web2 after restart:\n%s", out)
	}
}

// TestHostBindingIPv4: a network's host_binding_ipv4 is the default
// address its ports are published on.
func TestHostBindingIPv4(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.15.0/24", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1", "localnet")
	d.ok("run", "-d", "--name", "web", "--hostname", "localweb", "-p", "8085:80", "--network", "localnet", "--",
		"busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	waitListening(t, d, "web", ":80/tcp")
	if out := d.ok("port", "web"); strings.TrimSpace(out) != "80/tcp -> 127.0.0.1:8085" {
		t.Errorf("port web = %q, want 80/tcp -> 127.0.0.1:8085", out)
	}
	if out, ok := inNS(t, d.host.Path, "timeout", "3", "busybox", "wget", "-qO-", "http://127.0.0.1:8085/hostname"); !ok || strings.TrimSpace(out) != "localweb" {
		t.Errorf("from the host: %q ok=%v", out, ok)
	}
	if out, ok := inNS(t, d.host.Outside, "timeout", "3", "busybox", "wget", "-qO-", "http://"+hostIP+":8085/hostname"); ok {
		t.Errorf("a port bound to 127.0.0.1 by default answered another machine: %q", out)
	}
}
