package dns

import (
	"net"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestPollerServesMany checks that one Resolver answers many sandboxes'
// sockets, over UDP and TCP, that stopping some leaves the others
// answering, and that its poller stops once none is left.
func TestPollerServesMany(t *testing.T) {
	r := New(Config{})
	type sandbox struct {
		udp, tcp string
		stop     func()
	}
	var sbs []sandbox
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		stop, err := r.Start(pc, l, testView())
		if err != nil {
			t.Fatal(err)
		}
		sbs = append(sbs, sandbox{pc.LocalAddr().String(), l.Addr().String(), func() { stop(); pc.Close(); l.Close() }})
	}
	check := func(sbs []sandbox) {
		t.Helper()
		for _, sb := range sbs {
			for network, addr := range map[string]string{"udp": sb.udp, "tcp": sb.tcp} {
				resp := ask(t, network, addr, question("web", mdns.TypeA))
				if len(resp.Answer) != 1 {
					t.Fatalf("%s %s: answer %v", network, addr, resp.Answer)
				}
			}
		}
	}
	check(sbs)
	for _, sb := range sbs[:10] {
		sb.stop()
	}
	check(sbs[10:])
	for _, sb := range sbs[10:] {
		sb.stop()
	}
	r.poll.mu.Lock()
	defer r.poll.mu.Unlock()
	if r.poll.ep != nil {
		t.Fatal("poller still running with no socket registered")
	}
}
