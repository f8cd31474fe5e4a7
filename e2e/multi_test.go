package e2e

import (
	"strings"
	"testing"
)

// TestTwoDaemonsOneNamespace runs two daemons with different roots in
// one host namespace: each keeps to its own objects, also when the other
// crashes and sweeps at restart.
func TestTwoDaemonsOneNamespace(t *testing.T) {
	d1 := startDaemon(t)
	d2 := startDaemonIn(t, d1.host, "--bridge-device", "pbtwo0")
	sub1 := strings.TrimSpace(d1.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge"))
	sub2 := strings.TrimSpace(d2.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge"))
	if sub1 == sub2 {
		t.Fatalf("both default bridges got %s", sub1)
	}
	d1.ok("network", "create", "--subnet", "10.0.31.0/24", "one")
	d2.ok("network", "create", "--subnet", "10.0.32.0/24", "two")
	if r := d2.pb("network", "create", "--subnet", "10.0.31.0/25", "clash"); r.code == 0 {
		t.Errorf("the second daemon took a subnet the first one routes: %s", r)
	}
	d1.ok("run", "-d", "--name", "a1", "--network", "one", "--", "sleep", "300")
	d1.ok("run", "-d", "--name", "a2", "--network", "one", "--", "sleep", "300")
	d2.ok("run", "-d", "--name", "b1", "--network", "two", "--", "sleep", "300")

	d2.kill9()
	d2.start()
	// d2's restart sweep must not have touched d1's links.
	if r := d1.pb("exec", "a1", "--", "busybox", "ping", "-c", "1", "-W", "2", "10.0.31.3"); r.code != 0 {
		t.Errorf("d1's sandboxes lost connectivity after d2 restarted: %s", r)
	}
	if out := d2.ok("ps", "--format", "{{.Names}}"); strings.TrimSpace(out) != "b1" {
		t.Errorf("d2 lists %q, want b1", out)
	}
	checkConsistent(t, d2)
}
