// Package host is the "host" network driver: a sandbox on it is the host
// namespace itself (the one the engine runs in), with no endpoint interface.
package host

import "github.com/patchbay/patchbay/driver"

// New returns the host driver.
func New() driver.Driver { return driver.NewInterfaceless("host", false) }
