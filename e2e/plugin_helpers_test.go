package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/testplugin"
)

// A plugin written with github.com/docker/go-plugins-helpers, as most
// real plugins are (internal/testplugin/helpersplugin): its bridge and
// veth pair, named in Join's SrcName with the reply shapes that library
// sends, carry traffic between two sandboxes; its IPAM serves the same
// network; and on a network with --ipam-driver null it assigns the
// endpoints' addresses itself, which patchbay applies.
func TestPluginGoPluginsHelpers(t *testing.T) {
	h := netnstest.NewHost(t)
	dir := t.TempDir()
	testplugin.StartPkg(t, testplugin.HelpersPluginPkg, filepath.Join(dir, "helpersnet.sock"), h.Path,
		"-ipam-sock", filepath.Join(dir, "helpersipam.sock"))
	d := startDaemonIn(t, h, "--plugin-dir", dir)

	d.ok("network", "create", "--driver=helpersnet", "--ipam-driver=helpersipam", "--subnet", "10.0.4.0/24", "--gateway", "10.0.4.1", "hnet")
	d.ok("run", "-d", "--name", "ha", "--network", "hnet", "--", "busybox", "sleep", "600")
	d.ok("run", "-d", "--name", "hb", "--network", "hnet", "--", "busybox", "sleep", "600")
	if out := d.ok("exec", "ha", "--", "busybox", "ip", "-4", "-o", "addr", "show", "eth0"); !strings.Contains(out, "10.0.4.2/24") {
		t.Fatalf("eth0 of ha (the plugin's interface, moved and renamed, with its IPAM's address):\n%s", out)
	}
	// Join's Gateway came back as the CIDR string CreateNetwork sent.
	if out := d.ok("exec", "ha", "--", "busybox", "ip", "route"); !strings.Contains(out, "default via 10.0.4.1 dev eth0") {
		t.Fatalf("routes of ha:\n%s", out)
	}
	pluginPing(t, d, "ha", "10.0.4.3")
	pluginPing(t, d, "hb", "10.0.4.2")

	d.ok("network", "create", "--driver=helpersnet", "--ipam-driver=null", "-o", "helpers.subnet=10.0.5.0/24", "hnull")
	d.ok("run", "-d", "--name", "hc", "--network", "hnull", "--", "busybox", "sleep", "600")
	d.ok("run", "-d", "--name", "hd", "--network", "hnull", "--", "busybox", "sleep", "600")
	if out := d.ok("exec", "hc", "--", "busybox", "ip", "-4", "-o", "addr", "show", "eth0"); !strings.Contains(out, "10.0.5.2/24") {
		t.Fatalf("eth0 of hc (address assigned by the plugin on a null-IPAM network):\n%s", out)
	}
	if out := d.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "hd"); strings.TrimSpace(out) != "10.0.5.3" {
		t.Fatalf("inspect of hd: %q, want the plugin's address 10.0.5.3", out)
	}
	pluginPing(t, d, "hc", "10.0.5.3")

	d.ok("rm", "-f", "ha", "hb", "hc", "hd")
	d.ok("network", "rm", "hnet", "hnull")
	// The plugin deleted its links on Leave and DeleteNetwork: nothing
	// of it is left in the daemon's namespace.
	_, hh := netnstest.Open(t, h.Path)
	for _, name := range netnstest.LinkNames(t, hh) {
		if strings.HasPrefix(name, "hp") {
			t.Errorf("link %s left in the daemon's namespace", name)
		}
	}
}
