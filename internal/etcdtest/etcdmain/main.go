// Command etcdmain runs a single-member etcd test server (see package
// etcdtest) until SIGTERM or SIGINT. It prints "ready" on stdout when the
// server serves clients. Tests build it and run it under nsenter, so the
// server lives in a test network namespace.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/patchbay/patchbay/internal/etcdtest"
	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	name := flag.String("name", "patchbay-test", "member name")
	dir := flag.String("data-dir", "", "data directory (required)")
	client := flag.String("client", "", "client address host:port (required)")
	peer := flag.String("peer", "", "peer address host:port (required)")
	flag.Parse()
	if *dir == "" || *client == "" || *peer == "" {
		fmt.Fprintln(os.Stderr, "etcdmain: -data-dir, -client and -peer are required")
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	e, err := embed.StartEtcd(etcdtest.Config(*name, *dir, *client, *peer))
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdmain:", err)
		os.Exit(1)
	}
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("ready")
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcdmain:", err)
		os.Exit(1)
	case <-sig:
		e.Close()
		return
	}
	select {
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcdmain:", err)
		e.Close()
		os.Exit(1)
	case <-sig:
		e.Close()
	}
}
