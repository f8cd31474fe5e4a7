package sandbox

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netns"

	"github.com/patchbay/patchbay/internal/nl"
)

// ListenIn opens, inside the namespace ns, a UDP socket and a TCP
// listener on addr, as a DNS server needs; with port 0 each gets a free
// port of its own. The sockets belong to ns whatever thread later uses
// them. The calling goroutine's thread enters ns locked and comes back
// (or, if it cannot, dies locked with the goroutine). On error nothing is
// left open.
func ListenIn(ns netns.NsHandle, addr netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	var udp *net.UDPConn
	var tcp *net.TCPListener
	udpNet, tcpNet := "udp4", "tcp4"
	if addr.Addr().Is6() {
		udpNet, tcpNet = "udp6", "tcp6"
	}
	err := nl.InNetns(ns, func() error {
		a := net.UDPAddrFromAddrPort(addr)
		var err error
		if udp, err = net.ListenUDP(udpNet, a); err != nil {
			return err
		}
		tcp, err = net.ListenTCP(tcpNet, (*net.TCPAddr)(a))
		return err
	})
	if err != nil {
		if udp != nil {
			err = errors.Join(err, udp.Close())
		}
		return nil, nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return udp, tcp, nil
}
