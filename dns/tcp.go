package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"time"

	mdns "github.com/miekg/dns"
)

// serveTCP accepts client connections on l until it is closed.
func (s *server) serveTCP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if s.stopped(err) {
				return
			}
			continue
		}
		if s.tcpConns.Add(1) > maxTCPConns {
			s.tcpConns.Add(-1)
			_ = c.Close()
			continue
		}
		s.wg.Go(func() {
			defer s.tcpConns.Add(-1)
			s.serveConn(c)
		})
	}
}

// serveConn answers the length-prefixed queries of one TCP client, one
// after the other, until it goes away, stays idle for tcpIdle, or the
// server stops.
func (s *server) serveConn(c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { _ = c.Close() })
	defer stop()
	br := bufio.NewReaderSize(c, 4096)
	req := make([]byte, maxTCP)
	out := make([]byte, 2, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(br, req[:2]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(req))
		if _, err := io.ReadFull(br, req[:n]); err != nil {
			return
		}
		resp, v := s.r.handle(s.view, req[:n], out[:2], true)
		switch v {
		case verdictDrop:
			continue
		case verdictForward:
			resp = s.forwardTCP(req[:n])
			if resp == nil {
				continue
			}
			resp = append(out[:2], resp...)
		}
		binary.BigEndian.PutUint16(resp, uint16(len(resp)-2))
		_ = c.SetWriteDeadline(time.Now().Add(tcpIdle))
		if _, err := c.Write(resp); err != nil {
			return
		}
		out = resp[:2]
	}
}

// forwardTCP forwards req within the MaxInflight bound.
func (s *server) forwardTCP(req []byte) []byte {
	if !s.r.acquire() {
		return rcodeFor(req, mdns.RcodeServerFailure, true)
	}
	defer s.r.release()
	return s.r.forward(s.ctx, req, true, maxTCP)
}
