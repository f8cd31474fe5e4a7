package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// plugin inspect reports a legacy plugin as JSON, with what it
// implements and the networks that use it; the Engine API's managed
// plugin routes answer the docker CLI as Docker does for a daemon with
// no managed plugins (legacy plugins are not listed there, in Docker
// either).
func TestPluginInspectAndDockerCLI(t *testing.T) {
	l := newPluginLab(t)
	d := l.d
	d.ok("network", "create", "--driver=kuryr", "--subnet", "10.0.1.0/24", "mykuryr")
	d.ok("network", "create", "--ipam-driver=kuryr", "viaipam")

	var ps []map[string]any
	if err := json.Unmarshal([]byte(d.ok("plugin", "inspect", "kuryr", "jsonp")), &ps); err != nil || len(ps) != 2 {
		t.Fatalf("plugin inspect: %v %v", ps, err)
	}
	k := ps[0]
	impl, _ := json.Marshal(k["Implements"])
	nets, _ := json.Marshal(k["Networks"])
	if k["Name"] != "kuryr" || k["Status"] != "active" || k["Address"] != "unix://"+l.plug.Sock ||
		string(impl) != `["NetworkDriver","IpamDriver"]` || string(nets) != `["mykuryr","viaipam"]` {
		t.Fatalf("plugin inspect kuryr: %v", k)
	}
	if ps[1]["Name"] != "jsonp" || !strings.HasSuffix(ps[1]["File"].(string), "jsonp.json") {
		t.Fatalf("plugin inspect jsonp: %v", ps[1])
	}
	if out := d.ok("plugin", "inspect", "-f", "{{.Status}} {{.Address}}", "myipam"); strings.TrimSpace(out) != "active unix://"+l.plug.Sock {
		t.Fatalf("plugin inspect -f: %q", out)
	}
	if r := d.pb("plugin", "inspect", "nope"); r.code == 0 || !strings.Contains(r.stderr, "No such plugin: nope") {
		t.Fatalf("plugin inspect of a missing plugin: %s", r)
	}

	for _, bin := range dockerCLIs(t) {
		c := newDockerCLI(t, d, bin)
		out := c.ok("plugin", "ls")
		if !strings.Contains(out, "NAME") || strings.Contains(out, "kuryr") {
			t.Errorf("%s plugin ls: %q (want the header and no managed plugin)", bin, out)
		}
		c.ok("plugin", "ls", "--filter", "enabled=true", "--filter", "capability=networkdriver")
		c.fails("invalid filter", "plugin", "ls", "--filter", "color=red")
		c.fails("kuryr", "plugin", "inspect", "kuryr")
		// A managed plugin's verbs are refused naming what patchbay is.
		c.fails("plugin", "plugin", "install", "example/plugin")
		// --ipam-driver null from the docker CLI.
		c.ok("network", "create", "-d", "kuryr", "--ipam-driver", "null", "dnull")
		if out := c.ok("network", "inspect", "-f", "{{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}}|{{.Gateway}}{{end}}", "dnull"); strings.TrimSpace(out) != "null 0.0.0.0/0|" {
			t.Errorf("%s network inspect of a null-IPAM network: %q", bin, out)
		}
		c.fails("null ipam driver does not handle specific address pool requests", "network", "create", "-d", "kuryr", "--ipam-driver", "null", "--subnet", "10.9.0.0/24", "dnull2")
		c.ok("network", "rm", "dnull")
	}
	d.ok("network", "rm", "mykuryr", "viaipam")
}

// --ipam-driver null with a plugin's network driver: the plugin gets
// Docker's null pool (0.0.0.0/0 in address space "null", no gateway),
// the endpoint carries no address, and the sandbox gets the plugin's
// interface without one.
func TestPluginNullIPAM(t *testing.T) {
	l := newPluginLab(t)
	d := l.d
	d.ok("network", "create", "--driver=kuryr", "--ipam-driver=null", "l2only")
	if calls := l.plug.Calls(); !strings.Contains(calls, `"IPv4Data":[{"AddressSpace":"null","Pool":"0.0.0.0/0"}]`) {
		t.Fatalf("the plugin was not sent the null pool; it got:\n%s", calls)
	}
	ipam, _ := json.Marshal(pluginInspect(t, d, "l2only")["IPAM"])
	if !strings.Contains(string(ipam), `"Driver":"null"`) || !strings.Contains(string(ipam), `"Config":[{"Subnet":"0.0.0.0/0"}]`) {
		t.Fatalf("IPAM of a null-IPAM network: %s", ipam)
	}
	for _, args := range [][]string{
		{"network", "create", "--driver=kuryr", "--ipam-driver=null", "--subnet", "10.5.0.0/24", "x1"},
		{"network", "create", "--driver=kuryr", "--ipam-driver=null", "--ipv6", "x2"},
	} {
		if r := d.pb(args...); r.code == 0 || !strings.Contains(r.stderr, "null ipam driver does not handle") {
			t.Fatalf("patchbay %s: %s", strings.Join(args, " "), r)
		}
	}
	d.ok("run", "-d", "--name", "sa", "--network", "l2only", "--", "busybox", "sleep", "600")
	if calls := l.plug.Calls(); !strings.Contains(calls, `"Interface":{"Address":"","AddressIPv6":"","MacAddress":"`) {
		t.Fatalf("CreateEndpoint on a null-IPAM network; the plugin got:\n%s", calls)
	}
	if out := d.ok("exec", "sa", "--", "busybox", "ip", "-o", "link", "show", "eth0"); !strings.Contains(out, "eth0") {
		t.Fatalf("no eth0 in the sandbox:\n%s", out)
	}
	if out := d.ok("exec", "sa", "--", "busybox", "ip", "-4", "-o", "addr", "show", "eth0"); strings.TrimSpace(out) != "" {
		t.Fatalf("eth0 has an IPv4 address on a null-IPAM network:\n%s", out)
	}
	if r := d.pb("run", "--rm", "--network", "l2only", "--ip", "10.5.0.9", "--", "busybox", "true"); r.code == 0 {
		t.Fatalf("--ip on a null-IPAM network: %s", r)
	}
	d.ok("rm", "-f", "sa")
	d.ok("network", "rm", "l2only")
}
