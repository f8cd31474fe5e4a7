package daemon

import (
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/bridge"
	"github.com/patchbay/patchbay/drivers/host"
	"github.com/patchbay/patchbay/drivers/macvlan"
	"github.com/patchbay/patchbay/drivers/null"
	"github.com/patchbay/patchbay/engine"
)

// Drivers returns the registry of patchbay's built-in network drivers:
// bridge, host, macvlan and null, and extra (overlay, with a cluster
// store). find (may be nil) finds others by name (plugins).
func Drivers(find driver.Finder, extra ...driver.Driver) (*driver.Registry, error) {
	return driver.NewRegistry(find, append([]driver.Driver{bridge.New(), host.New(), macvlan.New(), null.New()}, extra...)...)
}

// DefaultNetworks are the networks a fresh daemon has, as Docker's:
// "bridge" on the device bridgeDevice (default patchbay0), "host" and
// "none".
func DefaultNetworks(bridgeDevice string) []engine.NetworkCreate {
	if bridgeDevice == "" {
		bridgeDevice = bridge.DefaultDevice
	}
	return []engine.NetworkCreate{
		{Name: "bridge", Driver: "bridge", Options: map[string]string{
			bridge.OptBridgeName: bridgeDevice, bridge.OptDefault: "true",
			bridge.OptICC: "true", bridge.OptMasquerade: "true",
		}},
		{Name: "host", Driver: "host"},
		{Name: "none", Driver: "null"},
	}
}

// EngineConfig completes an engine configuration with the built-in
// drivers and default networks.
func EngineConfig(cfg engine.Config, bridgeDevice string) (engine.Config, error) {
	reg, err := Drivers(nil)
	if err != nil {
		return cfg, err
	}
	cfg.Drivers = reg
	cfg.DefaultNetworks = DefaultNetworks(bridgeDevice)
	return cfg, nil
}
