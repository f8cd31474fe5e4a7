package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// loadResult is what one run of the load generator measured.
type loadResult struct {
	Queries  int
	Lost     int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

func (r loadResult) qps() float64 { return float64(r.Queries) / r.Elapsed.Seconds() }

func (r loadResult) String() string {
	return fmt.Sprintf("%d queries in %v: %.0f qps, p50 %v, p99 %v, %d lost",
		r.Queries, r.Elapsed.Round(time.Millisecond), r.qps(), r.P50, r.P99, r.Lost)
}

// runLoad sends n queries (A of name, no EDNS0) to addr over UDP from one
// connected socket, keeping window of them outstanding, and measures
// each reply's latency. It reads and writes in batches (recvmmsg and
// sendmmsg) so that the generator costs little next to the server.
// Queries unanswered for a second count as lost and are replaced.
func runLoad(addr, name string, window, n int) (loadResult, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return loadResult{}, err
	}
	defer c.Close()
	q := question(name, mdns.TypeA)
	tmpl, err := q.Pack()
	if err != nil {
		return loadResult{}, err
	}
	pc := ipv4.NewPacketConn(c.(*net.UDPConn))
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
		return loadResult{}, err
	}
	for len(lat)+lost < n {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := pc.ReadBatch(rms, 0)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return loadResult{}, err
			}
			lost += outstanding
			outstanding = 0
			clear(sentAt)
		}
		now := int64(time.Since(start)) + 1
		for _, m := range rms[:k] {
			b := m.Buffers[0][:m.N]
			if len(b) < hdrLen {
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
			return loadResult{}, err
		}
	}
	res := loadResult{Queries: len(lat), Lost: lost, Elapsed: time.Since(start)}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = time.Duration(lat[len(lat)/2])
		res.P99 = time.Duration(lat[len(lat)*99/100])
	}
	return res, nil
}

// loadFromEnv runs the load generator as configured by the environment
// (DNS_LOAD_ADDR, DNS_LOAD_WINDOW, DNS_LOAD_N), for BenchmarkServe's
// child process; it reports whether it did.
func loadFromEnv() (bool, error) {
	addr := os.Getenv("DNS_LOAD_ADDR")
	if addr == "" {
		return false, nil
	}
	window, _ := strconv.Atoi(os.Getenv("DNS_LOAD_WINDOW"))
	n, _ := strconv.Atoi(os.Getenv("DNS_LOAD_N"))
	res, err := runLoad(addr, "web", max(window, 1), max(n, 1))
	if err != nil {
		return true, err
	}
	fmt.Printf("LOAD %d %d %d %d %d\n", res.Queries, res.Lost, res.Elapsed, res.P50, res.P99)
	return true, nil
}
