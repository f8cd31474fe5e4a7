package dns

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/patchbay/patchbay/internal/dnsload"
)

// loadResult is what one run of the load generator measured.
type loadResult = dnsload.Result

// runLoad runs the load generator against addr (see dnsload.Run).
func runLoad(addr, name string, window, n int) (loadResult, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return loadResult{}, err
	}
	defer c.Close()
	return dnsload.Run(c.(*net.UDPConn), name, window, n)
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
