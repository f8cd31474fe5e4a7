package remote

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/plugin"
	"github.com/patchbay/patchbay/plugin/wire"
)

// SetNodes implements driver.NodeSetter over the protocol's
// DiscoverNew and DiscoverDelete: the plugin is told of each host that
// joined since the last call and of each that left. A plugin that does
// not implement discovery (404) is not told again.
func (d *Driver) SetNodes(ctx context.Context, _ driver.Host, nodes []driver.Node) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noDiscovery {
		return nil
	}
	want := map[string]bool{}
	for _, n := range nodes {
		want[n.Addr.String()] = true
	}
	var errs []error
	notify := func(method, addr string) bool {
		body := wire.DiscoveryNotification{DiscoveryType: wire.NodeDiscovery, DiscoveryData: wire.NodeDiscoveryData{Address: addr}}
		err := d.call(ctx, method, body, nil)
		if errors.Is(err, plugin.ErrNotImplemented) {
			d.noDiscovery = true
			return false
		}
		if err != nil {
			errs = append(errs, err)
			return false
		}
		return true
	}
	for _, addr := range slices.Sorted(maps.Keys(want)) {
		if !d.nodes[addr] && notify("DiscoverNew", addr) {
			d.nodes[addr] = true
		}
		if d.noDiscovery {
			return nil
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(d.nodes)) {
		if !want[addr] && notify("DiscoverDelete", addr) {
			delete(d.nodes, addr)
		}
		if d.noDiscovery {
			return nil
		}
	}
	return errors.Join(errs...)
}

var _ driver.NodeSetter = (*Driver)(nil)
