// Package ipam manages IP addresses for patchbay networks: it picks free
// subnets from address pools, validates a network's IPAM configuration
// and hands out addresses of a subnet serially, the way Docker's default
// IPAM driver does. It also makes and checks MAC addresses.
//
// All addresses are net/netip values. IPv4-mapped IPv6 prefixes
// (::ffff:a.b.c.d/n, n >= 96), and such addresses given for an IPv4
// subnet, are treated as the IPv4 values they map. Nothing here does I/O or keeps global state; an Allocator is not
// safe for concurrent use and its caller serialises access.
package ipam
