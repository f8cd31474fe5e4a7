// Package null is the "none" network driver: a sandbox on it keeps its own
// namespace with only the loopback interface.
package null

import (
	"context"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
)

// Driver is the null driver.
type Driver struct{}

// New returns the null driver.
func New() *Driver { return &Driver{} }

// Type implements driver.Driver.
func (*Driver) Type() string { return "null" }

// Capability implements driver.Driver.
func (*Driver) Capability() driver.Capability {
	return driver.Capability{Scope: cnm.ScopeLocal, NeedsNamespace: true}
}

// ParseOptions implements driver.Driver: the null driver takes none.
func (*Driver) ParseOptions(opts map[string]string) error {
	for k := range opts {
		return cnm.Invalid("unknown option %q for driver null", k)
	}
	return nil
}

// CreateNetwork implements driver.Driver; there is nothing to create.
func (*Driver) CreateNetwork(context.Context, driver.Host, driver.Network) error { return nil }

// DeleteNetwork implements driver.Driver.
func (*Driver) DeleteNetwork(context.Context, driver.Host, driver.Network) error { return nil }

// Join implements driver.Driver; the sandbox gets no interface.
func (*Driver) Join(context.Context, driver.Host, driver.Network, driver.Endpoint, driver.Sandbox) (driver.JoinInfo, error) {
	return driver.JoinInfo{}, nil
}

// Leave implements driver.Driver.
func (*Driver) Leave(context.Context, driver.Host, driver.Network, driver.Endpoint) error {
	return nil
}
