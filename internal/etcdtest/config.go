// Package etcdtest runs a real single-member etcd server (etcd's own,
// from go.etcd.io/etcd/server/v3/embed) for tests: in the test process on
// loopback, or, for multi-host tests, as a small binary built from
// etcdmain and run under nsenter inside a test network namespace.
//
// Why a binary in a namespace: the embedded server opens its listening
// sockets and serves from goroutines the Go runtime schedules on any
// thread, so the process's namespace is the only one it can be trusted
// to use. Switching a locked thread would cover the socket creation but
// not the peer and client dials etcd makes later. A separate process
// under nsenter is in the namespace entirely.
//
// Stop and Start stop the server and start it again on the same data
// directory and addresses, for "etcd stopped and restarted" tests.
package etcdtest

import (
	"net"
	"net/url"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config returns the configuration of a single-member test server named
// name with its data in dir, serving clients on clientAddr and its
// (unused) peer port on peerAddr, both host:port. The server is tuned for
// tests: short heartbeats, no fsync, a log of fatal errors only on stderr.
func Config(name, dir, clientAddr, peerAddr string) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dir
	cu := url.URL{Scheme: "http", Host: clientAddr}
	pu := url.URL{Scheme: "http", Host: peerAddr}
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(name)
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	cfg.UnsafeNoFsync = true
	// Closing logs "errors" about its own closed listeners; a server
	// that fails reports it through StartEtcd and Err.
	cfg.LogLevel = "fatal"
	cfg.LogOutputs = []string{"stderr"}
	return cfg
}

// PeerAddr is the peer address of a server whose clients use
// clientAddr: the same host, port 2380 (etcd's).
func PeerAddr(clientAddr string) (string, error) {
	host, _, err := net.SplitHostPort(clientAddr)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, "2380"), nil
}
