package dns

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// answering is an upstream that knows example.com (and a big name with
// 60 addresses, truncated over UDP) and says NXDOMAIN for anything else.
func answering(t testing.TB) netip.AddrPort {
	return upstream(t, func(w mdns.ResponseWriter, req *mdns.Msg) {
		resp := new(mdns.Msg)
		resp.SetReply(req)
		q := req.Question[0]
		switch q.Name {
		case "example.com.":
			resp.Answer = append(resp.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 300},
				A:   net.IPv4(192, 0, 2, 80)})
		case "big.example.com.":
			for i := range 60 {
				resp.Answer = append(resp.Answer, &mdns.A{
					Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 300},
					A:   net.IPv4(192, 0, 2, byte(i))})
			}
			if w.LocalAddr().Network() == "udp" {
				resp.Truncate(512)
			}
		default:
			resp.Rcode = mdns.RcodeNameError
		}
		if opt := req.IsEdns0(); opt != nil {
			// Echo the client's options, and add one, to check passthrough.
			resp.SetEdns0(4096, opt.Do())
			ro := resp.IsEdns0()
			ro.Option = append(ro.Option, opt.Option...)
			ro.Option = append(ro.Option, &mdns.EDNS0_LOCAL{Code: 65001, Data: []byte("upstream")})
		}
		_ = w.WriteMsg(resp)
	})
}

// failing is an upstream that answers rcode to everything.
func failing(t testing.TB, rcode int, calls *atomic.Int32) netip.AddrPort {
	return upstream(t, func(w mdns.ResponseWriter, req *mdns.Msg) {
		calls.Add(1)
		resp := new(mdns.Msg)
		resp.SetRcode(req, rcode)
		_ = w.WriteMsg(resp)
	})
}

func upstreams(ups ...netip.AddrPort) func() []netip.AddrPort {
	return func() []netip.AddrPort { return ups }
}

// dead returns an address nobody listens on (UDP and TCP).
func dead(t testing.TB) netip.AddrPort {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	_ = pc.Close()
	return ap
}

func TestForward(t *testing.T) {
	var servfails, refusals atomic.Int32
	good := answering(t)
	tests := []struct {
		name    string
		ups     []netip.AddrPort
		qname   string
		network string
		rcode   int
		answers int
	}{
		{"answer", []netip.AddrPort{good}, "example.com", "udp", mdns.RcodeSuccess, 1},
		{"answer over tcp", []netip.AddrPort{good}, "example.com", "tcp", mdns.RcodeSuccess, 1},
		{"NXDOMAIN passes through", []netip.AddrPort{good}, "nowhere.example", "udp", mdns.RcodeNameError, 0},
		{"NXDOMAIN over tcp", []netip.AddrPort{good}, "nowhere.example", "tcp", mdns.RcodeNameError, 0},
		{"no upstreams", nil, "example.com", "udp", mdns.RcodeServerFailure, 0},
		{"dead upstream", []netip.AddrPort{dead(t)}, "example.com", "udp", mdns.RcodeServerFailure, 0},
		{"dead, then good", []netip.AddrPort{dead(t), good}, "example.com", "udp", mdns.RcodeSuccess, 1},
		{"SERVFAIL, then good", []netip.AddrPort{failing(t, mdns.RcodeServerFailure, &servfails), good}, "example.com", "udp", mdns.RcodeSuccess, 1},
		{"REFUSED everywhere", []netip.AddrPort{failing(t, mdns.RcodeRefused, &refusals)}, "example.com", "udp", mdns.RcodeRefused, 0},
		{"truncated over udp: retried over tcp", []netip.AddrPort{good}, "big.example.com", "udp", mdns.RcodeSuccess, 60},
		{"a local name is not forwarded", nil, "web", "udp", mdns.RcodeSuccess, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, Config{Upstreams: upstreams(tc.ups...), Timeout: time.Second}, testView())
			m := question(tc.qname, mdns.TypeA)
			m.SetEdns0(4096, false)
			resp := ask(t, tc.network, s.addr, m)
			if resp.Id != m.Id || resp.Rcode != tc.rcode || len(resp.Answer) != tc.answers {
				t.Fatalf("id %d rcode %s with %d answers, want id %d, %s with %d",
					resp.Id, mdns.RcodeToString[resp.Rcode], len(resp.Answer), m.Id, mdns.RcodeToString[tc.rcode], tc.answers)
			}
		})
	}
	if servfails.Load() == 0 || refusals.Load() == 0 {
		t.Errorf("failing upstreams asked %d and %d times", servfails.Load(), refusals.Load())
	}
}

func TestForwardEDNS0Passthrough(t *testing.T) {
	var got atomic.Pointer[mdns.OPT]
	good := answering(t)
	spy := upstream(t, func(w mdns.ResponseWriter, req *mdns.Msg) {
		got.Store(req.IsEdns0())
		c := &mdns.Client{Net: "udp"}
		resp, _, err := c.Exchange(req, good.String())
		if err == nil {
			_ = w.WriteMsg(resp)
		}
	})
	s := serve(t, Config{Upstreams: upstreams(spy)}, testView())
	m := question("example.com", mdns.TypeA)
	m.SetEdns0(3000, true)
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"})
	resp := ask(t, "udp", s.addr, m)
	up := got.Load()
	if up == nil || up.UDPSize() != 3000 || !up.Do() || len(up.Option) != 1 || up.Option[0].String() != "0102030405060708" {
		t.Fatalf("upstream saw OPT %v, want the client's", up)
	}
	ro := resp.IsEdns0()
	if ro == nil || len(ro.Option) != 2 || ro.Option[1].(*mdns.EDNS0_LOCAL).Code != 65001 {
		t.Fatalf("client got OPT %v, want the upstream's", ro)
	}
}

func TestForwardBoundedTime(t *testing.T) {
	const timeout = 150 * time.Millisecond
	ups := []netip.AddrPort{blackhole(t), blackhole(t), blackhole(t), blackhole(t)}
	s := serve(t, Config{Upstreams: upstreams(ups...), Timeout: timeout}, testView())
	start := time.Now()
	resp := ask(t, "udp", s.addr, question("example.com", mdns.TypeA))
	elapsed := time.Since(start)
	if resp.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[resp.Rcode])
	}
	// Three upstreams tried (MaxUpstreams), each for one timeout.
	if limit := MaxUpstreams*timeout + time.Second; elapsed > limit || elapsed < MaxUpstreams*timeout {
		t.Errorf("SERVFAIL after %v, want about %v", elapsed, MaxUpstreams*timeout)
	}
}

func TestForwardFlood(t *testing.T) {
	const inflight = 8
	before := runtime.NumGoroutine()
	s := serve(t, Config{Upstreams: upstreams(blackhole(t)), Timeout: 300 * time.Millisecond, MaxInflight: inflight}, testView())
	c, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 300
	var replies sync.WaitGroup
	var servfails atomic.Int32
	replies.Go(func() {
		buf := make([]byte, 512)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for range n {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			var m mdns.Msg
			if m.Unpack(buf[:k]) == nil && m.Rcode == mdns.RcodeServerFailure {
				servfails.Add(1)
			}
		}
	})
	peak := 0
	for i := range n {
		m := question("flood.example", mdns.TypeA)
		m.Id = uint16(i)
		b, _ := m.Pack()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, runtime.NumGoroutine())
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // no loss in socket buffers
		}
	}
	// Serve's readers and accept loop, the blackhole and the upstream
	// servers, the reply reader, and at most inflight forwards.
	if limit := before + 10 + inflight; peak > limit {
		t.Errorf("%d goroutines during the flood, want at most %d", peak, limit)
	}
	replies.Wait()
	if servfails.Load() != n {
		t.Errorf("%d SERVFAIL replies, want %d (those beyond the bound at once, the others after the timeout)", servfails.Load(), n)
	}
	s.stop()
	<-s.done
	waitGoroutines(t, before+2)
}

// packetConn hides the *net.UDPConn under a net.PacketConn.
type packetConn struct{ net.PacketConn }

// TestSocketKinds serves an IPv6 UDP socket (no batch I/O) and a plain
// net.PacketConn, and checks local answers and forwarding on both.
func TestSocketKinds(t *testing.T) {
	good := answering(t)
	for _, kind := range []string{"udp6", "PacketConn"} {
		t.Run(kind, func(t *testing.T) {
			var pc net.PacketConn
			var err error
			if kind == "udp6" {
				pc, err = net.ListenPacket("udp6", "[::1]:0")
			} else {
				pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
				pc = packetConn{pc}
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				New(Config{Upstreams: upstreams(good)}).Serve(ctx, pc, nil, testView())
			}()
			defer func() { cancel(); <-done }()
			addr := pc.LocalAddr().String()
			if resp := ask(t, "udp", addr, question("web", mdns.TypeA)); len(resp.Answer) != 1 {
				t.Errorf("local: %v", resp)
			}
			if resp := ask(t, "udp", addr, question("example.com", mdns.TypeA)); len(resp.Answer) != 1 {
				t.Errorf("forwarded: %v", resp)
			}
		})
	}
}
