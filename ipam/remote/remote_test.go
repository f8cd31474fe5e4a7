package remote_test

import (
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/internal/testplugin"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/ipam/ipamtest"
	"github.com/patchbay/patchbay/ipam/remote"
	"github.com/patchbay/patchbay/plugin"
	"github.com/patchbay/patchbay/plugin/wire"
)

// The remote IPAM driver, over a real plugin process, keeps the
// ipam.Driver contract (see package ipamtest). Each subtest gets a fresh
// plugin process, so a fresh set of pools.
func TestConformance(t *testing.T) {
	ipamtest.Run(t, func() ipam.Driver {
		dir := t.TempDir()
		testplugin.Start(t, testplugin.Config{Sock: filepath.Join(dir, "tpipam.sock"), Implements: []string{wire.IpamDriver}})
		m := plugin.NewManager([]string{dir})
		return remote.New("tpipam", m.Caller("tpipam", wire.IpamDriver))
	})
}
