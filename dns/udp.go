package dns

import (
	"errors"
	"net"
	"slices"
	"time"

	mdns "github.com/miekg/dns"
)

// readPackets answers the queries on a net.PacketConn other than a
// *net.UDPConn (which the poller serves), one per system call, until
// the server stops.
func (s *server) readPackets(c net.PacketConn) {
	buf := make([]byte, maxUDP)
	out := make([]byte, 0, maxUDP)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if s.stopped(err) {
				return
			}
			continue
		}
		resp, v := s.r.handle(s.view, buf[:n], out[:0], false)
		switch v {
		case verdictReply:
			_, _ = c.WriteTo(resp, from)
		case verdictForward:
			s.forwardUDP(buf[:n], func(resp []byte) { _, _ = c.WriteTo(resp, from) })
		}
	}
}

// forwardUDP forwards req in a goroutine of its own, which calls reply
// with the answer; with MaxInflight forwards under way, it answers
// SERVFAIL at once instead.
func (s *server) forwardUDP(req []byte, reply func([]byte)) {
	if !s.r.acquire() {
		if resp := rcodeFor(req, mdns.RcodeServerFailure, false); resp != nil {
			reply(resp)
		}
		return
	}
	req = slices.Clone(req)
	s.wg.Go(func() {
		defer s.r.release()
		var q query
		var limit int
		if parseQuery(req, &q) {
			limit = q.udpLimit()
		} else {
			limit = udpLimitSlow(req)
		}
		if resp := s.r.forward(s.ctx, req, false, limit); resp != nil {
			reply(resp)
		}
	})
}

// stopped reports whether a read error means the socket is done, and
// pauses a little after any other error so a persistent one cannot spin.
func (s *server) stopped(err error) bool {
	if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
		return true
	}
	time.Sleep(time.Millisecond)
	return false
}
