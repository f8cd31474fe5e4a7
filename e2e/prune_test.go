package e2e

import (
	"strings"
	"testing"
)

// TestNetworkPruneFilter: network prune --filter removes only the
// matching unused networks.
func TestNetworkPruneFilter(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--label", "tier=test", "--subnet", "10.0.37.0/24", "labeled")
	d.ok("network", "create", "--subnet", "10.0.38.0/24", "plain")
	if r := d.pb("network", "prune", "-f", "--filter", "bogus=1"); r.code == 0 {
		t.Errorf("a bad filter was accepted: %s", r)
	}
	out := d.ok("network", "prune", "-f", "--filter", "label=tier=test")
	if !strings.Contains(out, "labeled") || strings.Contains(out, "plain") {
		t.Errorf("prune --filter label=tier=test:\n%s", out)
	}
	if ls := d.ok("network", "ls", "--format", "{{.Name}}"); !strings.Contains(ls, "plain") || strings.Contains(ls, "labeled") {
		t.Errorf("networks after prune:\n%s", ls)
	}
}
