package dns

import (
	"encoding/binary"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// verdict is what to do with a query.
type verdict uint8

const (
	verdictDrop    verdict = iota // not a query, or not even a header
	verdictReply                  // the reply is ready
	verdictForward                // ask the upstream servers
)

// handle decides what to do with the query req, which arrived over TCP
// or UDP: it appends a reply to out (returning it), or says to forward or
// to drop the query. It never blocks: the view answers from memory.
func (r *Resolver) handle(view View, req, out []byte, tcp bool) ([]byte, verdict) {
	var q query
	if parseQuery(req, &q) && (q.qtype == typeA || q.qtype == typeAAA) {
		addrs, known := view.Lookup(string(q.name[:q.nameLen]), q.qtype == typeAAA)
		if !known {
			return nil, verdictForward
		}
		limit := maxTCP
		if !tcp {
			limit = q.udpLimit()
		}
		return appendAnswer(out, req, &q, addrs, r.rotation(len(addrs)), r.cfg.TTL, limit), verdictReply
	}
	return r.handleSlow(view, req, out, tcp)
}

// rotation returns where the next answer with n addresses starts.
func (r *Resolver) rotation(n int) int {
	if n < 2 {
		return 0
	}
	return int(r.next.Add(1) % uint32(n))
}

// handleSlow is handle for every query the fast path does not take.
func (r *Resolver) handleSlow(view View, req, out []byte, tcp bool) ([]byte, verdict) {
	var m mdns.Msg
	if err := m.Unpack(req); err != nil {
		if len(req) < hdrLen || req[2]&(flagQR>>8) != 0 {
			return nil, verdictDrop
		}
		return appendFormErr(out, req), verdictReply
	}
	if m.Response {
		return nil, verdictDrop
	}
	if m.Opcode != mdns.OpcodeQuery {
		return pack(out, rcodeReply(&m, mdns.RcodeNotImplemented), tcp, nil)
	}
	opt := m.IsEdns0()
	if len(m.Question) != 1 {
		return pack(out, rcodeReply(&m, mdns.RcodeFormatError), tcp, opt)
	}
	if opt != nil && opt.Version() != 0 {
		return pack(out, rcodeReply(&m, mdns.RcodeBadVers), tcp, opt)
	}
	q := m.Question[0]
	if q.Qclass != mdns.ClassINET {
		return nil, verdictForward
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	resp := new(mdns.Msg)
	resp.SetReply(&m)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	resp.CheckingDisabled = m.CheckingDisabled
	hdr := mdns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: mdns.ClassINET, Ttl: r.cfg.TTL}
	switch q.Qtype {
	case mdns.TypeA, mdns.TypeAAAA:
		v6 := q.Qtype == mdns.TypeAAAA
		addrs, known := view.Lookup(name, v6)
		if !known {
			return nil, verdictForward
		}
		start := r.rotation(len(addrs))
		for i := range addrs {
			a := addrs[(start+i)%len(addrs)]
			switch {
			case v6 && a.Is6() && !a.Is4In6():
				resp.Answer = append(resp.Answer, &mdns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			case !v6 && a.Unmap().Is4():
				resp.Answer = append(resp.Answer, &mdns.A{Hdr: hdr, A: a.Unmap().AsSlice()})
			}
		}
	case mdns.TypePTR:
		addr, ok := parseReverse(name)
		if !ok {
			return nil, verdictForward
		}
		names := view.Reverse(addr)
		if len(names) == 0 {
			return nil, verdictForward
		}
		for _, n := range names {
			resp.Answer = append(resp.Answer, &mdns.PTR{Hdr: hdr, Ptr: mdns.Fqdn(n)})
		}
	default:
		// Other types of a local name: it exists, without such records.
		if _, known := view.Lookup(name, false); !known {
			return nil, verdictForward
		}
	}
	return pack(out, resp, tcp, opt)
}

// rcodeReply returns an empty reply to m with rcode.
func rcodeReply(m *mdns.Msg, rcode int) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetRcode(m, rcode)
	resp.RecursionAvailable = true
	return resp
}

// pack packs resp into out, with an OPT record when the query had one
// (opt), truncated to what the client accepts over UDP.
func pack(out []byte, resp *mdns.Msg, tcp bool, opt *mdns.OPT) ([]byte, verdict) {
	limit := maxTCP
	if opt != nil {
		resp.SetEdns0(advertisedUDP, opt.Do()) // Pack puts an extended rcode in it
		if !tcp {
			limit = min(max(int(opt.UDPSize()), minUDP), maxUDP)
		}
	} else if !tcp {
		limit = minUDP
	}
	resp.Compress = true
	resp.Truncate(limit)
	b, err := resp.PackBuffer(out[len(out):cap(out)])
	if err != nil {
		return nil, verdictDrop
	}
	return append(out, b...), verdictReply
}

// appendFormErr appends a FORMERR reply to req, of which only the header
// could be read: the reply is that header, with no records.
func appendFormErr(out, req []byte) []byte {
	flags := binary.BigEndian.Uint16(req[2:])
	flags = flags&(maskOp|flagRD|flagCD) | flagQR | flagRA | mdns.RcodeFormatError
	out = append(out, req[0], req[1])
	out = binary.BigEndian.AppendUint16(out, flags)
	return append(out, 0, 0, 0, 0, 0, 0, 0, 0)
}

// parseReverse returns the address of a full in-addr.arpa or ip6.arpa
// name (lower-cased, without trailing dot).
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		var b [4]byte
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		for i, l := range labels {
			v, ok := decimalOctet(l)
			if !ok {
				return netip.Addr{}, false
			}
			b[3-i] = v
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		var b [16]byte
		if len(rest) != 63 {
			return netip.Addr{}, false
		}
		for i := 0; i < 32; i++ {
			c := rest[2*i]
			if i < 31 && rest[2*i+1] != '.' {
				return netip.Addr{}, false
			}
			v, ok := hexNibble(c)
			if !ok {
				return netip.Addr{}, false
			}
			// Nibble i counts from the least significant end.
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= v << 4
			} else {
				b[pos/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

func decimalOctet(s string) (byte, bool) {
	if len(s) == 0 || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return byte(v), v <= 255
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// udpLimitSlow is query.udpLimit for a query of any shape.
func udpLimitSlow(req []byte) int {
	var m mdns.Msg
	if m.Unpack(req) != nil {
		return minUDP
	}
	if opt := m.IsEdns0(); opt != nil {
		return min(max(int(opt.UDPSize()), minUDP), maxUDP)
	}
	return minUDP
}
