// Package hostport holds published host ports. A published port is kernel
// NAT (see package firewall); to keep other programs of the host off a
// published port, the engine binds a socket to it that never listens:
// published traffic is translated before it could reach the socket. The
// package also probes the host: whether an address is local, and the
// kernel's ephemeral port range.
//
// Every function works in the network namespace of the calling thread;
// callers that hold ports of another namespace run them on a thread
// there (nl.InNetns), where the sockets then belong.
package hostport

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/patchbay/patchbay/cnm"
)

// None is the socket Hold returns when there is nothing to hold.
const None = -1

// Hold binds a socket of proto ("tcp", "udp" or "sctp") to port on ip (on
// every address of the family when ip is invalid), of the IPv4 family when
// v4 is set, else of IPv6 only. It returns the socket, which the caller
// closes with Release; or None for SCTP on a kernel without SCTP sockets,
// which has no SCTP service to collide with and still translates the SCTP
// it forwards.
//
// The port being taken is cnm.ErrConflict wrapping unix.EADDRINUSE (see
// InUse); ip not being an address of the host, or proto not being
// supported by the kernel, is cnm.ErrInvalid.
func Hold(ip netip.Addr, v4 bool, port uint16, proto string) (int, error) {
	fd, err := bind(ip, v4, port, proto)
	if err == nil {
		return fd, nil
	}
	host := "*"
	if ip.IsValid() {
		host = ip.String()
	}
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		return None, cnm.Conflict("host port %s:%d/%s is already in use: %w", host, port, proto, unix.EADDRINUSE)
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return None, cnm.Invalid("host IP %s is not an address of this host", host)
	case proto == "sctp" && noProto(err):
		// Nothing to hold, but the host address must still be ours.
		if err := CheckLocal(ip, v4); err != nil {
			return None, cnm.Invalid("host IP %s is not an address of this host", host)
		}
		return None, nil
	case noProto(err):
		return None, cnm.Invalid("protocol %s is not supported by this kernel", proto)
	}
	return None, fmt.Errorf("reserve host port %s:%d/%s: %w", host, port, proto, err)
}

// InUse reports whether err from Hold means another socket holds the port.
func InUse(err error) bool { return errors.Is(err, unix.EADDRINUSE) }

// Release closes a socket from Hold; None is a no-op.
func Release(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

func noProto(err error) bool {
	return errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT)
}

// bind opens and binds the socket Hold describes; on error nothing is
// left open.
func bind(ip netip.Addr, v4 bool, port uint16, proto string) (int, error) {
	fam := unix.AF_INET6
	if v4 {
		fam = unix.AF_INET
	}
	typ, num := unix.SOCK_STREAM, unix.IPPROTO_TCP
	switch proto {
	case "udp":
		typ, num = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	case "sctp":
		typ, num = unix.SOCK_STREAM, unix.IPPROTO_SCTP
	}
	fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC, num)
	if err != nil {
		return None, err
	}
	var sa unix.Sockaddr
	if v4 {
		a := &unix.SockaddrInet4{Port: int(port)}
		if ip.IsValid() {
			a.Addr = ip.As4()
		}
		sa = a
	} else {
		// The IPv4 twin of the mapping holds the IPv4 side.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		a := &unix.SockaddrInet6{Port: int(port)}
		if ip.IsValid() {
			a.Addr = ip.As16()
		}
		sa = a
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return None, err
	}
	return fd, nil
}

// CheckLocal tells whether ip is an address of this host, by binding a
// UDP socket to it; an invalid ip (any address) is always local.
func CheckLocal(ip netip.Addr, v4 bool) error {
	if !ip.IsValid() {
		return nil
	}
	fam := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: ip.As16()}
	if v4 {
		fam, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: ip.Unmap().As4()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Bind(fd, sa)
}

// EphemeralRange is the kernel's local port range, where ports without a
// host port come from (49153-65535 when it cannot be read).
func EphemeralRange() (lo, hi uint16) {
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			a, err1 := strconv.Atoi(f[0])
			b, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && a > 0 && a <= b && b <= 65535 {
				return uint16(a), uint16(b)
			}
		}
	}
	return 49153, 65535
}
