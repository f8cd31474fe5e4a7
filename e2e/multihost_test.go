package e2e

import (
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/netnstest"
)

// Three daemons join the etcd on the underlay; a fourth host's daemon is
// refused, with a clear error and before it serves, when its node name is
// taken by a live host, when its store cannot be reached, and when its
// advertise address is not its own.
func TestMultihostJoin(t *testing.T) {
	// h5 is for the duplicate name: the engine refuses it after making
	// its default bridge, which stays in h5 (a later daemon with a fresh
	// root there would find patchbay0 taken).
	l := startLab(t, labOptions{hosts: 5, daemons: 3})
	for i, d := range l.daemons[:3] {
		if out := d.ok("network", "ls"); !strings.Contains(out, "bridge") {
			t.Errorf("%s: network ls:\n%s", l.u.Hosts[i].Name, out)
		}
		if !strings.Contains(d.log.String(), "cluster store") {
			t.Errorf("%s did not log joining the cluster store:\n%s", l.u.Hosts[i].Name, d.log)
		}
	}
	want := func(what string, r result, parts ...string) {
		t.Helper()
		if r.code == 0 {
			t.Errorf("%s: the daemon exited 0:\n%s", what, r)
			return
		}
		for _, p := range parts {
			if !strings.Contains(r.stderr, p) {
				t.Errorf("%s: the error does not say %q:\n%s", what, p, r)
			}
		}
	}
	// h1's name, taken by h1's live daemon (checked by the engine).
	args := l.clusterArgs(4)
	args[len(args)-1] = "h1"
	want("duplicate node name", l.failDaemon(4, args...), "node name", "h1")
	// Nothing answers at .253 of the underlay: the store is unreachable
	// and the daemon says so, naming it, within its dial timeout.
	down := "etcd://198.51.100.253:2379"
	want("unreachable store", l.failDaemon(3, "--cluster-store", down, "--cluster-advertise", netnstest.UnderlayLink, "--node-name", "h4"),
		down, "not reachable")
	want("non-etcd store", l.failDaemon(3, "--cluster-store", "consul://198.51.100.254:8500", "--cluster-advertise", netnstest.UnderlayLink),
		"etcd://")
	want("unknown interface", l.failDaemon(3, "--cluster-store", l.etcd.URL(), "--cluster-advertise", "eth9"),
		"--cluster-advertise eth9")
	// h1's underlay address is not h4's.
	h1 := l.u.Hosts[0].Addr.Addr().String()
	want("foreign address", l.failDaemon(3, "--cluster-store", l.etcd.URL(), "--cluster-advertise", h1),
		"--cluster-advertise "+h1, "no interface of this host")
	// With all that refused, h4 joins under its own name.
	l.startDaemon(3)
}

// The lab's etcd stops and starts again on its data: while it is down a
// new daemon is refused as unreachable and the running one still serves;
// once it is back a new daemon joins.
func TestMultihostEtcdRestart(t *testing.T) {
	l := startLab(t, labOptions{hosts: 2, daemons: 1})
	l.etcd.Stop()
	r := l.failDaemon(1, l.clusterArgs(1)...)
	if r.code == 0 || !strings.Contains(r.stderr, l.etcd.URL()) || !strings.Contains(r.stderr, "not reachable") {
		t.Errorf("a daemon started with etcd down: %s", r)
	}
	l.daemons[0].ok("network", "ls")
	l.etcd.Start()
	l.startDaemon(1)
	l.daemons[0].ok("network", "ls")
}
