// Package dnsload is a UDP DNS load generator for benchmarks: it keeps a
// number of queries outstanding on one socket and measures every reply's
// latency, batching its system calls so it costs little next to the
// server it measures.
package dnsload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// Result is what one run of the load generator measured.
type Result struct {
	Queries  int
	Lost     int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// QPS is the answered queries per second.
func (r Result) QPS() float64 { return float64(r.Queries) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%d queries in %v: %.0f qps, p50 %v, p99 %v, %d lost",
		r.Queries, r.Elapsed.Round(time.Millisecond), r.QPS(), r.P50, r.P99, r.Lost)
}

// Run sends n queries (A of name, no EDNS0) over the connected UDP socket
// c, keeping window of them outstanding, and measures each reply's
// latency. It reads and writes in batches (recvmmsg and sendmmsg) so that
// the generator costs little next to the server. Queries unanswered for a
// second count as lost and are replaced.
func Run(c *net.UDPConn, name string, window, n int) (Result, error) {
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	tmpl, err := q.Pack()
	if err != nil {
		return Result{}, err
	}
	pc := ipv4.NewPacketConn(c)
	const batch = 64
	wms := make([]ipv4.Message, batch)
	rms := make([]ipv4.Message, batch)
	for i := range batch {
		wms[i].Buffers = [][]byte{slices.Clone(tmpl)}
		rms[i].Buffers = [][]byte{make([]byte, 512)}
	}
	sentAt := make([]int64, 1<<16) // by ID: when sent (ns since start), 0 when not outstanding
	lat := make([]int64, 0, n)
	start := time.Now()
	var id uint16
	issued, outstanding, lost := 0, 0, 0
	send := func(k int) error {
		for k > 0 {
			m := min(k, batch)
			now := int64(time.Since(start)) + 1
			for i := range m {
				id++
				binary.BigEndian.PutUint16(wms[i].Buffers[0], id)
				sentAt[id] = now
			}
			if _, err := pc.WriteBatch(wms[:m], 0); err != nil {
				return err
			}
			k -= m
			issued += m
			outstanding += m
		}
		return nil
	}
	if err := send(min(window, n)); err != nil {
		return Result{}, err
	}
	for len(lat)+lost < n {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := pc.ReadBatch(rms, 0)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return Result{}, err
			}
			lost += outstanding
			outstanding = 0
			clear(sentAt)
		}
		now := int64(time.Since(start)) + 1
		for _, m := range rms[:k] {
			b := m.Buffers[0][:m.N]
			if len(b) < 12 { // a DNS header
				continue
			}
			rid := binary.BigEndian.Uint16(b)
			if sentAt[rid] == 0 {
				continue
			}
			lat = append(lat, now-sentAt[rid])
			sentAt[rid] = 0
			outstanding--
		}
		if err := send(min(window-outstanding, n-issued)); err != nil {
			return Result{}, err
		}
	}
	res := Result{Queries: len(lat), Lost: lost, Elapsed: time.Since(start)}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = time.Duration(lat[len(lat)/2])
		res.P99 = time.Duration(lat[len(lat)*99/100])
	}
	return res, nil
}
