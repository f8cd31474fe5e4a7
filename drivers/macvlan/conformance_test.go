package macvlan_test

import (
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/driver/drivertest"
	"github.com/patchbay/patchbay/drivers/macvlan"
)

// The macvlan driver keeps the driver contract (see package drivertest).
func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		New:        func() driver.Driver { return macvlan.New() },
		Options:    map[string]string{"macvlan_mode": "bridge"},
		BadOptions: map[string]string{"macvlan_mode": "sideways"},
	})
}
