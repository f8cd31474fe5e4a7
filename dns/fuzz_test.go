package dns

import (
	"encoding/binary"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzHandle feeds arbitrary packets to the message handling of the
// resolver. It must not panic; a reply must be a well-formed DNS
// response with the query's ID, within the UDP size limit; and for the
// queries the fast path takes, the general path must answer the same.
func FuzzHandle(f *testing.F) {
	seed := func(name string, qtype uint16, edns uint16) {
		m := question(name, qtype)
		if edns != 0 {
			m.SetEdns0(edns, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("web", mdns.TypeA, 0)
	seed("DB", mdns.TypeAAAA, 1232)
	seed("pool", mdns.TypeA, 0)
	seed("big", mdns.TypeA, 700)
	seed("noaddr", mdns.TypeAAAA, 0)
	seed("web", mdns.TypeMX, 0)
	seed("2.0.18.172.in-addr.arpa", mdns.TypePTR, 0)
	seed(mustReverse("fd00::3"), mdns.TypePTR, 4096)
	seed("unknown.example", mdns.TypeA, 0)
	f.Add([]byte{})
	f.Add([]byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	f.Add([]byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 'w', 'e', 'b', 0, 0, 1, 0, 1, 0, 0, 41, 0x10, 0, 0, 1, 0, 0, 0, 0})

	r := New(Config{})
	view := testView()
	f.Fuzz(func(t *testing.T, req []byte) {
		for _, tcp := range []bool{false, true} {
			resp, v := r.handle(view, req, nil, tcp)
			if v != verdictReply {
				continue
			}
			var m mdns.Msg
			if err := m.Unpack(resp); err != nil {
				t.Fatalf("reply %x to %x does not parse: %v", resp, req, err)
			}
			if !m.Response || m.Id != binary.BigEndian.Uint16(req) {
				t.Fatalf("reply header %+v to %x", m.MsgHdr, req)
			}
			if !tcp && len(resp) > maxUDP {
				t.Fatalf("UDP reply of %d bytes", len(resp))
			}
			var q query
			if !parseQuery(req, &q) || (q.qtype != typeA && q.qtype != typeAAA) {
				continue
			}
			if !tcp && len(resp) > q.udpLimit() {
				t.Fatalf("UDP reply of %d bytes, client takes %d", len(resp), q.udpLimit())
			}
			slow, sv := r.handleSlow(view, req, nil, tcp)
			var sm mdns.Msg
			if sv != verdictReply || sm.Unpack(slow) != nil {
				t.Fatalf("general path: verdict %d, reply %x", sv, slow)
			}
			if m.Rcode != sm.Rcode || m.Truncated != sm.Truncated || len(m.Answer) != len(sm.Answer) ||
				(m.IsEdns0() == nil) != (sm.IsEdns0() == nil) || m.Authoritative != sm.Authoritative {
				t.Fatalf("fast path %v\ngeneral path %v", &m, &sm)
			}
			if !m.Truncated && !slices.Equal(answers(&m), answers(&sm)) {
				t.Fatalf("fast path answers %v, general path %v", answers(&m), answers(&sm))
			}
		}
	})
}
