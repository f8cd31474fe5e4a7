package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestLoadClient is the load generator's entry point in the child process
// BenchmarkServe starts; in an ordinary test run it does nothing (and
// passes rather than skips, as CI wants).
func TestLoadClient(t *testing.T) {
	if _, err := loadFromEnv(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkServe measures a Resolver answering a local name over UDP on
// 127.0.0.1, with 1 and with 100 queries outstanding. The load
// generator runs in a child process, so the CPU time of this process is
// the resolver's: reported as server-cpu-% (100 = one core busy).
func BenchmarkServe(b *testing.B) {
	for _, window := range []int{1, 100} {
		b.Run(fmt.Sprintf("outstanding=%d", window), func(b *testing.B) {
			s := serve(b, Config{}, testView())
			cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClient$", "-test.v")
			cmd.Env = append(os.Environ(), "DNS_LOAD_ADDR="+s.addr,
				"DNS_LOAD_WINDOW="+strconv.Itoa(window), "DNS_LOAD_N="+strconv.Itoa(b.N))
			var out bytes.Buffer
			cmd.Stdout = &out
			cmd.Stderr = &out
			cpu0 := cpuTime()
			b.ResetTimer()
			err := cmd.Run()
			b.StopTimer()
			cpu := cpuTime() - cpu0
			if err != nil {
				b.Fatalf("load generator: %v\n%s", err, out.String())
			}
			res, err := parseLoad(out.String())
			if err != nil {
				b.Fatal(err)
			}
			if res.Lost > 0 {
				b.Logf("%d queries lost", res.Lost)
			}
			b.ReportMetric(res.QPS(), "qps")
			b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
			b.ReportMetric(100*cpu.Seconds()/res.Elapsed.Seconds(), "server-cpu-%")
		})
	}
}

func parseLoad(out string) (loadResult, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || f[0] != "LOAD" {
			continue
		}
		var v [5]int64
		for i := range v {
			v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		return loadResult{Queries: int(v[0]), Lost: int(v[1]), Elapsed: time.Duration(v[2]),
			P50: time.Duration(v[3]), P99: time.Duration(v[4])}, nil
	}
	return loadResult{}, fmt.Errorf("no result from the load generator:\n%s", out)
}

// cpuTime is the user and system time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandle measures answering one query without sockets.
func BenchmarkHandle(b *testing.B) {
	r := New(Config{})
	view := testView()
	for _, tc := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{{"web", mdns.TypeA, false}, {"pool", mdns.TypeA, true}, {"db", mdns.TypeAAAA, false}, {"web", mdns.TypeMX, false}} {
		m := question(tc.name, tc.qtype)
		if tc.edns {
			m.SetEdns0(1232, false)
		}
		req, _ := m.Pack()
		b.Run(fmt.Sprintf("%s/%s/edns=%v", tc.name, mdns.TypeToString[tc.qtype], tc.edns), func(b *testing.B) {
			out := make([]byte, 0, maxUDP)
			b.ReportAllocs()
			for b.Loop() {
				if _, v := r.handle(view, req, out[:0], false); v != verdictReply {
					b.Fatal("no reply")
				}
			}
		})
	}
}
