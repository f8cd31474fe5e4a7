package remote_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/driver/drivertest"
	"github.com/patchbay/patchbay/drivers/remote"
	"github.com/patchbay/patchbay/internal/netnstest"
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

// startBridgePlugin runs patchbay's own bridge driver as a plugin
// process in hostNS (package internal/testplugin/bridgeplugin) and
// returns its driver, found by NAME.sock.
func startBridgePlugin(t testing.TB, dir, hostNS string) (*remote.Driver, *testplugin.Proc) {
	p := testplugin.StartPkg(t, testplugin.BridgePluginPkg, filepath.Join(dir, "pbbridge.sock"), hostNS)
	m := plugin.NewManager([]string{dir})
	return remote.New("pbbridge", m.Caller("pbbridge", wire.NetworkDriver)), p
}

// The remote driver keeps the driver contract over a plugin that wraps
// patchbay's own bridge driver: the same driver that passes the suite in
// process passes it through the protocol, the interface it hands over
// moved in by the remote driver (JoinInPlace) or by the caller
// (JoinByMove). Its options are the bridge driver's, checked in
// CreateNetwork by the plugin; the remote driver refuses only Docker's
// reserved keys.
func TestConformanceBridgePlugin(t *testing.T) {
	drivertest.Run(t, drivertest.Config{
		NewIn: func(t *testing.T, hostNS string) driver.Driver {
			d, _ := startBridgePlugin(t, t.TempDir(), hostNS)
			return d
		},
		Options:    map[string]string{"com.docker.network.bridge.enable_icc": "true"},
		BadOptions: map[string]string{remote.OptInternal: "x"},
	})
}

// A bridge option the wrapped driver refuses fails CreateNetwork with
// its message, naming the plugin and the call.
func TestBridgePluginRefusesBadOption(t *testing.T) {
	hst := netnstest.NewHost(t)
	ns, h := netnstest.Open(t, hst.Path)
	d, _ := startBridgePlugin(t, t.TempDir(), hst.Path)
	nw := driver.Network{ID: strings.Repeat("ab", 32), Options: map[string]string{"com.docker.network.bridge.nosuch": "1"}}
	_, err := d.CreateNetwork(context.Background(), driver.Host{NS: ns, Handle: h}, nw)
	if err == nil || !strings.Contains(err.Error(), "pbbridge") || !strings.Contains(err.Error(), "CreateNetwork") ||
		!strings.Contains(err.Error(), "com.docker.network.bridge.nosuch") {
		t.Fatalf("create with a bad bridge option: %v", err)
	}
}
