package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
)

// TestQuickStart walks the scenario of the README and the issue: default
// networks, a user network, a detached web server, a foreground client
// that reaches it, inspect, and a live connect.
func TestQuickStart(t *testing.T) {
	d := startDaemon(t)
	out := d.ok("network", "ls")
	for _, want := range []string{"NETWORK ID", "bridge", "host", "none"} {
		if !strings.Contains(out, want) {
			t.Fatalf("network ls lacks %q:\n%s", want, out)
		}
	}
	id := strings.TrimSpace(d.ok("network", "create", "--subnet", "10.0.1.0/24", "--gateway", "10.0.1.1", "mynet"))
	if len(id) != 64 {
		t.Fatalf("network create printed %q, want a 64-hex ID", id)
	}
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok("run", "-d", "--name", "web", "--network", "mynet", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www)
	var got string
	for i := 0; i < 50; i++ { // httpd needs a moment to listen
		r := d.pb("run", "--rm", "--network", "mynet", "--", "busybox", "wget", "-qO-", "http://10.0.1.2/")
		if r.code == 0 {
			got = r.stdout
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "hello from web\n" {
		t.Fatalf("wget from a second sandbox got %q", got)
	}
	// The --rm sandbox is gone.
	if out := d.ok("ps", "-a", "-q"); len(strings.Fields(out)) != 1 {
		t.Errorf("ps -a after --rm run lists %q, want only web", out)
	}

	var nets []types.NetworkResource
	if err := json.Unmarshal([]byte(d.ok("network", "inspect", "mynet")), &nets); err != nil {
		t.Fatalf("network inspect is not a JSON array: %v", err)
	}
	n := nets[0]
	if n.Name != "mynet" || n.ID != id || n.Driver != "bridge" || n.Scope != "local" || n.IPAM.Driver != "default" {
		t.Errorf("inspect = %+v", n)
	}
	if len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != "10.0.1.0/24" || n.IPAM.Config[0].Gateway != "10.0.1.1" {
		t.Errorf("IPAM config = %+v", n.IPAM.Config)
	}
	if len(n.Containers) != 1 {
		t.Fatalf("Containers = %+v, want web", n.Containers)
	}
	for _, c := range n.Containers {
		if c.Name != "web" || c.IPv4Address != "10.0.1.2/24" || !strings.HasPrefix(c.MacAddress, "") || c.EndpointID == "" {
			t.Errorf("web's entry = %+v", c)
		}
	}
	raw := d.ok("network", "inspect", "mynet")
	for _, field := range []string{`"Name"`, `"Id"`, `"Created"`, `"Scope"`, `"Driver"`, `"EnableIPv6"`, `"IPAM"`, `"Internal"`, `"Attachable"`, `"Ingress"`, `"ConfigFrom"`, `"ConfigOnly"`, `"Containers"`, `"Options"`, `"Labels"`, `"AuxiliaryAddresses"`} {
		if field == `"AuxiliaryAddresses"` {
			continue // omitted when empty, as Docker does
		}
		if !strings.Contains(raw, field) {
			t.Errorf("network inspect lacks %s", field)
		}
	}

	// Live connect: web gets eth1 on the default bridge.
	d.ok("network", "connect", "bridge", "web")
	devs := d.ok("exec", "web", "--", "cat", "/proc/net/dev")
	if !strings.Contains(devs, "eth0:") || !strings.Contains(devs, "eth1:") {
		t.Fatalf("web after connect:\n%s", devs)
	}
	insp := d.ok("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.Gateway}}", "web")
	if strings.TrimSpace(insp) != "172.17.0.2 172.17.0.1" {
		t.Errorf("web on bridge = %q, want 172.17.0.2 172.17.0.1", insp)
	}
	// Generated files seen by the process.
	files := d.ok("exec", "web", "--", "cat", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf")
	// On a user-defined network, resolv.conf names the embedded
	// resolver, which forwards to the host's servers.
	for _, want := range []string{"10.0.1.2", "172.17.0.2", "127.0.0.1\tlocalhost", "nameserver 127.0.0.11"} {
		if !strings.Contains(files, want) {
			t.Errorf("generated files lack %q:\n%s", want, files)
		}
	}
	if strings.Contains(files, "127.0.0.53") || strings.Contains(files, "192.0.2.53") {
		t.Errorf("resolv.conf names the host's servers instead of the resolver:\n%s", files)
	}
	d.ok("network", "disconnect", "bridge", "web")
	if devs := d.ok("exec", "web", "--", "cat", "/proc/net/dev"); strings.Contains(devs, "eth1:") {
		t.Errorf("eth1 still in web after disconnect:\n%s", devs)
	}
	d.ok("stop", "-t", "1", "web")
	if st := d.ok("ps", "-a", "--format", "{{.Status}}"); !strings.HasPrefix(strings.TrimSpace(st), "Exited") {
		t.Errorf("status after stop = %q", st)
	}
	d.ok("rm", "web")
	d.ok("network", "rm", "mynet")
}

// TestForegroundExitCodeAndStdin checks that run passes stdio and the
// exit code through, from a CLI in another namespace than the daemon.
func TestForegroundExitCodeAndStdin(t *testing.T) {
	d := startDaemon(t)
	r := d.pbIn("ping-pong\n", "run", "--rm", "--", "sh", "-c", "read x; echo got:$x; echo oops >&2; exit 7")
	if r.code != 7 || r.stdout != "got:ping-pong\n" || !strings.Contains(r.stderr, "oops") {
		t.Fatalf("foreground run: %s", r)
	}
	r = d.pb("run", "--rm", "--hostname", "h1", "--", "cat", "/etc/hostname")
	if r.code != 0 || r.stdout != "h1\n" {
		t.Fatalf("hostname: %s", r)
	}
	r = d.pb("run", "--rm", "--", "no-such-command-xyz")
	if r.code == 0 || !strings.Contains(r.stderr, "no-such-command-xyz") {
		t.Fatalf("missing command: %s", r)
	}
	if out := d.ok("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("a failed run left sandboxes: %q", out)
	}
}

// TestLogsAndAdopt covers logs of a detached process and adopting an
// existing namespace from outside (seed 004).
func TestLogsAndAdopt(t *testing.T) {
	d := startDaemon(t)
	d.ok("run", "-d", "--name", "talker", "--", "sh", "-c", "echo line1; echo line2 >&2")
	d.ok("wait", "talker")
	// stderr is logged as such, and printed to stderr.
	if r := d.pb("logs", "talker"); r.code != 0 || r.stdout != "line1\n" || r.stderr != "line2\n" {
		t.Errorf("logs: %s", r)
	}
	d.ok("network", "create", "--subnet", "10.0.7.0/24", "adoptnet")
	// A namespace made by someone else: the outside namespace of the
	// harness stands in for a container's.
	id := strings.TrimSpace(d.ok("sandbox", "create", "--name", "adopted", "--network", "adoptnet", "--netns", d.host.Outside))
	if id == "" {
		t.Fatal("sandbox create printed nothing")
	}
	_, outH := openNS(t, d.host.Outside)
	l, err := outH.LinkByName("eth0")
	if err != nil {
		t.Fatalf("adopted namespace has no eth0: %v", err)
	}
	addrs, _ := outH.AddrList(l, 2)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.0.7.2/24" {
		t.Errorf("adopted eth0 addresses = %v", addrs)
	}
	d.ok("rm", "adopted")
	if _, err := outH.LinkByName("eth0"); err == nil {
		t.Error("eth0 left in the adopted namespace after rm")
	}
	if _, err := os.Stat(d.host.Outside); err != nil {
		t.Errorf("rm of an adopted sandbox removed the foreign namespace: %v", err)
	}
}

// The CLI may live in other network and mount namespaces than the
// daemon: run and exec still pass stdio and exit codes through, and the
// process runs in the sandbox, not beside the CLI.
func TestCLIInOtherNamespaces(t *testing.T) {
	d := startDaemon(t)
	cli := func(stdin string, args ...string) result {
		t.Helper()
		return d.pbVia([]string{"unshare", "--mount", "--net", "--propagation", "private", "--"}, stdin, args...)
	}
	d.ok("network", "create", "--subnet", "10.0.7.0/24", "far")
	r := cli("hello\n", "run", "--rm", "--network", "far", "--", "sh", "-c", "read x; echo $x; cat /proc/net/dev | grep -c eth0; exit 3")
	if r.code != 3 || r.stdout != "hello\n1\n" {
		t.Fatalf("run from other namespaces: %s", r)
	}
	if r := cli("", "run", "-d", "--name", "svc", "--network", "far", "--", "sleep", "600"); r.code != 0 {
		t.Fatalf("run -d from other namespaces: %s", r)
	}
	r = cli("", "exec", "svc", "--", "sh", "-c", "ip -4 -o addr show eth0 2>/dev/null || busybox ip -4 -o addr show eth0")
	if r.code != 0 || !strings.Contains(r.stdout, "10.0.7.3/24") { // .2 went to the first run: allocation is serial
		t.Fatalf("exec from other namespaces does not see the sandbox's eth0: %s", r)
	}
}
