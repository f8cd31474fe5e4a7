package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

var errShort = errors.New("short reply")

// bufPool holds buffers for replies from upstream servers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, maxTCP); return &b }}

// forward asks the upstream servers about req, the client's query as it
// arrived (EDNS0 and all), and returns the first useful reply as it came,
// with the client's ID, or SERVFAIL when none came in time. Over UDP
// (tcp false) a truncated reply is asked again over TCP; a client over
// TCP is forwarded over TCP. limit is the largest reply the client takes.
func (r *Resolver) forward(ctx context.Context, req []byte, tcp bool, limit int) []byte {
	ups := r.cfg.Upstreams()
	if len(ups) > MaxUpstreams {
		ups = ups[:MaxUpstreams]
	}
	if len(ups) == 0 {
		return rcodeFor(req, mdns.RcodeServerFailure, tcp)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(ups))*r.cfg.Timeout)
	defer cancel()
	// A fresh ID (and, over UDP, a fresh source port per query) makes
	// spoofed replies harder to slip in.
	msg := slices.Clone(req)
	binary.BigEndian.PutUint16(msg, uint16(rand.Uint32()))
	var last []byte // a SERVFAIL or REFUSED, relayed if nothing better comes
	for _, up := range ups {
		resp, err := r.try(ctx, up, msg, tcp)
		if err != nil {
			r.cfg.Logger.Debug("forward dns query", "upstream", up, "err", err)
			continue
		}
		if rc := resp[3] & 0xf; rc == mdns.RcodeServerFailure || rc == mdns.RcodeRefused {
			last = resp
			continue
		}
		return relay(resp, req, limit)
	}
	if last != nil {
		return relay(last, req, limit)
	}
	return rcodeFor(req, mdns.RcodeServerFailure, tcp)
}

// try asks one upstream server, each exchange within Timeout.
func (r *Resolver) try(ctx context.Context, up netip.AddrPort, msg []byte, tcp bool) ([]byte, error) {
	if tcp {
		return r.exchange(ctx, "tcp", up, msg)
	}
	resp, err := r.exchange(ctx, "udp", up, msg)
	if err != nil || resp[2]&(flagTC>>8) == 0 {
		return resp, err
	}
	full, err := r.exchange(ctx, "tcp", up, msg)
	if err != nil {
		r.cfg.Logger.Debug("retry truncated dns reply over tcp", "upstream", up, "err", err)
		return resp, nil // the truncated reply still says something
	}
	return full, nil
}

// exchange sends msg to up over network ("udp" or "tcp") and returns the
// reply with the same ID.
func (r *Resolver) exchange(ctx context.Context, network string, up netip.AddrPort, msg []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, up.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", network, err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int
	if network == "tcp" {
		n, err = exchangeStream(c, msg, buf)
	} else {
		n, err = exchangePacket(c, msg, buf)
	}
	if err != nil {
		return nil, fmt.Errorf("exchange over %s: %w", network, err)
	}
	return slices.Clone(buf[:n]), nil
}

// exchangePacket writes msg on the connected UDP socket c and reads into
// buf until the reply to msg comes.
func exchangePacket(c net.Conn, msg, buf []byte) (int, error) {
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, err
		}
		if n >= hdrLen && buf[0] == msg[0] && buf[1] == msg[1] && buf[2]&(flagQR>>8) != 0 {
			return n, nil
		}
	}
}

// exchangeStream writes msg on the TCP connection c and reads the reply
// into buf.
func exchangeStream(c net.Conn, msg, buf []byte) (int, error) {
	frame := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	if _, err := c.Write(append(frame, msg...)); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(buf))
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		return 0, err
	}
	if n < hdrLen || buf[0] != msg[0] || buf[1] != msg[1] {
		return 0, errShort
	}
	return n, nil
}

// relay returns resp, a reply from upstream, with the ID of req and cut
// to limit (which only a misbehaving upstream makes necessary).
func relay(resp, req []byte, limit int) []byte {
	resp[0], resp[1] = req[0], req[1]
	if len(resp) <= limit {
		return resp
	}
	var m mdns.Msg
	if err := m.Unpack(resp); err != nil {
		return rcodeFor(req, mdns.RcodeServerFailure, false)
	}
	m.Truncate(limit)
	b, err := m.Pack()
	if err != nil {
		return rcodeFor(req, mdns.RcodeServerFailure, false)
	}
	return b
}

// rcodeFor returns an empty reply to req with rcode.
func rcodeFor(req []byte, rcode int, tcp bool) []byte {
	var q query
	if parseQuery(req, &q) {
		return appendRcode(nil, req, &q, uint16(rcode))
	}
	var m mdns.Msg
	if err := m.Unpack(req); err != nil {
		return appendFormErr(nil, req)
	}
	b, _ := pack(nil, rcodeReply(&m, rcode), tcp, m.IsEdns0())
	return b
}
