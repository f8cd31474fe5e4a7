// Command dnsload runs the dnsload generator as a process of its own, so
// that a benchmark can measure a resolver the way a program inside a
// sandbox meets it. It prints the result as JSON.
//
//	dnsload -server 127.0.0.11:53 -name target -window 1 -n 20000
//
// With -echo it is instead the floor to compare a resolver with: a
// responder that turns each query around unparsed, from one thread
// blocked in recvfrom, the least a user-space server can do per query.
//
//	dnsload -echo 127.0.0.1:5300
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/patchbay/patchbay/internal/dnsload"
)

func main() {
	server := flag.String("server", "127.0.0.11:53", "resolver address")
	name := flag.String("name", "", "name to query (A)")
	window := flag.Int("window", 1, "queries outstanding")
	n := flag.Int("n", 10000, "queries to measure")
	warm := flag.Int("warm", 1000, "queries sent first, not measured")
	echo := flag.String("echo", "", "answer queries on this address instead (floor)")
	flag.Parse()
	if *echo != "" {
		if err := serveEcho(*echo); err != nil {
			fmt.Fprintln(os.Stderr, "dnsload:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*server, *name, *window, *n, *warm); err != nil {
		fmt.Fprintln(os.Stderr, "dnsload:", err)
		os.Exit(1)
	}
}

func run(server, name string, window, n, warm int) error {
	if name == "" {
		return fmt.Errorf("no -name")
	}
	c, err := net.Dial("udp4", server)
	if err != nil {
		return err
	}
	defer c.Close()
	uc := c.(*net.UDPConn)
	if warm > 0 {
		if _, err := dnsload.Run(uc, name, window, warm); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}
	r, err := dnsload.Run(uc, name, window, n)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
