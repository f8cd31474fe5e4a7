package host_test

import (
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/driver/drivertest"
	"github.com/patchbay/patchbay/drivers/host"
)

// The host driver keeps the driver contract (see package drivertest).
func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		New:        func() driver.Driver { return host.New() },
		Options:    nil,
		BadOptions: map[string]string{"some.option": "1"},
	})
}
