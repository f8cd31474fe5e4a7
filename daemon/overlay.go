package daemon

import (
	"context"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
)

// findDriverOr is the registry's Finder: plugins, and, on a daemon
// without a cluster store, a clear error for the overlay driver, which
// needs one, instead of a search for a plugin of that name.
func (p *plugins) findDriverOr(cluster bool) driver.Finder {
	return func(ctx context.Context, name string) (driver.Driver, error) {
		if name == "overlay" && !cluster {
			return nil, cnm.Invalid("overlay networks need a cluster store: start the daemon with --cluster-store etcd://HOST:PORT --cluster-advertise IFACE|IP")
		}
		return p.findDriver(ctx, name)
	}
}
