// Command pbtestplugin serves package testplugin's Docker network and
// IPAM plugin on a unix socket, making its links in the namespace
// -netns names. Tests build and run it (see testplugin.Build).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/patchbay/patchbay/internal/testplugin"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func main() {
	sock := flag.String("sock", "", "unix socket to listen on (required)")
	nsPath := flag.String("netns", "", "namespace to make links in (default: the process's own)")
	implements := flag.String("implements", "NetworkDriver,IpamDriver", "interfaces to implement")
	journal := flag.String("journal", "", "file to append every call to")
	state := flag.String("state", "", "file to keep the network driver's state in")
	flag.Parse()
	if err := run(*sock, *nsPath, strings.Split(*implements, ","), *journal, *state); err != nil {
		fmt.Fprintln(os.Stderr, "pbtestplugin:", err)
		os.Exit(1)
	}
}

func run(sock, nsPath string, implements []string, journal, state string) error {
	if sock == "" {
		return fmt.Errorf("-sock is required")
	}
	h := &netlink.Handle{}
	if nsPath != "" {
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", nsPath, err)
		}
		defer ns.Close()
		if h, err = netlink.NewHandleAt(ns); err != nil {
			return fmt.Errorf("netlink in %s: %w", nsPath, err)
		}
	} else {
		var err error
		if h, err = netlink.NewHandle(); err != nil {
			return err
		}
	}
	defer h.Close()
	var jw *os.File
	if journal != "" {
		var err error
		if jw, err = os.OpenFile(journal, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
			return err
		}
		defer jw.Close()
	}
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: testplugin.NewServer(implements, h, journalWriter(jw), state)}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	_ = os.Remove(sock)
	return nil
}

func journalWriter(f *os.File) interface{ Write([]byte) (int, error) } {
	if f == nil {
		return nil
	}
	return f
}
