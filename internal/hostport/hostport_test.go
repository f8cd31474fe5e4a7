package hostport_test

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/internal/hostport"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/nl"
)

// inHost runs f on a thread in a fresh "host" namespace.
func inHost(t *testing.T, f func()) {
	t.Helper()
	h := netnstest.NewHost(t)
	ns, _ := netnstest.Open(t, h.Path)
	if err := nl.InNetns(ns, func() error { f(); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestHold(t *testing.T) {
	anyAddr := netip.Addr{}
	hostIP := netnstest.HostAddr.Addr()
	tests := []struct {
		name    string
		ip      netip.Addr
		v4      bool
		proto   string
		display string
	}{
		{"tcp4 any", anyAddr, true, "tcp", "*"},
		{"udp4 any", anyAddr, true, "udp", "*"},
		{"tcp4 host address", hostIP, true, "tcp", "192.0.2.2"},
		{"udp6 loopback", netip.IPv6Loopback(), false, "udp", "::1"},
		{"tcp6 any", anyAddr, false, "tcp", "*"},
	}
	inHost(t, func() {
		for _, tt := range tests {
			fd, err := hostport.Hold(tt.ip, tt.v4, 8080, tt.proto)
			if err != nil || fd < 0 {
				t.Errorf("%s: Hold = %d, %v; want a socket", tt.name, fd, err)
				continue
			}
			_, err = hostport.Hold(tt.ip, tt.v4, 8080, tt.proto)
			want := "host port " + tt.display + ":8080/" + tt.proto + " is already in use"
			if !errors.Is(err, cnm.ErrConflict) || !hostport.InUse(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: second Hold = %v; want a conflict %q", tt.name, err, want)
			}
			hostport.Release(fd)
			fd, err = hostport.Hold(tt.ip, tt.v4, 8080, tt.proto)
			if err != nil {
				t.Errorf("%s: Hold after Release: %v", tt.name, err)
			}
			hostport.Release(fd)
		}
	})
}

func TestHoldFamiliesApart(t *testing.T) {
	inHost(t, func() {
		// The IPv6 socket is IPv6 only: the IPv4 twin holds the IPv4 side.
		fd6, err := hostport.Hold(netip.Addr{}, false, 8081, "tcp")
		if err != nil {
			t.Fatal(err)
		}
		defer hostport.Release(fd6)
		fd4, err := hostport.Hold(netip.Addr{}, true, 8081, "tcp")
		if err != nil {
			t.Fatalf("IPv4 twin of an IPv6 hold: %v", err)
		}
		hostport.Release(fd4)
	})
}

func TestHoldForeignAddress(t *testing.T) {
	inHost(t, func() {
		for _, proto := range []string{"tcp", "udp", "sctp"} {
			fd, err := hostport.Hold(netip.MustParseAddr("198.51.100.7"), true, 8080, proto)
			want := "host IP 198.51.100.7 is not an address of this host"
			if !errors.Is(err, cnm.ErrInvalid) || err.Error() != want || fd != hostport.None {
				t.Errorf("%s: Hold = %d, %v; want %q", proto, fd, err, want)
			}
		}
	})
}

func TestHoldSCTP(t *testing.T) {
	inHost(t, func() {
		fd, err := hostport.Hold(netip.Addr{}, true, 9000, "sctp")
		if err != nil {
			t.Fatalf("Hold sctp: %v", err)
		}
		defer hostport.Release(fd)
		if fd == hostport.None {
			return // no SCTP sockets in this kernel: nothing to hold
		}
		if _, err := hostport.Hold(netip.Addr{}, true, 9000, "sctp"); !errors.Is(err, cnm.ErrConflict) {
			t.Errorf("second sctp Hold = %v, want a conflict", err)
		}
	})
}

func TestCheckLocal(t *testing.T) {
	inHost(t, func() {
		for ip, local := range map[string]bool{"127.0.0.1": true, "192.0.2.2": true, "198.51.100.7": false, "::1": true, "2001:db8::1": false} {
			a := netip.MustParseAddr(ip)
			if err := hostport.CheckLocal(a, a.Is4()); (err == nil) != local {
				t.Errorf("CheckLocal(%s) = %v, want local %v", ip, err, local)
			}
		}
		if err := hostport.CheckLocal(netip.Addr{}, true); err != nil {
			t.Errorf("CheckLocal(any) = %v", err)
		}
	})
}

func TestEphemeralRange(t *testing.T) {
	inHost(t, func() {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("40000 40010"), 0o644); err != nil {
			t.Fatal(err)
		}
		if lo, hi := hostport.EphemeralRange(); lo != 40000 || hi != 40010 {
			t.Errorf("EphemeralRange = %d-%d, want 40000-40010", lo, hi)
		}
	})
}
