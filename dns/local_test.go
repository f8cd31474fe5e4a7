package dns

import (
	"net"
	"slices"
	"sort"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// answers returns the answer records of m as strings of their data,
// sorted.
func answers(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		case *mdns.PTR:
			out = append(out, rr.Ptr)
		default:
			out = append(out, rr.String())
		}
	}
	sort.Strings(out)
	return out
}

func TestLocalAnswers(t *testing.T) {
	s := serve(t, Config{}, testView())
	tests := []struct {
		name  string
		qname string
		qtype uint16
		edns  bool
		want  []string
	}{
		{"A", "web", mdns.TypeA, false, []string{"172.18.0.2"}},
		{"A with EDNS0", "web", mdns.TypeA, true, []string{"172.18.0.2"}},
		{"upper case", "WeB.", mdns.TypeA, false, []string{"172.18.0.2"}},
		{"alias", "database", mdns.TypeA, false, []string{"172.18.0.3"}},
		{"several", "pool", mdns.TypeA, false, []string{"172.18.0.10", "172.18.0.11", "172.18.0.12"}},
		{"AAAA", "db", mdns.TypeAAAA, false, []string{"fd00::3"}},
		{"AAAA with EDNS0", "db", mdns.TypeAAAA, true, []string{"fd00::3"}},
		{"no AAAA", "web", mdns.TypeAAAA, false, nil},
		{"no A", "v6only", mdns.TypeA, false, nil},
		{"no address at all", "noaddr", mdns.TypeA, false, nil},
		{"MX of a local name", "web", mdns.TypeMX, false, nil},
		{"TXT of a local name", "db", mdns.TypeTXT, true, nil},
		{"PTR IPv4", "2.0.18.172.in-addr.arpa", mdns.TypePTR, false, []string{"web."}},
		{"PTR IPv4, upper case", "3.0.18.172.IN-ADDR.ARPA", mdns.TypePTR, false, []string{"database.", "db."}},
		{"PTR IPv6", mustReverse("fd00::3"), mdns.TypePTR, true, []string{"db."}},
		{"escaped label", `w\.eb`, mdns.TypeA, false, nil}, // unknown: SERVFAIL, no upstreams
	}
	for _, tc := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				m := question(tc.qname, tc.qtype)
				if tc.edns {
					m.SetEdns0(1400, true)
				}
				resp := ask(t, network, s.addr, m)
				if tc.qname == `w\.eb` {
					if resp.Rcode != mdns.RcodeServerFailure {
						t.Fatalf("rcode %s, want SERVFAIL", mdns.RcodeToString[resp.Rcode])
					}
					return
				}
				if resp.Rcode != mdns.RcodeSuccess || !resp.Authoritative || !resp.RecursionAvailable || resp.Id != m.Id {
					t.Fatalf("header %+v, want NOERROR, AA, RA, id %d", resp.MsgHdr, m.Id)
				}
				if got := answers(resp); !slices.Equal(got, tc.want) {
					t.Errorf("answers %q, want %q", got, tc.want)
				}
				if len(resp.Question) != 1 || resp.Question[0] != m.Question[0] {
					t.Errorf("question %v, want %v", resp.Question, m.Question)
				}
				for _, rr := range resp.Answer {
					if rr.Header().Ttl != DefaultTTL || rr.Header().Name != m.Question[0].Name {
						t.Errorf("record %v: want TTL %d and the asked name", rr, DefaultTTL)
					}
				}
				opt := resp.IsEdns0()
				if (opt != nil) != tc.edns {
					t.Fatalf("OPT in reply %v, want %v", opt, tc.edns)
				}
				if opt != nil && !opt.Do() {
					t.Errorf("DO bit not copied")
				}
			})
		}
	}
}

func mustReverse(s string) string {
	r, err := mdns.ReverseAddr(s)
	if err != nil {
		panic(err)
	}
	return r
}

func TestRotation(t *testing.T) {
	s := serve(t, Config{}, testView())
	first := map[string]int{}
	for range 30 {
		resp := ask(t, "udp", s.addr, question("pool", mdns.TypeA))
		if len(resp.Answer) != 3 {
			t.Fatalf("%d answers, want 3", len(resp.Answer))
		}
		first[resp.Answer[0].(*mdns.A).A.String()]++
	}
	if len(first) != 3 {
		t.Errorf("first addresses %v, want each of the three in turn", first)
	}
}

func TestTruncation(t *testing.T) {
	s := serve(t, Config{}, testView())
	tests := []struct {
		name    string
		network string
		edns    uint16
		full    bool
		maxLen  int
	}{
		{"udp, no EDNS0", "udp", 0, false, 512},
		{"udp, EDNS0 600", "udp", 600, false, 600},
		{"udp, EDNS0 4096", "udp", 4096, true, 4096},
		{"tcp", "tcp", 0, true, 65535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := question("big", mdns.TypeA)
			if tc.edns != 0 {
				m.SetEdns0(tc.edns, false)
			}
			resp := ask(t, tc.network, s.addr, m)
			resp.Compress = true // as it came on the wire
			if l := resp.Len(); l > tc.maxLen {
				t.Errorf("reply of %d bytes, want at most %d", l, tc.maxLen)
			}
			if tc.full != !resp.Truncated || tc.full != (len(resp.Answer) == 40) {
				t.Errorf("TC %v with %d answers, want full answer %v", resp.Truncated, len(resp.Answer), tc.full)
			}
			if !tc.full && len(resp.Answer) == 0 {
				t.Errorf("truncated answer without records; want as many as fit")
			}
		})
	}
	// A client following TC gets the whole answer.
	resp, _, err := (&mdns.Client{Net: "udp"}).Exchange(question("big", mdns.TypeA), s.addr)
	if err != nil || !resp.Truncated {
		t.Fatalf("udp: %v, TC %v", err, resp != nil && resp.Truncated)
	}
	resp = ask(t, "tcp", s.addr, question("big", mdns.TypeA))
	if len(resp.Answer) != 40 {
		t.Errorf("tcp after TC: %d answers, want 40", len(resp.Answer))
	}
}

func TestTCPSeveralQueriesPerConnection(t *testing.T) {
	s := serve(t, Config{}, testView())
	c, err := (&mdns.Client{Net: "tcp", Timeout: 5 * time.Second}).Dial(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, name := range []string{"web", "db", "pool", "big", "web"} {
		m := question(name, mdns.TypeA)
		if err := c.WriteMsg(m); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		resp, err := c.ReadMsg()
		if err != nil || resp.Id != m.Id || len(resp.Answer) == 0 {
			t.Fatalf("query %d (%s): %v %v", i, name, err, resp)
		}
	}
}

func TestMalformed(t *testing.T) {
	s := serve(t, Config{}, testView())
	c, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name  string
		pkt   []byte
		reply bool // a FORMERR with the ID, else nothing
	}{
		{"empty", []byte{}, false},
		{"short", []byte{1, 2, 3}, false},
		{"header only, one question", []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, true},
		{"label past the end", []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 'a'}, true},
		{"pointer loop", []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, true},
		{"a response", []byte{0xab, 0xcd, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"a garbled response", []byte{0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 5}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Write(tc.pkt); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1024)
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Read(buf)
			if !tc.reply {
				if err == nil {
					t.Fatalf("reply %x to a packet that should be dropped", buf[:n])
				}
				return
			}
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			var m mdns.Msg
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatalf("unpack reply: %v", err)
			}
			if m.Id != 0xabcd || m.Rcode != mdns.RcodeFormatError || !m.Response {
				t.Errorf("reply %v, want FORMERR with id 0xabcd", m.MsgHdr)
			}
		})
	}
	// Still answering others.
	if resp := ask(t, "udp", s.addr, question("web", mdns.TypeA)); len(resp.Answer) != 1 {
		t.Errorf("after malformed packets: %v", resp)
	}
}

func TestOtherOpcodeAndVersion(t *testing.T) {
	s := serve(t, Config{}, testView())
	m := question("web", mdns.TypeA)
	m.Opcode = mdns.OpcodeStatus
	if resp := ask(t, "udp", s.addr, m); resp.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("STATUS: rcode %s, want NOTIMP", mdns.RcodeToString[resp.Rcode])
	}
	m = question("web", mdns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	if resp := ask(t, "udp", s.addr, m); resp.Rcode != mdns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", mdns.RcodeToString[resp.Rcode])
	}
}
