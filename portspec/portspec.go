// Package portspec parses the port publishing syntax accepted by Docker's
// "-p/--publish" and "--expose" flags into normalized values, and expands a
// parsed publish spec into concrete host-port to container-port mappings.
//
// Accepted publish forms are
//
//	[hostIP:][hostPort:]containerPort[/proto]
//
// where each port may be a single number or an inclusive range "start-end",
// an IPv6 host IP must be written in brackets ("[::1]:8080:80"), an empty
// host port after a host IP means "ephemeral" ("127.0.0.1::80"), and proto is
// one of tcp (the default), udp or sctp, case-insensitively.
package portspec

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Proto is a transport protocol: "tcp", "udp" or "sctp".
type Proto string

// Supported transport protocols.
const (
	TCP  Proto = "tcp"
	UDP  Proto = "udp"
	SCTP Proto = "sctp"
)

// valid reports whether p is one of the supported protocols.
func (p Proto) valid() bool {
	return p == TCP || p == UDP || p == SCTP
}

// Range is an inclusive port range; a single port has Start == End.
// The zero value means "not given".
type Range struct{ Start, End uint16 }

// Len returns the number of ports in r: End-Start+1, or 0 for the zero value
// (and for an inverted range, which Parse never produces).
func (r Range) Len() int {
	if r.IsZero() || r.Start > r.End {
		return 0
	}
	return int(r.End) - int(r.Start) + 1
}

// IsZero reports whether r is the zero value ("not given").
func (r Range) IsZero() bool { return r == Range{} }

// String renders r as "80" for a single port or "8000-8100" for a range.
// The zero value renders as the empty string.
func (r Range) String() string {
	switch {
	case r.IsZero():
		return ""
	case r.Start == r.End:
		return strconv.Itoa(int(r.Start))
	default:
		return strconv.Itoa(int(r.Start)) + "-" + strconv.Itoa(int(r.End))
	}
}

// contains reports whether port p lies within r.
func (r Range) contains(p uint16) bool {
	return !r.IsZero() && r.Start <= p && p <= r.End
}

// Spec is one parsed -p argument before host ports are chosen.
type Spec struct {
	HostIP    netip.Addr // invalid (zero) when not given; "0.0.0.0" and "::" are kept as given
	HostPorts Range      // zero when not given (ephemeral)
	Ports     Range      // container ports, never zero
	Proto     Proto
}

// String renders s in canonical form, which Parse maps back to s:
// "[hostIP:][hostPorts:]ports/proto", with an IPv6 host IP in brackets and an
// empty host port field when a host IP is given without host ports
// (e.g. "127.0.0.1::80/tcp", "[::1]:8080:80/udp", "8000-8100:80-180/tcp").
func (s Spec) String() string {
	var b strings.Builder
	if s.HostIP.IsValid() {
		if s.HostIP.Is4() {
			b.WriteString(s.HostIP.String())
		} else {
			b.WriteByte('[')
			b.WriteString(s.HostIP.String())
			b.WriteByte(']')
		}
		b.WriteByte(':')
		b.WriteString(s.HostPorts.String()) // may be empty: "ip::port"
		b.WriteByte(':')
	} else if !s.HostPorts.IsZero() {
		b.WriteString(s.HostPorts.String())
		b.WriteByte(':')
	}
	b.WriteString(s.Ports.String())
	if s.Proto != "" {
		b.WriteByte('/')
		b.WriteString(string(s.Proto))
	}
	return b.String()
}

// Parse parses a -p/--publish value of the form
// "[ip:][hostPort:]containerPort[/proto]", for example "80", "80/udp",
// "8080:80", "127.0.0.1:8080:80", "127.0.0.1::80", "[::1]:8080:80",
// "[::]::80", "8000-8100:80-180", "8000-8010:80", "7000-7999",
// "0.0.0.0:8080:80/tcp" or "80/sctp".
//
// A host port range combined with a single container port means "any free
// port in the host range". Otherwise a host port range must have as many
// ports as the container port range. The protocol is case-insensitive and
// defaults to tcp. An IPv6 host IP must be enclosed in brackets, and an IPv4
// host IP must not be.
func Parse(s string) (Spec, error) {
	spec, err := parse(s)
	if err != nil {
		return Spec{}, fmt.Errorf("invalid port spec %q: %w", s, err)
	}
	return spec, nil
}

func parse(s string) (Spec, error) {
	if s == "" {
		return Spec{}, errors.New("spec is empty")
	}
	rest, proto, err := splitProto(s)
	if err != nil {
		return Spec{}, err
	}
	f, err := splitAddr(rest)
	if err != nil {
		return Spec{}, err
	}

	spec := Spec{Proto: proto}
	if f.haveIP {
		if spec.HostIP, err = parseHostIP(f.ip, f.bracketed); err != nil {
			return Spec{}, err
		}
	}
	if f.host != "" {
		if spec.HostPorts, err = parseRange(f.host, "host"); err != nil {
			return Spec{}, err
		}
	}
	if spec.Ports, err = parseRange(f.port, "container"); err != nil {
		return Spec{}, err
	}
	if !spec.HostPorts.IsZero() && spec.Ports.Len() > 1 && spec.HostPorts.Len() != spec.Ports.Len() {
		return Spec{}, fmt.Errorf("host port range %s (%d ports) and container port range %s (%d ports) differ in length",
			spec.HostPorts, spec.HostPorts.Len(), spec.Ports, spec.Ports.Len())
	}
	return spec, nil
}

// ParseExpose parses an --expose value: "80", "80/udp", "7000-7010/tcp".
// The protocol defaults to tcp; port and protocol errors are the same as
// for Parse.
func ParseExpose(s string) (Range, Proto, error) {
	r, p, err := parseExpose(s)
	if err != nil {
		return Range{}, "", fmt.Errorf("invalid expose spec %q: %w", s, err)
	}
	return r, p, nil
}

func parseExpose(s string) (Range, Proto, error) {
	if s == "" {
		return Range{}, "", errors.New("spec is empty")
	}
	rest, proto, err := splitProto(s)
	if err != nil {
		return Range{}, "", err
	}
	if strings.ContainsAny(rest, ":[]") {
		return Range{}, "", errors.New("--expose takes only a container port or range, not a host IP or host port")
	}
	r, err := parseRange(rest, "container")
	if err != nil {
		return Range{}, "", err
	}
	return r, proto, nil
}

// splitProto splits "ports[/proto]" and normalizes the protocol.
func splitProto(s string) (string, Proto, error) {
	rest, p, found := strings.Cut(s, "/")
	if !found {
		return rest, TCP, nil
	}
	if p == "" {
		return "", "", errors.New(`missing protocol after "/" (want tcp, udp or sctp)`)
	}
	proto := Proto(strings.ToLower(p))
	if !proto.valid() {
		return "", "", fmt.Errorf("unknown protocol %q (want tcp, udp or sctp)", p)
	}
	return rest, proto, nil
}

// addrFields holds the colon-separated fields of "[ip:][hostPort:]containerPort".
type addrFields struct {
	ip, host, port string
	haveIP         bool // an IP field was present (it may still be invalid)
	bracketed      bool // the IP field was enclosed in brackets
}

const errTooManyColons = "too many colons; want [ip:][hostPort:]containerPort"

var errBracket = errors.New("unexpected bracket; brackets may only enclose an IPv6 host IP at the start")

// splitAddr splits "[ip:][hostPort:]containerPort" into its fields.
func splitAddr(s string) (addrFields, error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return addrFields{}, errors.New(`missing "]" after bracketed host IP`)
		}
		ip, rest := s[1:end], s[end+1:]
		if strings.ContainsAny(ip, "[") || strings.ContainsAny(rest, "[]") {
			return addrFields{}, errBracket
		}
		if !strings.HasPrefix(rest, ":") {
			return addrFields{}, fmt.Errorf(`bracketed host IP [%s] must be followed by ":hostPort:containerPort"`, ip)
		}
		host, port, found := strings.Cut(rest[1:], ":")
		if !found {
			return addrFields{}, fmt.Errorf(`bracketed host IP [%s] must be followed by ":hostPort:containerPort" (use "[%s]::%s" for an ephemeral host port)`, ip, ip, host)
		}
		if strings.Contains(port, ":") {
			return addrFields{}, errors.New(errTooManyColons)
		}
		return addrFields{ip: ip, host: host, port: port, haveIP: true, bracketed: true}, nil
	}
	if strings.ContainsAny(s, "[]") {
		return addrFields{}, errBracket
	}

	parts := strings.Split(s, ":")
	switch n := len(parts); n {
	case 1:
		return addrFields{port: parts[0]}, nil
	case 2:
		return addrFields{host: parts[0], port: parts[1]}, nil
	case 3:
		return addrFields{ip: parts[0], host: parts[1], port: parts[2], haveIP: true}, nil
	default:
		prefix := strings.Join(parts[:n-2], ":")
		if a, err := netip.ParseAddr(prefix); err == nil && a.Is6() {
			return addrFields{}, fmt.Errorf(`IPv6 host IP %s must be enclosed in brackets, e.g. "[%s]:%s:%s"`,
				prefix, prefix, parts[n-2], parts[n-1])
		}
		return addrFields{}, errors.New(errTooManyColons)
	}
}

// parseHostIP parses the host IP field. IPv6 addresses must have been
// bracketed and IPv4 addresses must not have been; zones are rejected.
func parseHostIP(s string, bracketed bool) (netip.Addr, error) {
	if s == "" {
		// Also catches "::80", which is ambiguous with the IPv6 address ::80.
		return netip.Addr{}, errors.New(`host IP is empty; omit it or use "0.0.0.0" or "[::]"`)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bad host IP %q", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("bad host IP %q: IPv6 zones are not supported", s)
	}
	if bracketed && a.Is4() {
		return netip.Addr{}, fmt.Errorf("IPv4 host IP %s must not be enclosed in brackets", s)
	}
	if !bracketed && a.Is6() {
		// Unreachable: an unbracketed IP field never contains a colon.
		return netip.Addr{}, fmt.Errorf("IPv6 host IP %s must be enclosed in brackets", s)
	}
	return a, nil
}

// parseRange parses "port" or "start-end". role ("host" or "container")
// is used in messages about missing ports.
func parseRange(s, role string) (Range, error) {
	if s == "" {
		return Range{}, fmt.Errorf("missing %s port", role)
	}
	lo, hi, isRange := strings.Cut(s, "-")
	start, err := parsePort(lo, s)
	if err != nil {
		return Range{}, err
	}
	if !isRange {
		return Range{start, start}, nil
	}
	end, err := parsePort(hi, s)
	if err != nil {
		return Range{}, err
	}
	if start > end {
		return Range{}, fmt.Errorf("port range %s is inverted (start > end)", s)
	}
	return Range{start, end}, nil
}

// parsePort parses one decimal port number in 1-65535. field is the
// enclosing range text, used in messages.
func parsePort(s, field string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("missing port number in %q", field)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("port %q is not a number", s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < 1 || v > 65535 {
		return 0, fmt.Errorf("port %s is out of range 1-65535", s)
	}
	return uint16(v), nil
}

// Mapping is one host port → container port binding after host ports have
// been chosen.
type Mapping struct {
	HostIP   netip.Addr // invalid = all addresses
	HostPort uint16
	Port     uint16 // container port
	Proto    Proto
}

// String renders m like `docker port`: "80/tcp -> 0.0.0.0:8080" or
// "80/udp -> [::1]:8080". An invalid HostIP prints as 0.0.0.0.
func (m Mapping) String() string {
	ip := m.HostIP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return Key(m.Port, m.Proto) + " -> " + netip.AddrPortFrom(ip, m.HostPort).String()
}

// Expand turns s into mappings, using pick to choose host ports:
//
//   - If s.HostPorts is zero, there is one mapping per container port and
//     each host port comes from pick(Range{}) ("any ephemeral port").
//   - If s.HostPorts.Len() == s.Ports.Len(), ports are mapped pairwise
//     (HostPorts.Start+i → Ports.Start+i) and pick is not called.
//   - If s.Ports is a single port and s.HostPorts.Len() > 1, pick(s.HostPorts)
//     chooses one host port from the range.
//
// Errors from pick are returned wrapped with the spec text. A port returned
// by pick must be non-zero and, when a range was passed, within that range.
func (s Spec) Expand(pick func(r Range) (uint16, error)) ([]Mapping, error) {
	if s.Ports.Len() == 0 {
		return nil, fmt.Errorf("port spec %q: no container ports", s.String())
	}
	if !s.Proto.valid() {
		return nil, fmt.Errorf("port spec %q: unknown protocol %q", s.String(), s.Proto)
	}
	mapping := func(host, port uint16) Mapping {
		return Mapping{HostIP: s.HostIP, HostPort: host, Port: port, Proto: s.Proto}
	}
	choose := func(r Range, port uint16) (uint16, error) {
		if pick == nil {
			return 0, fmt.Errorf("port spec %q: no host port chooser for %s", s.String(), Key(port, s.Proto))
		}
		hp, err := pick(r)
		if err != nil {
			return 0, fmt.Errorf("port spec %q: choosing host port for %s: %w", s.String(), Key(port, s.Proto), err)
		}
		if hp == 0 || (!r.IsZero() && !r.contains(hp)) {
			return 0, fmt.Errorf("port spec %q: chooser returned host port %d, want a port in %s", s.String(), hp, describe(r))
		}
		return hp, nil
	}

	switch {
	case s.HostPorts.IsZero():
		out := make([]Mapping, 0, s.Ports.Len())
		for p := int(s.Ports.Start); p <= int(s.Ports.End); p++ {
			hp, err := choose(Range{}, uint16(p))
			if err != nil {
				return nil, err
			}
			out = append(out, mapping(hp, uint16(p)))
		}
		return out, nil
	case s.HostPorts.Len() == s.Ports.Len():
		out := make([]Mapping, 0, s.Ports.Len())
		for i := 0; i < s.Ports.Len(); i++ {
			out = append(out, mapping(uint16(int(s.HostPorts.Start)+i), uint16(int(s.Ports.Start)+i)))
		}
		return out, nil
	case s.Ports.Len() == 1 && s.HostPorts.Len() > 1:
		hp, err := choose(s.HostPorts, s.Ports.Start)
		if err != nil {
			return nil, err
		}
		return []Mapping{mapping(hp, s.Ports.Start)}, nil
	default:
		return nil, fmt.Errorf("port spec %q: host port range %s (%d ports) and container port range %s (%d ports) differ in length",
			s.String(), s.HostPorts, s.HostPorts.Len(), s.Ports, s.Ports.Len())
	}
}

func describe(r Range) string {
	if r.IsZero() {
		return "1-65535"
	}
	return r.String()
}

// Key returns "80/tcp" (container port/proto), the form Docker's API uses
// as keys of PortBindings and ExposedPorts.
func Key(port uint16, p Proto) string {
	return strconv.Itoa(int(port)) + "/" + string(p)
}
