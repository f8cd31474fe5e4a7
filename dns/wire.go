package dns

import (
	"encoding/binary"
	"net/netip"
)

// Wire constants of the fast path.
const (
	hdrLen  = 12
	typeA   = 1
	typePTR = 12
	typeOPT = 41
	typeAAA = 28
	classIN = 1

	flagQR = 0x8000
	flagAA = 0x0400
	flagTC = 0x0200
	flagRD = 0x0100
	flagRA = 0x0080
	flagCD = 0x0010
	maskOp = 0x7800

	// minUDP is the reply limit for a client without EDNS0 (RFC 1035).
	minUDP = 512
	// maxUDP caps the reply size over UDP whatever the client advertises.
	maxUDP = 4096
	// maxTCP is the largest message a TCP frame can carry.
	maxTCP = 65535
	// advertisedUDP is the payload size put in the OPT record of local
	// answers (the DNS flag day 2020 value).
	advertisedUDP = 1232
	// optLen is the length of an OPT record without options.
	optLen = 11
)

// query is the common shape of a query, parsed by hand: one question of
// class IN whose name has only letters, digits, '-' and '_', and at most
// an OPT record of EDNS version 0.
type query struct {
	name    [253]byte // lower-cased, dots between labels, no trailing dot
	nameLen int
	qend    int // offset just past the question
	qtype   uint16
	edns    bool
	udpSize uint16 // as advertised by the client, when edns
	do      bool   // DNSSEC OK bit, when edns
}

// parseQuery parses b into q and reports whether b has the common shape.
// When it does not, the general path (miekg/dns) takes the packet.
func parseQuery(b []byte, q *query) bool {
	if len(b) < hdrLen {
		return false
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&(flagQR|maskOp) != 0 {
		return false
	}
	if binary.BigEndian.Uint16(b[4:]) != 1 || binary.BigEndian.Uint16(b[6:]) != 0 ||
		binary.BigEndian.Uint16(b[8:]) != 0 {
		return false
	}
	ar := binary.BigEndian.Uint16(b[10:])
	if ar > 1 {
		return false
	}
	off, n := hdrLen, 0
	for {
		if off >= len(b) {
			return false
		}
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		// l > 63 covers compression pointers, which a question never needs.
		if l > 63 || off+l > len(b) || n+l+1 > len(q.name) {
			return false
		}
		if n > 0 {
			q.name[n] = '.'
			n++
		}
		for _, c := range b[off : off+l] {
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			default:
				return false
			}
			q.name[n] = c
			n++
		}
		off += l
	}
	if n == 0 || off+4 > len(b) || binary.BigEndian.Uint16(b[off+2:]) != classIN {
		return false
	}
	q.nameLen = n
	q.qtype = binary.BigEndian.Uint16(b[off:])
	off += 4
	q.qend = off
	q.edns = ar == 1
	if !q.edns {
		return off == len(b)
	}
	// OPT: root name, type, class = UDP size, TTL = ext rcode, version,
	// flags, then rdata.
	if off+optLen > len(b) || b[off] != 0 || binary.BigEndian.Uint16(b[off+1:]) != typeOPT ||
		b[off+5] != 0 || b[off+6] != 0 {
		return false
	}
	q.udpSize = binary.BigEndian.Uint16(b[off+3:])
	q.do = b[off+7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(b[off+9:]))
	return off+optLen+rdlen == len(b)
}

// udpLimit is the largest UDP reply the client of q accepts.
func (q *query) udpLimit() int {
	if !q.edns || q.udpSize <= minUDP {
		return minUDP
	}
	return min(int(q.udpSize), maxUDP)
}

// appendAnswer appends to out the reply to req (parsed as q) carrying
// those of addrs that match the asked family (A: IPv4, AAAA: IPv6), from
// index start on, wrapping around. Records that would make the reply
// longer than limit are left out and TC is set.
func appendAnswer(out, req []byte, q *query, addrs []netip.Addr, start int, ttl uint32, limit int) []byte {
	hdr := len(out)
	out = appendHeader(out, req, q, 0)
	out = append(out, req[hdrLen:q.qend]...)
	reserve := 0
	if q.edns {
		reserve = optLen
	}
	v6 := q.qtype == typeAAA
	var count uint16
	for i := range addrs {
		a := addrs[(start+i)%len(addrs)]
		if v6 {
			if !a.Is6() || a.Is4In6() {
				continue
			}
		} else {
			if a = a.Unmap(); !a.Is4() {
				continue
			}
		}
		size := 12 + 4
		if v6 {
			size = 12 + 16
		}
		if len(out)-hdr+size+reserve > limit {
			out[hdr+2] |= flagTC >> 8
			break
		}
		out = append(out, 0xc0, hdrLen) // pointer to the question's name
		out = binary.BigEndian.AppendUint16(out, q.qtype)
		out = binary.BigEndian.AppendUint16(out, classIN)
		out = binary.BigEndian.AppendUint32(out, ttl)
		if v6 {
			b := a.As16()
			out = binary.BigEndian.AppendUint16(out, 16)
			out = append(out, b[:]...)
		} else {
			b := a.As4()
			out = binary.BigEndian.AppendUint16(out, 4)
			out = append(out, b[:]...)
		}
		count++
	}
	binary.BigEndian.PutUint16(out[hdr+6:], count)
	if q.edns {
		out = appendOPT(out, q.do)
	}
	return out
}

// appendHeader appends the header of a reply to req with the given
// rcode, one question and an OPT record when the query had one.
func appendHeader(out, req []byte, q *query, rcode uint16) []byte {
	flags := binary.BigEndian.Uint16(req[2:])
	flags = flags&(flagRD|flagCD) | flagQR | flagAA | flagRA | rcode
	out = append(out, req[0], req[1])
	out = binary.BigEndian.AppendUint16(out, flags)
	out = append(out, 0, 1, 0, 0, 0, 0, 0, 0)
	if q.edns {
		out[len(out)-1] = 1
	}
	return out
}

// appendOPT appends an OPT record without options.
func appendOPT(out []byte, do bool) []byte {
	var flags byte
	if do {
		flags = 0x80
	}
	return append(out, 0, 0, typeOPT, advertisedUDP>>8, advertisedUDP&0xff, 0, 0, flags, 0, 0, 0)
}

// appendRcode appends an empty reply to req (parsed as q) with rcode.
func appendRcode(out, req []byte, q *query, rcode uint16) []byte {
	hdr := len(out)
	out = appendHeader(out, req, q, rcode)
	out[hdr+2] &^= flagAA >> 8
	out = append(out, req[hdrLen:q.qend]...)
	if q.edns {
		out = appendOPT(out, q.do)
	}
	return out
}
