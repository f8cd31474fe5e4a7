package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/internal/testplugin"
)

// pluginLab is a daemon with a plugin directory holding the test plugin
// (a real process, serving NetworkDriver and IpamDriver) as kuryr.sock,
// and the same plugin found by a spec file (myipam.spec) and a JSON spec
// file (jsonp.json).
type pluginLab struct {
	d    *daemon
	plug *testplugin.Proc
	dir  string
}

func newPluginLab(t *testing.T) *pluginLab {
	h := netnstest.NewHost(t)
	dir := t.TempDir()
	plug := testplugin.Start(t, testplugin.Config{Sock: filepath.Join(dir, "kuryr.sock"), Netns: h.Path})
	specs := map[string]string{
		"myipam.spec": "unix://" + plug.Sock + "\n",
		"jsonp.json":  `{"Name": "jsonp", "Addr": "unix://` + plug.Sock + `"}`,
	}
	for name, body := range specs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemonIn(t, h, "--plugin-dir", dir)
	return &pluginLab{d: d, plug: plug, dir: dir}
}

// inspectNet returns a network's inspect JSON.
func pluginInspect(t *testing.T, d *daemon, name string) map[string]any {
	t.Helper()
	var nets []map[string]any
	if err := json.Unmarshal([]byte(d.ok("network", "inspect", name)), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("inspect %s: %v", name, err)
	}
	return nets[0]
}

func pluginPing(t *testing.T, d *daemon, sb, addr string) {
	t.Helper()
	if out := d.ok("exec", sb, "--", "busybox", "ping", "-c1", "-W2", addr); !strings.Contains(out, "1 packets received") {
		t.Fatalf("%s cannot reach %s:\n%s", sb, addr, out)
	}
}

// A network made by a plugin's driver carries traffic between two
// sandboxes; the plugin got Docker's calls with Docker's fields; a
// plugin's IPAM serves a bridge network; plugin ls lists the plugins.
func TestPluginNetworkAndIPAM(t *testing.T) {
	l := newPluginLab(t)
	d := l.d
	d.ok("network", "create", "--driver=kuryr", "--subnet", "10.0.1.0/24", "--gateway", "10.0.1.1", "mykuryr")
	calls := l.plug.Calls()
	for _, want := range []string{
		"Plugin.Activate", "NetworkDriver.GetCapabilities",
		`"IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"10.0.1.0/24","Gateway":"10.0.1.1/24"}]`,
		`"com.docker.network.generic":{}`,
	} {
		if !strings.Contains(calls, want) {
			t.Fatalf("the plugin was not sent %s; it got:\n%s", want, calls)
		}
	}
	if nw := pluginInspect(t, d, "mykuryr"); nw["Driver"] != "kuryr" {
		t.Fatalf("inspect mykuryr: %v", nw)
	}
	d.ok("run", "-d", "--name", "sa", "--network", "mykuryr", "--ip", "10.0.1.10", "--", "busybox", "sleep", "600")
	d.ok("run", "-d", "--name", "sb", "--network", "mykuryr", "--ip", "10.0.1.11", "--", "busybox", "sleep", "600")
	pluginPing(t, d, "sa", "10.0.1.11")
	pluginPing(t, d, "sb", "10.0.1.10")
	calls = l.plug.Calls()
	for _, want := range []string{`"Address":"10.0.1.10/24"`, "NetworkDriver.Join", `"SandboxKey":"`} {
		if !strings.Contains(calls, want) {
			t.Fatalf("the plugin was not sent %s; it got:\n%s", want, calls)
		}
	}
	// The plugin's interface is the sandbox's eth0, with its address.
	if out := d.ok("exec", "sa", "--", "busybox", "ip", "-4", "-o", "addr", "show", "eth0"); !strings.Contains(out, "10.0.1.10/24") {
		t.Fatalf("eth0 of a:\n%s", out)
	}

	// A plugin's IPAM for patchbay's bridge driver, found by a .spec file.
	d.ok("network", "create", "--ipam-driver=myipam", "--ipam-opt", "foo=bar", "net2")
	nw := pluginInspect(t, d, "net2")
	ipamJSON, _ := json.Marshal(nw["IPAM"])
	if !strings.Contains(string(ipamJSON), `"Driver":"myipam"`) || !strings.Contains(string(ipamJSON), `"foo":"bar"`) ||
		!strings.Contains(string(ipamJSON), "10.232.") {
		t.Fatalf("IPAM of net2: %s", ipamJSON)
	}
	if calls := l.plug.Calls(); !strings.Contains(calls, `IpamDriver.RequestPool {"AddressSpace":"TestLocal","Pool":"","SubPool":"","Options":{"foo":"bar"},"V6":false}`) ||
		!strings.Contains(calls, `"RequestAddressType":"com.docker.network.gateway"`) {
		t.Fatalf("the IPAM plugin got:\n%s", calls)
	}
	d.ok("run", "-d", "--name", "sc", "--network", "net2", "--", "busybox", "sleep", "600")
	gw := pluginGateway(t, nw)
	pluginPing(t, d, "sc", gw)

	// A network by the plugin found through a .json spec file.
	d.ok("network", "create", "--driver=jsonp", "--subnet", "10.0.3.0/24", "viajson")

	out := d.ok("plugin", "ls")
	for _, want := range []string{"NAME", "IMPLEMENTS", "ADDRESS", "STATUS", "kuryr", "myipam", "jsonp", "NetworkDriver,IpamDriver", "unix://" + l.plug.Sock, "active"} {
		if !strings.Contains(out, want) {
			t.Fatalf("plugin ls lacks %q:\n%s", want, out)
		}
	}

	d.ok("rm", "-f", "sa", "sb", "sc")
	d.ok("network", "rm", "mykuryr", "net2", "viajson")
	// Removals finish off the request path; a create waits for those
	// of networks.
	d.ok("network", "create", "--driver=kuryr", "--subnet", "10.0.1.0/24", "again")
	calls = l.plug.Calls()
	for _, want := range []string{"NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint", "NetworkDriver.DeleteNetwork", "IpamDriver.ReleasePool"} {
		if !strings.Contains(calls, want) {
			t.Fatalf("the plugin was not sent %s; it got:\n%s", want, calls)
		}
	}
}

func pluginGateway(t *testing.T, nw map[string]any) string {
	t.Helper()
	ipam, _ := nw["IPAM"].(map[string]any)
	cfgs, _ := ipam["Config"].([]any)
	if len(cfgs) == 0 {
		t.Fatalf("no IPAM config: %v", nw)
	}
	c, _ := cfgs[0].(map[string]any)
	gw, _ := c["Gateway"].(string)
	if gw == "" {
		t.Fatalf("no gateway: %v", c)
	}
	return gw
}

// A plugin that dies makes only its own networks fail, promptly and
// naming it; restarted, it is found again. A daemon restarted while the
// plugin is down starts, lists the plugin's networks, and once the
// plugin is back uses them again, with the IPAM plugin's pools replayed.
func TestPluginRestart(t *testing.T) {
	l := newPluginLab(t)
	d := l.d
	d.ok("network", "create", "--driver=kuryr", "--subnet", "10.0.1.0/24", "mykuryr")
	d.ok("network", "create", "--ipam-driver=myipam", "net2")
	d.ok("network", "create", "--subnet", "10.0.9.0/24", "fine")
	d.ok("run", "-d", "--name", "sa", "--network", "mykuryr", "--ip", "10.0.1.10", "--", "busybox", "sleep", "600")

	l.plug.Kill()
	for _, args := range [][]string{
		{"run", "--rm", "--network", "mykuryr", "--", "busybox", "true"},
		{"run", "--rm", "--network", "net2", "--", "busybox", "true"},
		{"network", "create", "--driver=kuryr", "--subnet", "10.0.2.0/24", "another"},
	} {
		if r := d.pb(args...); r.code == 0 || !strings.Contains(r.stderr, "kuryr") && !strings.Contains(r.stderr, "myipam") {
			t.Fatalf("patchbay %s with the plugin down: %s", strings.Join(args, " "), r)
		}
	}
	if out := d.ok("plugin", "ls"); !strings.Contains(out, "unavailable") {
		t.Fatalf("plugin ls with the plugin down:\n%s", out)
	}
	// A network whose plugin was found unreachable says so.
	if out := d.ok("network", "inspect", "-f", "{{.Unavailable}}", "mykuryr"); !strings.Contains(out, "kuryr") {
		t.Fatalf("inspect of a network whose plugin is down: %q", out)
	}
	d.ok("run", "-d", "--name", "sf", "--network", "fine", "--", "busybox", "sleep", "600")
	pluginPing(t, d, "sf", "10.0.9.1")

	l.plug.Restart()
	d.ok("run", "-d", "--name", "sb", "--network", "mykuryr", "--ip", "10.0.1.11", "--", "busybox", "sleep", "600")
	if out := d.ok("network", "inspect", "-f", "{{.Unavailable}}", "mykuryr"); strings.TrimSpace(out) != "" {
		t.Fatalf("inspect once the plugin is back: %q", out)
	}
	pluginPing(t, d, "sb", "10.0.1.10")
	d.ok("rm", "-f", "sa", "sb")

	// The daemon restarts while the plugin is down.
	d.stop()
	l.plug.Kill()
	d.start()
	out := d.ok("network", "ls")
	for _, want := range []string{"mykuryr", "net2", "fine"} {
		if !strings.Contains(out, want) {
			t.Fatalf("network ls after a restart with the plugin down lacks %s:\n%s", want, out)
		}
	}
	l.plug.Restart()
	d.ok("run", "-d", "--name", "sa", "--network", "mykuryr", "--ip", "10.0.1.10", "--", "busybox", "sleep", "600")
	d.ok("run", "-d", "--name", "sb", "--network", "mykuryr", "--ip", "10.0.1.11", "--", "busybox", "sleep", "600")
	pluginPing(t, d, "sa", "10.0.1.11")
	d.ok("run", "-d", "--name", "sc", "--network", "net2", "--", "busybox", "sleep", "600")
	pluginPing(t, d, "sc", pluginGateway(t, pluginInspect(t, d, "net2")))
	if calls := l.plug.Calls(); strings.Count(calls, "IpamDriver.RequestPool") < 2 {
		t.Fatalf("the IPAM plugin's pools were not replayed:\n%s", calls)
	}
}

// Errors in every shape real plugins answer with reach the user with the
// plugin's message and name; a Join naming no real interface fails and
// leaves nothing behind.
func TestPluginErrorShapes(t *testing.T) {
	l := newPluginLab(t)
	d := l.d
	for i, shape := range []string{"err200", "err500", "error500", "text500"} {
		name := "bad" + shape
		r := d.pb("network", "create", "--driver=kuryr", "-o", testplugin.OptFail+"="+shape, "--subnet", "10.0."+string(rune('1'+i))+".0/24", name)
		if r.code == 0 || !strings.Contains(r.stderr, "plugin kuryr") || !strings.Contains(r.stderr, "CreateNetwork") ||
			!strings.Contains(r.stderr, "refused on purpose ("+shape+")") {
			t.Fatalf("create with a plugin answering %s: %s", shape, r)
		}
	}
	r := d.pb("network", "create", "--ipam-driver=myipam", "--ipam-opt", testplugin.OptFail+"=err200", "badipam")
	if r.code == 0 || !strings.Contains(r.stderr, "plugin myipam") || !strings.Contains(r.stderr, "RequestPool") || !strings.Contains(r.stderr, "refused on purpose") {
		t.Fatalf("create with an IPAM plugin answering an in-band Error: %s", r)
	}
	r = d.pb("network", "create", "--driver=nosuchplugin", "x")
	if r.code == 0 || !strings.Contains(r.stderr, "nosuchplugin") {
		t.Fatalf("create with a plugin that is not there: %s", r)
	}
	if out := d.ok("network", "ls"); strings.Contains(out, "bad") {
		t.Fatalf("a failed create left a network:\n%s", out)
	}

	d.ok("network", "create", "--driver=kuryr", "-o", testplugin.OptJoin+"=nosuchif", "--subnet", "10.0.7.0/24", "liar")
	r = d.pb("run", "--rm", "--network", "liar", "--", "busybox", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "plugin kuryr") || !strings.Contains(r.stderr, "tpnosuch0") {
		t.Fatalf("run on a network whose plugin names a missing interface: %s", r)
	}
	if strings.Contains(d.ok("ps", "-a"), "liar") {
		t.Fatal("a failed run left a sandbox")
	}
	calls := l.plug.Calls()
	if !strings.Contains(calls, "NetworkDriver.Leave") || !strings.Contains(calls, "NetworkDriver.DeleteEndpoint") {
		t.Fatalf("the failed join was not undone in the plugin:\n%s", calls)
	}
	d.ok("network", "rm", "liar")

	// The plugin crashes in the middle of a join: the run fails naming
	// it, nothing is left in patchbay, and once the plugin is back its
	// other networks work.
	d.ok("network", "create", "--driver=kuryr", "-o", testplugin.OptJoin+"=crash", "--subnet", "10.0.8.0/24", "crashy")
	d.ok("network", "create", "--driver=kuryr", "--subnet", "10.0.9.0/24", "steady")
	r = d.pb("run", "--rm", "--name", "victim", "--network", "crashy", "--", "busybox", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "plugin kuryr") || !strings.Contains(r.stderr, "Join") {
		t.Fatalf("run while the plugin crashes in Join: %s", r)
	}
	if strings.Contains(d.ok("ps", "-a"), "victim") {
		t.Fatal("a join cut short by a plugin crash left a sandbox")
	}
	l.plug.Restart()
	d.ok("run", "-d", "--name", "s1", "--network", "steady", "--ip", "10.0.9.10", "--", "busybox", "sleep", "600")
	d.ok("run", "-d", "--name", "s2", "--network", "steady", "--ip", "10.0.9.11", "--", "busybox", "sleep", "600")
	pluginPing(t, d, "s1", "10.0.9.11")
}
