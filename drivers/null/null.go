// Package null is the "none" network driver: a sandbox on it keeps its own
// namespace with only the loopback interface.
package null

import "github.com/patchbay/patchbay/driver"

// New returns the null driver.
func New() driver.Driver { return driver.NewInterfaceless("null", true) }
