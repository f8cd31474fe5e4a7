package null_test

import (
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/driver/drivertest"
	"github.com/patchbay/patchbay/drivers/null"
)

// The null driver keeps the driver contract (see package drivertest).
func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		New:        func() driver.Driver { return null.New() },
		Options:    nil,
		BadOptions: map[string]string{"some.option": "1"},
	})
}
