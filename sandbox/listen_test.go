package sandbox

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/internal/nl"
)

func TestListenIn(t *testing.T) {
	requireRoot(t)
	hostNs := nsLink(t, "/proc/self/ns/net")
	path := newNetns(t)
	ns, err := OpenNetns(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	udp, tcp, err := ListenIn(ns, netip.MustParseAddrPort("127.0.0.11:0"))
	if err != nil {
		t.Fatalf("ListenIn: %v", err)
	}
	defer udp.Close()
	defer tcp.Close()
	if got := nsLink(t, "/proc/self/ns/net"); got != hostNs {
		t.Errorf("own namespace changed: %s, was %s", got, hostNs)
	}
	want := nsLink(t, path)
	for name, c := range map[string]syscall.Conn{"udp": udp, "tcp": tcp} {
		if got := socketNs(t, c); got != want {
			t.Errorf("%s socket is in %s, want the sandbox's %s", name, got, want)
		}
	}
	// Real traffic from inside the namespace reaches both sockets.
	uaddr, taddr := udp.LocalAddr().(*net.UDPAddr), tcp.Addr().(*net.TCPAddr)
	if uaddr.Port == 0 || taddr.Port == 0 {
		t.Fatalf("ports %d/%d, want chosen ones", uaddr.Port, taddr.Port)
	}
	err = nl.InNetns(ns, func() error {
		c, err := net.DialTCP("tcp4", nil, taddr)
		if err != nil {
			return err
		}
		c.Close()
		u, err := net.DialUDP("udp4", nil, uaddr)
		if err != nil {
			return err
		}
		defer u.Close()
		_, err = u.Write([]byte("ping"))
		return err
	})
	if err != nil {
		t.Fatalf("talk to the sockets in the namespace: %v", err)
	}
	buf := make([]byte, 16)
	n, _, err := udp.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read = %q, %v; want ping", buf[:n], err)
	}
}

func TestListenInBadAddress(t *testing.T) {
	requireRoot(t)
	ns, err := OpenNetns(newNetns(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	// 192.0.2.1 is no address of a fresh namespace.
	if _, _, err := ListenIn(ns, netip.MustParseAddrPort("192.0.2.1:0")); err == nil {
		t.Fatal("ListenIn on a foreign address succeeded")
	}
}

// socketNs names the network namespace a socket belongs to.
func socketNs(t *testing.T, c syscall.Conn) string {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nsfd int
	var ierr error
	if err := rc.Control(func(fd uintptr) { nsfd, ierr = unix.IoctlRetInt(int(fd), unix.SIOCGSKNS) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatalf("SIOCGSKNS: %v", ierr)
	}
	defer unix.Close(nsfd)
	var st unix.Stat_t
	if err := unix.Fstat(nsfd, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}
