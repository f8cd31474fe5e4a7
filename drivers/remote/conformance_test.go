package remote_test

import (
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/driver/drivertest"
	"github.com/patchbay/patchbay/drivers/remote"
	"github.com/patchbay/patchbay/internal/testplugin"
	"github.com/patchbay/patchbay/plugin"
	"github.com/patchbay/patchbay/plugin/wire"
)

// startPlugin runs the test plugin in hostNS and returns its driver,
// found as Docker finds it: NAME.sock in a plugin directory.
func startPlugin(t *testing.T, hostNS string) (*remote.Driver, *testplugin.Proc) {
	return startPluginB(t, t.TempDir(), hostNS)
}

func startPluginB(t testing.TB, dir, hostNS string) (*remote.Driver, *testplugin.Proc) {
	p := testplugin.Start(t, testplugin.Config{Sock: filepath.Join(dir, "tp.sock"), Netns: hostNS})
	m := plugin.NewManager([]string{dir})
	return remote.New("tp", m.Caller("tp", wire.NetworkDriver)), p
}

// The remote driver, over a real plugin process, keeps the driver
// contract (see package drivertest).
func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		NewIn: func(t *testing.T, hostNS string) driver.Driver {
			d, _ := startPlugin(t, hostNS)
			return d
		},
		Options:    map[string]string{"com.example.anything": "1"},
		BadOptions: map[string]string{remote.OptGeneric: "x"},
	})
}
