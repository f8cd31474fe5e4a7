package remote

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/plugin"
	"github.com/patchbay/patchbay/plugin/wire"
)

// discoveries records the discovery calls a plugin gets.
type discoveries struct {
	calls   []string
	missing bool // answer 404
}

func (c *discoveries) Call(_ context.Context, method string, body, _ any) error {
	if c.missing {
		return plugin.ErrNotImplemented
	}
	n := body.(wire.DiscoveryNotification)
	c.calls = append(c.calls, method+" "+n.DiscoveryData.(wire.NodeDiscoveryData).Address)
	return nil
}

func nodes(addrs ...string) []driver.Node {
	var out []driver.Node
	for _, a := range addrs {
		out = append(out, driver.Node{Name: a, Addr: netip.MustParseAddr(a)})
	}
	return out
}

// SetNodes tells a plugin of each host that joined and each that left,
// once; a plugin without discovery (404) is not asked again.
func TestSetNodesDiscovery(t *testing.T) {
	c := &discoveries{}
	d := New("kuryr", c)
	ctx := context.Background()
	steps := []struct {
		nodes []driver.Node
		want  []string
	}{
		{nodes("10.0.0.2", "10.0.0.3"), []string{"DiscoverNew 10.0.0.2", "DiscoverNew 10.0.0.3"}},
		{nodes("10.0.0.2", "10.0.0.3"), nil},
		{nodes("10.0.0.3", "10.0.0.4"), []string{"DiscoverNew 10.0.0.4", "DiscoverDelete 10.0.0.2"}},
	}
	for i, s := range steps {
		c.calls = nil
		if err := d.SetNodes(ctx, driver.Host{}, s.nodes); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.calls, s.want) {
			t.Errorf("step %d: calls %v, want %v", i, c.calls, s.want)
		}
	}
	missing := &discoveries{missing: true}
	d = New("kuryr", missing)
	for range 2 {
		if err := d.SetNodes(ctx, driver.Host{}, nodes("10.0.0.2")); err != nil {
			t.Fatalf("a plugin without discovery: %v", err)
		}
	}
	if !d.noDiscovery {
		t.Fatal("a plugin that answered 404 is asked again")
	}
}
