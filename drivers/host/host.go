// Package host is the "host" network driver: a sandbox on it is the host
// namespace itself (the one the engine runs in), with no endpoint interface.
package host

import (
	"context"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
)

// Driver is the host driver.
type Driver struct{}

// New returns the host driver.
func New() *Driver { return &Driver{} }

// Type implements driver.Driver.
func (*Driver) Type() string { return "host" }

// Capability implements driver.Driver.
func (*Driver) Capability() driver.Capability {
	return driver.Capability{Scope: cnm.ScopeLocal, NeedsNamespace: false}
}

// ParseOptions implements driver.Driver: the host driver takes none.
func (*Driver) ParseOptions(opts map[string]string) error {
	for k := range opts {
		return cnm.Invalid("unknown option %q for driver host", k)
	}
	return nil
}

// CreateNetwork implements driver.Driver; there is nothing to create.
func (*Driver) CreateNetwork(context.Context, driver.Host, driver.Network) error { return nil }

// DeleteNetwork implements driver.Driver.
func (*Driver) DeleteNetwork(context.Context, driver.Host, driver.Network) error { return nil }

// Join implements driver.Driver; the sandbox already is the host.
func (*Driver) Join(context.Context, driver.Host, driver.Network, driver.Endpoint, driver.Sandbox) (driver.JoinInfo, error) {
	return driver.JoinInfo{}, nil
}

// Leave implements driver.Driver.
func (*Driver) Leave(context.Context, driver.Host, driver.Network, driver.Endpoint) error {
	return nil
}
