package e2e

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func openNS(t *testing.T, path string) (netns.NsHandle, *netlink.Handle) {
	return netnstest.Open(t, path)
}

func linkNames(t testing.TB, h *netnstest.Host) []string {
	return netnstest.LinkNames(t, h.Handle)
}

// must runs a command and returns its output; a non-zero exit is not an
// error (pgrep exits 1 when nothing matches).
func must(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, _ := exec.Command(name, args...).Output()
	return out
}

// inNetns runs f on a thread in the network namespace at path, so the
// sockets f opens live there, and returns the thread to the test's own
// namespace.
func inNetns(t testing.TB, path string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, _ := netnstest.Open(t, path)
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(err) // the thread is in the wrong namespace
		}
	}()
	f()
}

// waitListening waits until the sandbox's processes listen on every port
// (":80/tcp", ":53/udp"), as busybox netstat inside it shows: a `run -d`
// returns once its command started, which may be before its servers bind.
func waitListening(t testing.TB, d *daemon, sandbox string, ports ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := d.pb("exec", sandbox, "--", "busybox", "netstat", "-ltun").stdout
		missing := ""
		for _, p := range ports {
			port, proto, _ := strings.Cut(p, "/")
			found := false
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) >= 4 && strings.HasPrefix(f[0], proto) && strings.HasSuffix(f[3], port) {
					found = true
				}
			}
			if !found {
				missing = p
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox %s does not listen on %s after 10 s:\n%s", sandbox, missing, out)
		}
	}
}
