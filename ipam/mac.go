package ipam

import (
	"crypto/rand"
	"net"

	"github.com/patchbay/patchbay/cnm"
)

// RandomMAC returns a random locally administered unicast MAC address.
func RandomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	rand.Read(mac) // never fails (crypto/rand panics instead)
	mac[0] = mac[0]&^1 | 2
	return mac
}

// ParseMAC parses a 6-byte unicast MAC address such as 02:42:ac:11:00:02.
// Other lengths, multicast addresses and the all-zero address are rejected with an error of
// kind cnm.ErrInvalid.
func ParseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, cnm.Invalid("invalid mac address %q", s)
	}
	if len(mac) != 6 {
		return nil, cnm.Invalid("invalid mac address %q: want 6 bytes, have %d", s, len(mac))
	}
	if mac[0]&1 != 0 {
		return nil, cnm.Invalid("invalid mac address %q: multicast", s)
	}
	if [6]byte(mac) == [6]byte{} {
		return nil, cnm.Invalid("invalid mac address %q: all zeros", s)
	}
	return mac, nil
}
