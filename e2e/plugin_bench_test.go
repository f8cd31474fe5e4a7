package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/testplugin"
)

// BenchmarkPluginAttach measures attach through the daemon's API with
// 200 sandboxes on one network, for patchbay's bridge driver in process
// ("bridge") and for the same driver behind the plugin protocol
// ("pbbridge": internal/testplugin/bridgeplugin, a separate process),
// then connect and disconnect at 200 sandboxes. The plugin's interface is
// made in the daemon's namespace and moved into the sandbox, which waits
// for a kernel RCU grace period; the in-process bridge makes it inside
// the sandbox directly. The protocol's own cost, with the same move on
// both sides, is drivers/remote's BenchmarkAttach200 (bridge-move against
// bridge-plugin). Run once:
// go test -run '^$' -bench PluginAttach -benchtime 1x ./e2e
func BenchmarkPluginAttach(b *testing.B) {
	h := netnstest.NewHost(b)
	dir := b.TempDir()
	testplugin.StartPkg(b, testplugin.BridgePluginPkg, filepath.Join(dir, "pbbridge.sock"), h.Path)
	d := startDaemonIn(b, h, "--plugin-dir", dir)
	c := d.client()
	ctx := context.Background()
	for b.Loop() {
		for i, drv := range []string{"bridge", "pbbridge"} {
			net := "at" + drv
			req := types.NetworkCreateRequest{Name: net, Driver: drv,
				IPAM: &types.IPAM{Config: []types.IPAMConfig{{Subnet: fmt.Sprintf("10.%d.0.0/16", 40+i)}}}}
			if _, err := c.NetworkCreate(ctx, req); err != nil {
				b.Fatal(err)
			}
			var attach, conn, disc latencies
			for j := range 200 {
				name := fmt.Sprintf("%s%03d", drv, j)
				attach = append(attach, timed(b, func() error {
					_, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: name, Network: net})
					return err
				}))
			}
			for j := range 50 {
				name := fmt.Sprintf("%s%03d", drv, 199-j)
				disc = append(disc, timed(b, func() error {
					return c.NetworkDisconnect(ctx, net, types.NetworkDisconnectRequest{Container: name})
				}))
				conn = append(conn, timed(b, func() error {
					return c.NetworkConnect(ctx, net, types.NetworkConnectRequest{Container: name})
				}))
			}
			attach.report(b, drv+"-attach@200")
			conn.report(b, drv+"-connect@200")
			disc.report(b, drv+"-disconnect@200")
			for j := range 200 {
				if err := c.SandboxRemove(ctx, fmt.Sprintf("%s%03d", drv, j), true); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.NetworkRemove(ctx, net); err != nil {
				b.Fatal(err)
			}
		}
	}
}
