package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/ipam"
)

// A network's driver is looked up in the registry when the network is
// created or restored. A driver that cannot be had then (a plugin not
// running yet, a name no build knows) leaves the network unavailable, not
// the engine: it is listed, inspect says why, operations on it fail with
// an error naming the driver, and every other network works. The next
// operation that needs the driver looks it up again, and once it is back
// the network is re-asserted and its endpoints restored.

// dctx bounds one driver call.
func (e *Engine) dctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.DriverTimeout)
}

// cctx bounds one call of the cluster store: a store that does not
// answer fails a global operation within ClusterTimeout.
func (e *Engine) cctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.ClusterTimeout)
}

// bctx is a bounded context for undo and clean-up paths, which must run
// even when the request's context has ended.
func (e *Engine) bctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.cfg.DriverTimeout)
}

// found is a driver looked up by name, with its capabilities.
type found struct {
	name string
	d    driver.Driver
	cap  driver.Capability
}

// lookup finds a driver by name, within the driver deadline. Call it
// without opMu: finding a plugin leaves the process.
func (e *Engine) lookup(ctx context.Context, name string) (found, error) {
	if name == "" {
		name = "bridge"
	}
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	d, c, err := e.drivers.Lookup(ctx, name)
	if err != nil {
		return found{}, err
	}
	return found{name, d, c}, nil
}

// bind looks up the network's driver and decodes its options. On failure
// the network is marked unavailable with the reason.
func (e *Engine) bind(ctx context.Context, n *network) error {
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	d, c, err := e.drivers.Lookup(ctx, n.Driver)
	if err == nil {
		var config any
		if config, err = d.ParseOptions(n.Options); err == nil {
			e.mu.Lock()
			n.d, n.cap, n.config, n.down = d, c, config, nil
			e.mu.Unlock()
			return nil
		}
	}
	err = unavailable(n, err)
	e.mu.Lock()
	n.d, n.down = nil, err
	e.mu.Unlock()
	return err
}

// unavailable is the error of every operation on a network whose driver
// cannot be had, naming the driver and why.
func unavailable(n *network, err error) error {
	if errors.Is(err, cnm.ErrUnavailable) && n.down != nil && err == n.down {
		return err
	}
	return cnm.Unavailable("network %s is unavailable: driver %s: %v", n.Name, n.Driver, err)
}

// driverOf returns the network's driver, looking it up again if it was
// unavailable; a driver that is back gets the network and its endpoints
// re-asserted first. Caller holds opMu.
func (e *Engine) driverOf(ctx context.Context, n *network) (driver.Driver, error) {
	e.mu.RLock()
	d := n.d
	e.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	// A driver that was missing is not built in: finding it (and
	// re-asserting the network) leaves the process.
	e.opMu.Unlock()
	err := e.bind(ctx, n)
	if err == nil {
		err = e.reassert(ctx, n)
	}
	e.opMu.Lock()
	if err != nil {
		err = unavailable(n, err)
		e.mu.Lock()
		n.d, n.down = nil, err
		e.mu.Unlock()
		return nil, err
	}
	if e.networks[n.ID] != n {
		return nil, cnm.NotFound("network %s not found", n.Name)
	}
	e.log.Info("network driver available again", "net", n.Name, "driver", n.Driver)
	e.restoreNetworkEndpoints(ctx, n)
	return n.d, nil
}

// reassert creates (idempotently) the network's kernel objects through
// its bound driver, with its stored driver data.
func (e *Engine) reassert(ctx context.Context, n *network) error {
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	res, err := n.d.CreateNetwork(ctx, e.host, driverNetwork(n))
	if err != nil {
		return fmt.Errorf("create network %s: %w", n.Name, err)
	}
	if len(res.Data) > 0 && !maps.Equal(res.Data, n.DriverData) {
		e.log.Warn("driver data changed on restore; keeping the stored data", "net", n.Name)
	}
	return nil
}

// noteReachable records what an operation on n learnt of its drivers: an
// unavailable plugin marks the network unavailable (listed with the
// reason), a success clears the mark. Caller holds opMu.
func (e *Engine) noteReachable(n *network, err error) {
	if !n.cap.OutOfProcess && (n.IPAM.Driver == "" || n.IPAM.Driver == "default") {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err == nil:
		n.down = nil
	case errors.Is(err, cnm.ErrUnavailable):
		n.down = err
	}
}

// connectable reports whether endpoints of the network have interfaces.
// A network whose driver is unavailable counts as connectable: the
// drivers that can be missing (plugins) are.
func connectable(n *network) bool { return n.d == nil || n.cap.Connectable }

func driverNetwork(n *network) driver.Network {
	dn := driver.Network{ID: n.ID, Name: n.Name, Internal: n.Internal, IPv6: n.EnableIPv6, Options: n.Options, Config: n.config, Data: n.DriverData}
	for _, c := range n.IPAM.Config {
		dn.Subnets = append(dn.Subnets, driver.Subnet{Prefix: c.Subnet, Gateway: c.Gateway, IPRange: c.IPRange, Aux: c.AuxAddresses})
	}
	return dn
}

func driverEndpoint(ep *cnm.Endpoint) driver.Endpoint {
	dep := driver.Endpoint{ID: ep.ID, IfName: ep.IfName, HostIfName: ep.HostIfName, IPv4: ep.IPv4, IPv6: ep.IPv6}
	if ep.MAC != "" {
		dep.MAC, _ = ipam.ParseMAC(ep.MAC)
	}
	return dep
}
