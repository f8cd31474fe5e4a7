package dns

import (
	"net"

	"golang.org/x/net/ipv4"
)

// udpBatch is how many packets one system call reads or writes at most.
const udpBatch = 32

// readBatch is readUDP reading and writing up to udpBatch packets per
// system call (recvmmsg, sendmmsg): when queries queue up, one call
// takes them all and one call sends every local answer.
func (s *server) readBatch(c *net.UDPConn) {
	pc := ipv4.NewPacketConn(c)
	rms := make([]ipv4.Message, udpBatch)
	wms := make([]ipv4.Message, udpBatch)
	outs := make([][]byte, udpBatch)
	for i := range udpBatch {
		rms[i].Buffers = [][]byte{make([]byte, maxUDP)}
		wms[i].Buffers = make([][]byte, 1)
		outs[i] = make([]byte, 0, maxUDP)
	}
	for {
		n, err := pc.ReadBatch(rms, 0)
		if err != nil {
			if s.stopped(err) {
				return
			}
			continue
		}
		w := 0
		for _, m := range rms[:n] {
			req := m.Buffers[0][:m.N]
			resp, v := s.r.handle(s.view, req, outs[w][:0], false)
			switch v {
			case verdictReply:
				wms[w].Buffers[0] = resp
				wms[w].Addr = m.Addr
				w++
			case verdictForward:
				from, ok := m.Addr.(*net.UDPAddr)
				if !ok {
					continue
				}
				to := from.AddrPort()
				s.forwardUDP(req, func(resp []byte) { _, _ = c.WriteToUDPAddrPort(resp, to) })
			}
		}
		for done := 0; done < w; {
			k, err := pc.WriteBatch(wms[done:w], 0)
			if err != nil {
				// Skip the message that failed (a client gone away).
				k++
			}
			done += k
		}
	}
}
