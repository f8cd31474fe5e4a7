package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// inNS runs a command in a network namespace of the test and returns its
// combined output and whether it succeeded.
func inNS(t *testing.T, ns string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + ns, "--"}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// background starts a long-running command in a namespace, stopped at
// cleanup.
func background(t *testing.T, ns string, args ...string) {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=" + ns, "--"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(200 * time.Millisecond)
}

const (
	hostIP    = "192.0.2.2" // the test host's uplink address
	outsideIP = "192.0.2.1" // the "internet"
)

// TestPublishedPortsAndNAT: a published port is served to another machine,
// to the host itself on 127.0.0.1 and its own address, and to containers
// through the host's address (hairpin, also to itself); container
// addresses and unpublished ports are not reachable from outside; outbound
// traffic leaves with the host's address.
func TestPublishedPortsAndNAT(t *testing.T) {
	d := startDaemon(t)
	host, outside := d.host.Path, d.host.Outside
	d.ok("network", "create", "--subnet", "10.0.5.0/24", "pubnet")
	d.ok("run", "-d", "--name", "web", "--hostname", "webhost", "-p", "8080:80", "-p", "127.0.0.1:8081:80",
		"-p", "5353:53/udp", "--network", "pubnet", "--", "sh", "-c",
		"socat UDP-RECVFROM:53,fork 'SYSTEM:echo udp-ok' & exec busybox httpd -f -p 80 -h /etc")
	waitListening(t, d, "web", ":80/tcp", ":53/udp")

	fetch := func(ns, url string) (string, bool) {
		return inNS(t, ns, "timeout", "3", "busybox", "wget", "-qO-", url)
	}
	for _, c := range []struct{ ns, where, url string }{
		{outside, "another machine", "http://" + hostIP + ":8080/hostname"},
		{host, "the host via 127.0.0.1", "http://127.0.0.1:8080/hostname"},
		{host, "the host via its own address", "http://" + hostIP + ":8080/hostname"},
		{host, "the host via a 127.0.0.1-only port", "http://127.0.0.1:8081/hostname"},
	} {
		if out, ok := fetch(c.ns, c.url); !ok || strings.TrimSpace(out) != "webhost" {
			t.Errorf("%s: GET %s = %q, ok=%v; want webhost", c.where, c.url, out, ok)
		}
	}
	if out, ok := inNS(t, outside, "sh", "-c", "echo hi | socat -T 3 - UDP:"+hostIP+":5353"); !ok || !strings.Contains(out, "udp-ok") {
		t.Errorf("published UDP from outside: %q ok=%v", out, ok)
	}
	// Hairpin: another container, and the container itself, through the
	// host's address.
	if r := d.pb("run", "--rm", "--network", "pubnet", "--", "timeout", "3", "busybox", "wget", "-qO-", "http://"+hostIP+":8080/hostname"); r.code != 0 || strings.TrimSpace(r.stdout) != "webhost" {
		t.Errorf("hairpin from a neighbour: %s", r)
	}
	if r := d.pb("exec", "web", "--", "timeout", "3", "busybox", "wget", "-qO-", "http://"+hostIP+":8080/hostname"); r.code != 0 || strings.TrimSpace(r.stdout) != "webhost" {
		t.Errorf("hairpin to its own published port: %s", r)
	}

	// Not reachable from outside: the 127.0.0.1-only port on the host's
	// address, and the container's address even with a route to it.
	if out, ok := fetch(outside, "http://"+hostIP+":8081/hostname"); ok {
		t.Errorf("a 127.0.0.1-bound port answered another machine: %q", out)
	}
	if _, ok := inNS(t, outside, "ip", "route", "add", "10.0.5.0/24", "via", hostIP); !ok {
		t.Fatal("route to the container subnet")
	}
	if out, ok := fetch(outside, "http://10.0.5.2:80/hostname"); ok {
		t.Errorf("the container's address was reachable directly from outside: %q", out)
	}

	// Outbound: the outside sees the host's uplink address.
	background(t, outside, "socat", "TCP-LISTEN:9999,reuseaddr,fork", "SYSTEM:echo $SOCAT_PEERADDR")
	if r := d.pb("run", "--rm", "--network", "pubnet", "--", "busybox", "nc", "-w", "3", outsideIP, "9999"); r.code != 0 || strings.TrimSpace(r.stdout) != hostIP {
		t.Errorf("outbound source seen outside = %q, want %s (%s)", strings.TrimSpace(r.stdout), hostIP, r)
	}

	// port lists the mappings the way Docker does.
	out := d.ok("port", "web")
	for _, want := range []string{"53/udp -> 0.0.0.0:5353", "80/tcp -> 0.0.0.0:8080", "80/tcp -> 127.0.0.1:8081"} {
		if !strings.Contains(out, want) {
			t.Errorf("port web lacks %q:\n%s", want, out)
		}
	}
	if got := strings.TrimSpace(d.ok("port", "web", "53/udp")); got != "0.0.0.0:5353" {
		t.Errorf("port web 53/udp = %q", got)
	}
	// firewall show prints the mappings as installed.
	fw := d.ok("firewall", "show")
	for _, want := range []string{"tcp . 8080 : 10.0.5.2 . 80", "127.0.0.1 . tcp . 8081 : 10.0.5.2 . 80", "udp . 5353 : 10.0.5.2 . 53", "chain user-forward"} {
		if !strings.Contains(fw, want) {
			t.Errorf("firewall show lacks %q:\n%s", want, fw)
		}
	}
}

// TestPublishConflictsAndBadInput: a host port already published, or held
// by a host service, is a clear error that leaves nothing behind, and so is
// each malformed spec and publishing where it cannot work.
func TestPublishConflictsAndBadInput(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.6.0/24", "pubnet")
	d.ok("network", "create", "--internal", "--subnet", "10.0.7.0/24", "intnet")
	d.ok("run", "-d", "--name", "pa", "-p", "8080:80", "--network", "pubnet", "--", "sleep", "600")
	background(t, d.host.Path, "socat", "TCP-LISTEN:9090,reuseaddr", "-")
	before := d.snapshot()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "8080:80", "--network", "pubnet"}, "already in use"},
		{[]string{"-p", "9090:80", "--network", "pubnet"}, "already in use"},
		{[]string{"-p", "8080:0", "--network", "pubnet"}, "out of range"},
		{[]string{"-p", "70000:80", "--network", "pubnet"}, "out of range"},
		{[]string{"-p", "9000-8000:80", "--network", "pubnet"}, "8000"},
		{[]string{"-p", "8000-8001:80-82", "--network", "pubnet"}, "8000-8001"},
		{[]string{"-p", "80/icmp", "--network", "pubnet"}, "icmp"},
		{[]string{"-p", "203.0.113.9:8085:80", "--network", "pubnet"}, "not an address of this host"},
		{[]string{"-p", "[::1]:8443:443", "--network", "pubnet"}, "IPv6 loopback"},
		{[]string{"-p", "80", "--network", "host"}, "host"},
		{[]string{"-p", "80", "--network", "none"}, "none"},
		{[]string{"-p", "80", "--network", "intnet"}, "internal"},
	} {
		r := d.pb(append(append([]string{"run", "-d"}, c.args...), "--", "sleep", "600")...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("run %v: want an error naming %q, got %s", c.args, c.want, r)
		}
	}
	if after := d.snapshot(); after != before {
		t.Errorf("failed publishes changed the state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Removing the sandbox frees its host port.
	d.ok("rm", "-f", "pa")
	d.ok("run", "-d", "--name", "pb", "-p", "8080:80", "--network", "pubnet", "--", "sleep", "600")
}

// TestIsolationInternalAndICC: an internal network has no way out;
// containers of an ICC-off network cannot reach each other but can use
// each other's published ports; different networks cannot reach each
// other.
func TestIsolationInternalAndICC(t *testing.T) {
	d := startDaemon(t)
	background(t, d.host.Outside, "socat", "TCP-LISTEN:9999,reuseaddr,fork", "SYSTEM:echo out")
	d.ok("network", "create", "--internal", "--subnet", "10.0.8.0/24", "intnet")
	if r := d.pb("run", "--rm", "--network", "intnet", "--", "busybox", "nc", "-w", "2", outsideIP, "9999"); strings.Contains(r.stdout, "out") {
		t.Errorf("an internal network reached the outside: %s", r)
	}
	d.ok("network", "create", "--subnet", "10.0.9.0/24", "-o", "com.docker.network.bridge.enable_icc=false", "noicc")
	d.ok("run", "-d", "--name", "s1", "-p", "8090:80", "--network", "noicc", "--", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	d.ok("run", "-d", "--name", "s2", "--network", "noicc", "--", "sleep", "600")
	if r := d.pb("exec", "s2", "--", "timeout", "2", "busybox", "wget", "-qO-", "http://10.0.9.2/hostname"); r.code == 0 {
		t.Errorf("ICC off, yet s2 reached s1 directly: %s", r)
	}
	if r := d.pb("exec", "s2", "--", "timeout", "3", "busybox", "wget", "-qO-", "http://"+hostIP+":8090/hostname"); r.code != 0 {
		t.Errorf("ICC off must still allow published ports: %s", r)
	}
	if r := d.pb("exec", "s2", "--", "busybox", "nc", "-w", "3", outsideIP, "9999"); !strings.Contains(r.stdout, "out") {
		t.Errorf("an ICC-off network lost its way out: %s", r)
	}
}

// A published port keeps working while the daemon is down and after it
// comes back, and its host port is held again.
func TestPublishedPortSurvivesRestart(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.10.0/24", "pubnet")
	d.ok("run", "-d", "--name", "web", "--hostname", "webhost", "-p", "8080:80", "--network", "pubnet", "--",
		"busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	waitListening(t, d, "web", ":80/tcp")
	get := func(when string) {
		t.Helper()
		out, ok := inNS(t, d.host.Outside, "timeout", "3", "busybox", "wget", "-qO-", "http://"+hostIP+":8080/hostname")
		if !ok || strings.TrimSpace(out) != "webhost" {
			t.Errorf("%s: published port answered %q ok=%v", when, out, ok)
		}
	}
	get("before the restart")
	d.stop()
	get("while the daemon is down")
	d.start()
	get("after the restart")
	if out := d.ok("port", "web"); !strings.Contains(out, "80/tcp -> 0.0.0.0:8080") {
		t.Errorf("port after restart:\n%s", out)
	}
	if r := d.pb("run", "-d", "-p", "8080:80", "--network", "pubnet", "--", "sleep", "600"); r.code == 0 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("the host port was not held again after the restart: %s", r)
	}
}
