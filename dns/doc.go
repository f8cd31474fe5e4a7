// Package dns is patchbay's embedded resolver: the server a sandbox reaches
// at 127.0.0.11:53.
//
// The engine owns names and sockets; this package owns DNS. The engine
// opens a UDP socket and a TCP listener inside a sandbox's namespace and
// hands them to [Resolver.Start] together with a [View], the sandbox's
// view of the names on the networks it is attached to. The resolver
// answers A and AAAA queries for those names (all addresses, rotated per
// answer), PTR queries for their addresses, and forwards everything else
// to the upstream servers of [Config.Upstreams], dialled from the daemon's
// own namespace so loopback upstreams such as 127.0.0.53 work.
//
// The common query (one question, at most an EDNS0 OPT record) is parsed
// and answered by hand without allocating; everything else goes through
// github.com/miekg/dns. See README.md for behaviour and limits.
package dns
