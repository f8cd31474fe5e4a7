package firewall_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/patchbay/patchbay/firewall"
)

// BenchmarkMappingAdd reports the latency of adding (and removing) one
// published port with no other mappings and with 10,000, and the rule
// count, which must not grow. Run: go test -run '^$' -bench . -benchtime 1x ./firewall
func BenchmarkMappingAdd(b *testing.B) {
	fw, h := newFirewallB(b)
	if err := fw.Sync(firewall.State{Networks: []firewall.Network{{Bridge: "patchbay0", Masquerade: true, ICC: true}}}); err != nil {
		b.Fatal(err)
	}
	mapping := func(i int) firewall.Mapping {
		return firewall.Mapping{HostPort: uint16(1024 + i%60000), Proto: []string{"tcp", "udp"}[i/60000], Addr: netip.AddrFrom4([4]byte{172, 17, byte(i >> 8), byte(i)}), Port: 80}
	}
	// measure is the p50 of adding (then removing) each of n mappings.
	measure := func(n int, m func(i int) firewall.Mapping) time.Duration {
		var d []time.Duration
		for i := range n {
			m := m(i)
			start := time.Now()
			if err := fw.Update(nil, nil, []firewall.Mapping{m}, nil); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(start))
			if err := fw.Update(nil, nil, nil, []firewall.Mapping{m}); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	rules := func() int { return countRules(b, h) }
	r0 := rules()
	at0 := measure(200, func(i int) firewall.Mapping { return mapping(50000 + i) })
	var bulk []firewall.Mapping
	for i := 0; i < 10000; i++ {
		bulk = append(bulk, mapping(i))
	}
	start := time.Now()
	if err := fw.Update(nil, nil, bulk, nil); err != nil {
		b.Fatal(err)
	}
	bulkTime := time.Since(start)
	at10k := measure(200, func(i int) firewall.Mapping { return mapping(50000 + i) })
	r10k := rules()
	// Runs of ports live in interval maps, whose cost grows with the
	// number of runs (not of ports): a 100-port run with none and with
	// 1,000 other runs.
	run := func(i int) firewall.Mapping {
		return firewall.Mapping{HostPort: uint16(1024 + i*50), Count: 40, Proto: "udp", Addr: netip.AddrFrom4([4]byte{172, 18, byte(i >> 8), byte(i)}), Port: 7000}
	}
	measureRun := func() time.Duration { return measure(50, func(int) firewall.Mapping { return run(1200) }) }
	run0 := measureRun()
	var runs []firewall.Mapping
	for i := 0; i < 1000; i++ {
		runs = append(runs, run(i))
	}
	if err := fw.Update(nil, nil, runs, nil); err != nil {
		b.Fatal(err)
	}
	run1k := measureRun()
	b.ReportMetric(float64(run0.Microseconds())/1000, "run-add@0-p50-ms")
	b.ReportMetric(float64(run1k.Microseconds())/1000, "run-add@1000runs-p50-ms")
	b.ReportMetric(float64(at0.Microseconds())/1000, "add@0-p50-ms")
	b.ReportMetric(float64(at10k.Microseconds())/1000, "add@10000-p50-ms")
	b.ReportMetric(float64(at10k)/float64(at0), "add@10000/add@0")
	b.ReportMetric(float64(bulkTime.Microseconds())/1000, "add-10000-at-once-ms")
	b.ReportMetric(float64(r0), "rules@0")
	b.ReportMetric(float64(r10k), "rules@10000")
	fmt.Printf("mapping add p50: %v with none, %v with 10,000 (%.2fx); 10,000 in one transaction: %v; rules %d -> %d; 40-port run add p50: %v with no runs, %v with 1,000 runs\n",
		at0, at10k, float64(at10k)/float64(at0), bulkTime, r0, r10k, run0, run1k)
}
