// Package ipam manages IP addresses for patchbay networks.
//
// Driver is the IPAM driver contract, shaped like Docker's IpamDriver
// plugin protocol (address spaces, request/release pool, request/release
// address, capabilities) so that a remote IPAM plugin maps onto it one to
// one; package ipamtest holds its conformance suite. DefaultDriver,
// made by NewDefault, is its first implementation: Docker's default
// pools, subnets chosen to avoid the host's prefixes (a func the
// composition root supplies) and every other pool, serial allocation,
// static addresses, sub-pools (--ip-range), gateway and auxiliary
// addresses, cursors persisted through a CursorStore. It is safe for
// concurrent use and does I/O only through the funcs and stores it is
// given.
//
// Below it are the building blocks: ChooseSubnet picks a free subnet
// from address pools, Config validates a network's IPAM configuration,
// Allocator hands out the addresses of a subnet serially, the way
// Docker's allocator does with its serial option. It also makes and
// checks MAC addresses.
//
// All addresses are net/netip values. IPv4-mapped IPv6 prefixes
// (::ffff:a.b.c.d/n, n >= 96), and such addresses given for an IPv4
// subnet, are treated as the IPv4 values they map. Nothing here keeps
// global state; an Allocator is not safe for concurrent use and its
// caller serialises access.
package ipam
