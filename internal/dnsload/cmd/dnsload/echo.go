package main

import (
	"fmt"
	"net/netip"
	"runtime"

	"golang.org/x/sys/unix"
)

// serveEcho answers every datagram to addr with itself, the QR bit set,
// from a blocking socket on a locked thread, until killed.
func serveEcho(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("echo address %q: want IPv4 address:port", addr)
	}
	runtime.LockOSThread()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return err
	}
	buf := make([]byte, 512)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || n < 3 {
			continue
		}
		buf[2] |= 0x80
		_ = unix.Sendto(fd, buf[:n], 0, from)
	}
}
