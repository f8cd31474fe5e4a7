package bridge_test

import (
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/driver/drivertest"
	"github.com/patchbay/patchbay/drivers/bridge"
)

// The bridge driver keeps the driver contract (see package drivertest).
func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		New:        func() driver.Driver { return bridge.New() },
		Options:    nil,
		BadOptions: map[string]string{"com.docker.network.bridge.nosuch": "1"},
	})
}
