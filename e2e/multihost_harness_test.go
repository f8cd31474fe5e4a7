package e2e

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/etcdtest"
	"github.com/patchbay/patchbay/internal/netnstest"
)

// lab is several hosts on one underlay (netnstest.NewUnderlay), a real
// etcd in the underlay namespace at 198.51.100.254:2379, and a patchbay
// daemon per host joined to it with --cluster-store, --cluster-advertise
// (the host's underlay link) and --node-name (h1, h2…).
type lab struct {
	t    testing.TB
	u    *netnstest.Underlay
	etcd *etcdtest.Server
	// daemons[i] runs on u.Hosts[i]; nil for a host without one.
	daemons []*daemon
}

// labOptions configure startLab.
type labOptions struct {
	// hosts on the underlay; default 3.
	hosts int
	// daemons is how many hosts, from h1, get a daemon at start;
	// default all. The others are there for startDaemon or failDaemon.
	daemons int
	// mtu of the underlay; default 1500.
	mtu int
	// args are extra flags of every daemon (e.g. --cluster-ttl 3s).
	args []string
}

// startLab builds the lab; cleanup stops the daemons, then etcd, then
// removes the namespaces.
func startLab(t testing.TB, opts labOptions) *lab {
	t.Helper()
	if opts.hosts == 0 {
		opts.hosts = 3
	}
	if opts.daemons == 0 {
		opts.daemons = opts.hosts
	}
	u := netnstest.NewUnderlay(t, opts.hosts, netnstest.UnderlayOptions{MTU: opts.mtu})
	srv := etcdtest.Start(t, etcdtest.Options{ClientAddr: netip.AddrPortFrom(u.Addr, 2379).String(), Netns: u.Path})
	l := &lab{t: t, u: u, etcd: srv, daemons: make([]*daemon, opts.hosts)}
	for i := range opts.daemons {
		l.startDaemon(i, opts.args...)
	}
	return l
}

// clusterArgs are the cluster flags of host i's daemon.
func (l *lab) clusterArgs(i int) []string {
	return []string{"--cluster-store", l.etcd.URL(), "--cluster-advertise", netnstest.UnderlayLink,
		"--node-name", l.u.Hosts[i].Name}
}

// startDaemon starts a daemon on host i (which must have none) with the
// cluster flags and extra ones, and waits until it serves.
func (l *lab) startDaemon(i int, extra ...string) *daemon {
	l.t.Helper()
	if l.daemons[i] != nil {
		l.t.Fatalf("host %s already has a daemon", l.u.Hosts[i].Name)
	}
	d := startDaemonIn(l.t, l.u.Hosts[i].Host, append(l.clusterArgs(i), extra...)...)
	l.daemons[i] = d
	return d
}

// failDaemon runs a daemon on host i with fresh state and the given
// flags (no cluster flags are added), expecting it to refuse to start:
// it returns the result once the daemon has exited, and fails the test
// if it is still running after a minute.
func (l *lab) failDaemon(i int, args ...string) result {
	l.t.Helper()
	dir := l.t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + l.u.Hosts[i].Path, "--", binary, "daemon",
		"--root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://" + filepath.Join(dir, "exec", "patchbay.sock"), "--resolv-conf", resolv}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	l.t.Cleanup(func() { unmountUnder(dir) })
	r := result{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		l.t.Fatalf("daemon %v on %s still ran after a minute:\n%s", args, l.u.Hosts[i].Name, r)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		l.t.Fatalf("run daemon: %v", err)
	}
	return r
}
