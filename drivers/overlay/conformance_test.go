package overlay_test

import (
	"testing"
	"time"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/driver/drivertest"
	"github.com/patchbay/patchbay/drivers/overlay"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/store/cluster"
)

// The overlay driver keeps the driver contract (see package drivertest).
// The suite's host namespace holds netnstest.HostAddr on its uplink, the
// advertise address; its networks get their VNI from the vni option,
// since the suite calls no Allocator.
func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		New: func() driver.Driver {
			d, err := overlay.New(overlay.Config{
				Cluster:   cluster.NewMemory(cluster.MemoryOptions{Now: time.Now}).Client(),
				Advertise: netnstest.HostAddr.Addr(),
			})
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Options:    map[string]string{overlay.OptVNI: "4242"},
		BadOptions: map[string]string{"com.docker.network.driver.overlay.nosuch": "1"},
	})
}
