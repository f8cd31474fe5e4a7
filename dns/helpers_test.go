package dns

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// fakeView is a View over fixed tables.
type fakeView struct {
	names   map[string][]netip.Addr // name → addresses of both families
	reverse map[netip.Addr][]string
}

func (v *fakeView) Lookup(name string, v6 bool) ([]netip.Addr, bool) {
	all, ok := v.names[name]
	if !ok {
		return nil, false
	}
	var out []netip.Addr
	for _, a := range all {
		if a.Is6() == v6 {
			out = append(out, a)
		}
	}
	return out, true
}

func (v *fakeView) Reverse(a netip.Addr) []string { return v.reverse[a] }

// testView has a few names: web (one IPv4), db (IPv4 and IPv6), pool
// (three IPv4), big (forty IPv4) and v6only.
func testView() *fakeView {
	v := &fakeView{names: map[string][]netip.Addr{}, reverse: map[netip.Addr][]string{}}
	add := func(name string, addrs ...string) {
		for _, s := range addrs {
			a := netip.MustParseAddr(s)
			v.names[name] = append(v.names[name], a)
			v.reverse[a] = append(v.reverse[a], name)
		}
	}
	add("web", "172.18.0.2")
	add("db", "172.18.0.3", "fd00::3")
	add("database", "172.18.0.3")
	add("pool", "172.18.0.10", "172.18.0.11", "172.18.0.12")
	add("v6only", "fd00::6")
	for i := range 40 {
		add("big", netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}).String())
	}
	v.names["noaddr"] = nil
	return v
}

// served is a Resolver serving a UDP socket and a TCP listener on
// 127.0.0.1 (one port) for the length of a test.
type served struct {
	addr string // host:port for both
	done chan struct{}
	stop context.CancelFunc
}

func serve(t testing.TB, cfg Config, view View) *served {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{addr: pc.LocalAddr().String(), done: make(chan struct{}), stop: cancel}
	r := New(cfg)
	go func() {
		defer close(s.done)
		r.Serve(ctx, pc, l, view)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return s
}

// upstream runs a miekg/dns server on 127.0.0.1 (UDP and TCP on one port)
// with handler, for the length of a test.
func upstream(t testing.TB, handler mdns.HandlerFunc) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	l, err := net.Listen("tcp4", ap.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return ap
}

// blackhole returns the address of a UDP socket that reads and never
// answers, and of no TCP listener.
func blackhole(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// ask sends a query for name and type over network ("udp" or "tcp") and
// returns the reply.
func ask(t testing.TB, network, addr string, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(m, addr)
	if err != nil && resp == nil {
		t.Fatalf("exchange %s %s: %v", network, m.Question[0].String(), err)
	}
	return resp
}

func question(name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	return m
}

// waitGoroutines waits until at most n goroutines run, or fails.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
