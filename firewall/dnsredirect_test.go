package firewall_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/firewall"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/nl"
	"github.com/patchbay/patchbay/sandbox"
)

// TestRedirectDNS checks, with real packets in a throwaway namespace,
// that queries to 127.0.0.11:53 over UDP and TCP reach the resolver's own
// ports and that the replies come back from port 53, after the redirect
// was replaced (a restarted daemon's new ports, an older daemon's DNAT), and that the rules
// touch no connection tracking.
func TestRedirectDNS(t *testing.T) {
	h := netnstest.NewHost(t)
	ns, _ := netnstest.Open(t, h.Path)
	resolver := netip.MustParseAddr("127.0.0.11")
	udp, tcp, err := sandbox.ListenIn(ns, netip.AddrPortFrom(resolver, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	defer tcp.Close()
	// What an older daemon left: a DNAT chain of the same name.
	nft(t, h, "add", "table", "ip", firewall.DNSTable)
	nft(t, h, "add", "chain", "ip", firewall.DNSTable, "output", "{ type nat hook output priority -100; }")
	nft(t, h, "add", "rule", "ip", firewall.DNSTable, "output", "ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:1")
	if err := firewall.RedirectDNS(ns, resolver, 1, 2); err != nil {
		t.Fatal(err)
	}
	uport := uint16(udp.LocalAddr().(*net.UDPAddr).Port)
	tport := uint16(tcp.Addr().(*net.TCPAddr).Port)
	if err := firewall.RedirectDNS(ns, resolver, uport, tport); err != nil {
		t.Fatal(err)
	}
	if out := nft(t, h, "list", "table", "ip", firewall.DNSTable); strings.Contains(out, "dnat") || strings.Count(out, "notrack") != 4 {
		t.Errorf("redirect rules:\n%s", out)
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := udp.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = udp.WriteToUDPAddrPort(append([]byte("udp:"), buf[:n]...), from)
		}
	}()
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			n, _ := c.Read(buf)
			_, _ = c.Write(append([]byte("tcp:"), buf[:n]...))
			c.Close()
		}
	}()
	for _, network := range []string{"udp4", "tcp4"} {
		var c net.Conn
		if err := nl.InNetns(ns, func() (err error) {
			c, err = net.DialTimeout(network, "127.0.0.11:53", 5*time.Second)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("q")); err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		buf := make([]byte, 512)
		// A UDP socket connected to :53 takes replies from :53 only.
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s: no reply: %v", network, err)
		}
		if got, want := string(buf[:n]), network[:3]+":q"; got != want {
			t.Errorf("%s: reply %q, want %q", network, got, want)
		}
		c.Close()
	}
}
