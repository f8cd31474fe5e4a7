package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// snapshot is what bad input must leave unchanged: the networks and
// sandboxes the daemon reports and the links of the host namespace.
// snapshot captures the state bad input must leave unchanged: networks,
// sandboxes, each network's endpoints, the host's links and ruleset.
func (d *daemon) snapshot() string {
	d.t.Helper()
	links := linkNames(d.t, d.host)
	slices.Sort(links)
	nets := strings.Fields(d.ok("network", "ls", "-q", "--no-trunc"))
	rules, err := exec.Command("nsenter", "--net="+d.host.Path, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		d.t.Fatalf("nft list ruleset: %v\n%s", err, rules)
	}
	return d.ok("network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}") +
		d.ok("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Networks}} {{.State}}") +
		d.ok(append([]string{"network", "inspect", "-f", "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}"}, nets...)...) +
		strings.Join(links, ",") + "\n" + string(rules)
}

func TestBadInput(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.1.0/24", "taken")
	d.ok("run", "-d", "--name", "busy", "--network", "taken", "--ip", "10.0.1.9", "--", "sleep", "60")
	d.ok("network", "create", "--subnet", "10.0.9.0/30", "tiny") // .1 gateway, .2 the only address
	d.ok("sandbox", "create", "--name", "filler", "--network", "tiny")
	d.ok("sandbox", "create", "--name", "quiet", "--network", "none")

	cases := []struct {
		name string
		args []string
		want string // a part of the error message naming the problem
	}{
		{"invalid CIDR", []string{"network", "create", "--subnet", "10.0.300.0/24", "n1"}, "10.0.300.0/24"},
		{"host bits", []string{"network", "create", "--subnet", "10.0.2.5/24", "n1"}, "10.0.2.5/24"},
		{"invalid gateway", []string{"network", "create", "--subnet", "10.0.2.0/24", "--gateway", "10.0.2.x", "n1"}, "10.0.2.x"},
		{"gateway outside", []string{"network", "create", "--subnet", "10.0.2.0/24", "--gateway", "10.0.3.1", "n1"}, "10.0.3.1"},
		{"ip-range outside", []string{"network", "create", "--subnet", "10.0.2.0/24", "--ip-range", "10.0.3.0/25", "n1"}, "10.0.3.0/25"},
		{"aux outside", []string{"network", "create", "--subnet", "10.0.2.0/24", "--aux-address", "a=10.0.3.3", "n1"}, "10.0.3.3"},
		{"overlaps network", []string{"network", "create", "--subnet", "10.0.1.128/25", "n1"}, "taken"},
		{"overlaps host route", []string{"network", "create", "--subnet", "192.0.2.0/25", "n1"}, "192.0.2.0/24"},
		{"duplicate name", []string{"network", "create", "--subnet", "10.0.2.0/24", "taken"}, "taken"},
		{"unknown driver", []string{"network", "create", "-d", "warp", "n1"}, "warp"},
		{"unknown ipam driver", []string{"network", "create", "--ipam-driver", "magic", "n1"}, "magic"},
		{"mtu out of range", []string{"network", "create", "-o", "com.docker.network.driver.mtu=20", "n1"}, "mtu"},
		{"mtu not a number", []string{"network", "create", "-o", "com.docker.network.driver.mtu=big", "n1"}, "big"},
		{"unknown option", []string{"network", "create", "-o", "com.example.color=blue", "n1"}, "com.example.color"},
		{"bad network name", []string{"network", "create", "bad/name"}, "bad/name"},
		{"remove default", []string{"network", "rm", "bridge"}, "bridge"},
		{"remove in use", []string{"network", "rm", "taken"}, "busy"},
		{"remove unknown", []string{"network", "rm", "nosuchnet"}, "nosuchnet"},
		{"unknown network run", []string{"run", "--network", "nosuchnet", "--", "true"}, "nosuchnet"},
		{"unknown sandbox", []string{"network", "connect", "taken", "nosuchbox"}, "nosuchbox"},
		{"ip outside subnet", []string{"run", "--network", "taken", "--ip", "10.0.2.9", "--", "true"}, "10.0.2.9"},
		{"ip in use", []string{"run", "--network", "taken", "--ip", "10.0.1.9", "--", "true"}, "10.0.1.9"},
		{"ip is gateway", []string{"run", "--network", "taken", "--ip", "10.0.1.1", "--", "true"}, "10.0.1.1"},
		{"bad ip", []string{"run", "--network", "taken", "--ip", "ten", "--", "true"}, "ten"},
		{"full subnet", []string{"run", "--network", "tiny", "--", "true"}, "10.0.9.0/30"},
		{"bad mac", []string{"run", "--network", "taken", "--mac-address", "01:00:5e:00:00:01", "--", "true"}, "01:00:5e:00:00:01"},
		{"bad sandbox name", []string{"run", "--name", "-x", "--", "true"}, "-x"},
		{"duplicate sandbox name", []string{"run", "--name", "busy", "--", "true"}, "busy"},
		{"already connected", []string{"network", "connect", "taken", "busy"}, "taken"},
		{"none joins another", []string{"network", "connect", "taken", "quiet"}, "quiet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := d.snapshot()
			r := d.pb(c.args...)
			if r.code == 0 {
				t.Fatalf("patchbay %v succeeded: %s", c.args, r)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("error does not name %q: %s", c.want, r.stderr)
			}
			if after := d.snapshot(); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestNoDaemonSaysHowToStart(t *testing.T) {
	d := &daemon{t: t, sock: t.TempDir() + "/none.sock"}
	r := d.pb("network", "ls")
	if r.code == 0 || !strings.Contains(r.stderr, "patchbay daemon") {
		t.Fatalf("without a daemon: %s", r)
	}
}
