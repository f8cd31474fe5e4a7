package e2e

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/patchbay/patchbay/internal/netnstest"
)

// upstream runs a DNS server the test owns on addr:53 inside the namespace
// at path: it answers ext.example.com with answer and NXDOMAIN otherwise.
func upstream(t *testing.T, path, addr, answer string) {
	t.Helper()
	var pc net.PacketConn
	var err error
	inNetns(t, path, func() { pc, err = net.ListenPacket("udp4", addr+":53") })
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Name == "ext.example.com." && q.Question[0].Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR("ext.example.com. 60 IN A " + answer)
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
}

// TestDNSNamesAliasesAndScoping: sandboxes on a user-defined network find
// each other by name, short ID and alias (a shared alias gives every
// address, rotated), only on networks they share; PTR names them; other
// names go to the upstream the host's resolv.conf names, re-read when it
// changes; glibc, dig and busybox all resolve.
func TestDNSNamesAliasesAndScoping(t *testing.T) {
	d := startDaemon(t)
	upstream(t, d.host.Outside, outsideIP, "198.51.100.7")
	if err := os.WriteFile(d.resolv, []byte("nameserver "+outsideIP+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok("network", "create", "--subnet", "10.0.30.0/24", "app")
	d.ok("network", "create", "--subnet", "10.0.31.0/24", "other")
	d.ok("run", "-d", "--name", "db", "--network", "app", "--network-alias", "database", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "db2", "--network", "app", "--network-alias", "database", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "client", "--network", "app", "--", "sleep", "600")
	dbID := strings.TrimSpace(d.ok("inspect", "--format", "{{.ID}}", "db"))

	run := func(args ...string) result {
		t.Helper()
		return d.pb(append([]string{"exec", "client", "--"}, args...)...)
	}
	if r := run("getent", "hosts", "db"); r.code != 0 || !strings.Contains(r.stdout, "10.0.30.2") {
		t.Errorf("getent hosts db: %s", r)
	}
	if r := run("getent", "hosts", dbID[:12]); r.code != 0 || !strings.Contains(r.stdout, "10.0.30.2") {
		t.Errorf("getent hosts <short id>: %s", r)
	}
	if r := run("getent", "ahostsv4", "database"); r.code != 0 || !strings.Contains(r.stdout, "10.0.30.2") || !strings.Contains(r.stdout, "10.0.30.3") {
		t.Errorf("getent ahostsv4 database lacks an address: %s", r)
	}
	if r := run("getent", "hosts", "db.app"); r.code != 0 || !strings.Contains(r.stdout, "10.0.30.2") {
		t.Errorf("getent hosts db.app: %s", r)
	}
	firsts := map[string]bool{}
	for range 8 {
		r := run("dig", "+short", "database")
		if f := strings.Fields(r.stdout); len(f) == 2 {
			firsts[f[0]] = true
		} else {
			t.Fatalf("dig database: %s", r)
		}
	}
	if len(firsts) < 2 {
		t.Errorf("a shared alias's addresses are not rotated: first was always %v", firsts)
	}
	if r := run("dig", "+short", "-x", "10.0.30.2"); r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), "db.app.") {
		t.Errorf("PTR of db: %s", r)
	}
	if r := run("busybox", "nslookup", "db", "127.0.0.11"); r.code != 0 || !strings.Contains(r.stdout, "10.0.30.2") {
		t.Errorf("busybox nslookup db: %s", r)
	}
	// Names are scoped to the networks a sandbox shares.
	d.ok("run", "-d", "--name", "stranger", "--network", "other", "--", "sleep", "600")
	if r := d.pb("exec", "stranger", "--", "dig", "+short", "db"); strings.Contains(r.stdout, "10.0.30") {
		t.Errorf("a sandbox on another network resolved db: %s", r)
	}
	// Forwarding: the upstream answers, and NXDOMAIN comes through.
	if r := run("dig", "+short", "ext.example.com"); strings.TrimSpace(r.stdout) != "198.51.100.7" {
		t.Errorf("forwarded ext.example.com: %s", r)
	}
	if r := run("dig", "nope.example.com"); !strings.Contains(r.stdout, "status: NXDOMAIN") {
		t.Errorf("NXDOMAIN from upstream: %s", r)
	}
	// A changed host resolv.conf is picked up.
	if out, ok := inNS(t, d.host.Outside, "ip", "addr", "add", "192.0.2.3/24", "dev", "wan"); !ok {
		t.Fatal(out)
	}
	upstream(t, d.host.Outside, "192.0.2.3", "198.51.100.8")
	if err := os.WriteFile(d.resolv, []byte("# changed\nnameserver 192.0.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The file is checked at most once a second.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := run("dig", "+short", "ext.example.com")
		if strings.TrimSpace(r.stdout) == "198.51.100.8" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("3 s after the host's resolv.conf changed: %s", r)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A name resolves as soon as its join returned.
	d.ok("run", "-d", "--name", "late", "--network", "app", "--", "sleep", "600")
	if r := run("dig", "+short", "late"); !strings.HasPrefix(strings.TrimSpace(r.stdout), "10.0.30.") {
		t.Errorf("a new sandbox's name: %s", r)
	}
	d.ok("rm", "-f", "late")
	if r := run("dig", "late"); !strings.Contains(r.stdout, "status: NXDOMAIN") {
		t.Errorf("a removed sandbox's name still resolves: %s", r)
	}
	// resolv.conf points at the resolver; port 53 stays free for the
	// sandbox's own programs.
	if r := run("cat", "/etc/resolv.conf"); !strings.Contains(r.stdout, "nameserver 127.0.0.11") || !strings.Contains(r.stdout, "ndots:0") {
		t.Errorf("resolv.conf on a user network:\n%s", r)
	}
	if r := run("sh", "-c", "socat UDP4-LISTEN:53,bind=0.0.0.0 /dev/null & p=$!; sleep 0.3; kill $p && echo bound"); !strings.Contains(r.stdout, "bound") {
		t.Errorf("a sandbox program cannot bind port 53: %s", r)
	}
	if r := run("dig", "+short", "+tcp", "db"); strings.TrimSpace(r.stdout) != "10.0.30.2" {
		t.Errorf("over TCP: %s", r)
	}
}

// TestDNSFilesAndLinks: --link on the default bridge writes /etc/hosts as
// in seed 004; --add-host, --hostname and --domainname land in the files;
// the default bridge copies the host's resolv.conf without loopback
// servers; --dns/--dns-search/--dns-option replace their sections; on a
// user network a link alias resolves through the resolver.
func TestDNSFilesAndLinks(t *testing.T) {
	d := startDaemon(t)
	d.ok("run", "-d", "--name", "db", "--", "sleep", "600")
	if r := d.pb("run", "--rm", "--link", "db:olddb", "--", "cat", "/etc/hosts"); r.code != 0 || !strings.Contains(r.stdout, "olddb db") {
		t.Errorf("--link hosts entry:\n%s", r)
	}
	r := d.pb("run", "--rm", "--hostname", "h1", "--domainname", "example.org", "--add-host", "foo:10.1.2.3",
		"--add-host", "gw:host-gateway", "--", "sh", "-c", "cat /etc/hosts; hostname; getent hosts foo")
	for _, want := range []string{"h1.example.org h1", "10.1.2.3\tfoo", "gw"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("files lack %q:\n%s", want, r)
		}
	}
	gw := strings.TrimSpace(d.ok("network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", "bridge"))
	if !strings.Contains(r.stdout, gw+"\tgw") {
		t.Errorf("host-gateway is not the default bridge's gateway %s:\n%s", gw, r)
	}
	if r := d.pb("run", "--rm", "--", "cat", "/etc/resolv.conf"); strings.Contains(r.stdout, "127.0.0.53") || !strings.Contains(r.stdout, "nameserver 192.0.2.53") {
		t.Errorf("default bridge resolv.conf:\n%s", r)
	}
	r = d.pb("run", "--rm", "--dns", "192.0.2.99", "--dns-search", "corp.example", "--dns-option", "ndots:3", "--", "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 192.0.2.99", "search corp.example", "options ndots:3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, r)
		}
	}
	d.ok("network", "create", "--subnet", "10.0.32.0/24", "app")
	d.ok("run", "-d", "--name", "appdb", "--network", "app", "--", "sleep", "600")
	if r := d.pb("run", "--rm", "--network", "app", "--link", "appdb:legacy", "--", "dig", "+short", "legacy"); strings.TrimSpace(r.stdout) != "10.0.32.2" {
		t.Errorf("link alias on a user network: %s", r)
	}
	if r := d.pb("run", "--rm", "--network", "app", "--", "dig", "+short", "legacy"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("another sandbox's link alias resolved: %s", r)
	}
	// --add-host, --hostname and --domainname are answered too.
	d.ok("run", "-d", "--name", "fq", "--hostname", "fqhost", "--domainname", "example.org", "--network", "app", "--", "sleep", "600")
	fqIP := strings.TrimSpace(d.ok("inspect", "--format", "{{.NetworkSettings.Networks.app.IPAddress}}", "fq"))
	if r := d.pb("run", "--rm", "--network", "app", "--", "dig", "+short", "fqhost.example.org"); strings.TrimSpace(r.stdout) != fqIP {
		t.Errorf("hostname.domainname: %s", r)
	}
	if r := d.pb("run", "--rm", "--network", "app", "--add-host", "foo:10.9.9.9", "--", "dig", "+short", "foo"); strings.TrimSpace(r.stdout) != "10.9.9.9" {
		t.Errorf("--add-host through the resolver: %s", r)
	}
	out := d.ok("inspect", "--format", "{{json .HostConfig}}", "db")
	if !strings.Contains(out, `"Dns":[]`) {
		t.Errorf("inspect HostConfig: %s", out)
	}
}

// TestContainerMode: --network container:NAME shares NAME's namespace:
// two processes talk over 127.0.0.1; NAME cannot be removed while it is
// shared, unless forced, which removes the sharer too.
func TestContainerMode(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.33.0/24", "app")
	d.ok("run", "-d", "--name", "web", "--hostname", "webhost", "--network", "app", "--",
		"busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/etc")
	waitListening(t, d, "web", ":8080/tcp")
	r := d.pb("run", "--rm", "--network", "container:web", "--", "sh", "-c",
		"timeout 3 busybox wget -qO- http://127.0.0.1:8080/hostname; ip -o -4 addr show eth0")
	if r.code != 0 || !strings.Contains(r.stdout, "webhost") || !strings.Contains(r.stdout, "10.0.33.2") {
		t.Errorf("container mode: %s", r)
	}
	d.ok("run", "-d", "--name", "side", "--network", "container:web", "--", "sleep", "600")
	if out := d.ok("inspect", "--format", "{{.HostConfig.NetworkMode}}", "side"); !strings.HasPrefix(strings.TrimSpace(out), "container:") {
		t.Errorf("NetworkMode of side = %q", out)
	}
	if r := d.pb("exec", "side", "--", "dig", "+short", "web"); strings.TrimSpace(r.stdout) != "10.0.33.2" {
		t.Errorf("the sharer uses web's resolver: %s", r)
	}
	if r := d.pb("rm", "-f", "web"); r.code != 0 {
		t.Errorf("rm -f web: %s", r)
	}
	if out := d.ok("ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "side") || strings.Contains(out, "web") {
		t.Errorf("after rm -f web:\n%s", out)
	}
	d.ok("run", "-d", "--name", "web2", "--network", "app", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "side2", "--network", "container:web2", "--", "sleep", "600")
	if r := d.pb("rm", "web2"); r.code == 0 || !strings.Contains(r.stderr, "in use by side2") {
		t.Errorf("rm of a shared sandbox: %s", r)
	}
	if r := d.pb("network", "connect", "app", "side2"); r.code == 0 || !strings.Contains(r.stderr, "shares the network namespace") {
		t.Errorf("connect of a sharer: %s", r)
	}
}

// TestDNSBadInput: each malformed name-service option is a clear error
// that changes nothing.
func TestDNSBadInput(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.34.0/24", "app")
	d.ok("run", "-d", "--name", "web", "--network", "app", "--", "sleep", "600")
	before := d.snapshot()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "app", "--network-alias", "-bad"}, "invalid network alias"},
		{[]string{"--network", "app", "--network-alias", "a..b"}, "invalid network alias"},
		{[]string{"--network-alias", "x"}, "user-defined networks"},
		{[]string{"--link", "missing"}, "no such sandbox"},
		{[]string{"--link", "web:-x"}, "invalid --link"},
		{[]string{"--add-host", "foo"}, "want name:ip"},
		{[]string{"--add-host", "foo:notanip"}, "not an IP address"},
		{[]string{"--dns", "8.8.8"}, "invalid --dns"},
		{[]string{"--dns-search", "bad domain"}, "invalid --dns-search"},
		{[]string{"--hostname", "bad!host"}, "invalid hostname"},
		{[]string{"--network", "container:missing"}, "no such sandbox"},
		{[]string{"--network", "container:web", "-p", "80"}, "conflicting options"},
		{[]string{"--network", "container:web", "--hostname", "x"}, "conflicting options"},
		{[]string{"--network", "container:web", "--dns", "192.0.2.1"}, "conflicting options"},
	} {
		args := append([]string{"run", "-d"}, c.args...)
		r := d.pb(append(args, "--", "sleep", "1")...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("run %v: want an error with %q, got %s", c.args, c.want, r)
		}
	}
	if after := d.snapshot(); after != before {
		t.Errorf("bad input changed state:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// TestDNSAfterRestart: a running sandbox's resolver is served again when
// the daemon comes back (new sockets, the redirect replaced), and a
// sandbox connected later to a user network gets it too.
func TestDNSAfterRestart(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.35.0/24", "app")
	d.ok("run", "-d", "--name", "db", "--network", "app", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "client", "--network", "app", "--", "sleep", "600")
	d.ok("run", "-d", "--name", "late", "--", "sleep", "600")
	if r := d.pb("exec", "client", "--", "dig", "+short", "db"); strings.TrimSpace(r.stdout) != "10.0.35.2" {
		t.Fatalf("before restart: %s", r)
	}
	d.stop()
	d.start()
	if r := d.pb("exec", "client", "--", "dig", "+short", "+tries=3", "db"); strings.TrimSpace(r.stdout) != "10.0.35.2" {
		t.Errorf("after restart: %s", r)
	}
	d.ok("network", "connect", "app", "late")
	if r := d.pb("exec", "late", "--", "dig", "+short", "db"); strings.TrimSpace(r.stdout) != "10.0.35.2" {
		t.Errorf("after connecting a default-bridge sandbox to a user network: %s", r)
	}
	if r := d.pb("exec", "late", "--", "cat", "/etc/resolv.conf"); !strings.Contains(r.stdout, "127.0.0.11") {
		t.Errorf("resolv.conf after connect:\n%s", r)
	}
}

// TestDNSLoopbackUpstream: an upstream on the host's loopback (like
// systemd-resolved's 127.0.0.53) is reached: forwarding dials from the
// daemon's namespace.
func TestDNSLoopbackUpstream(t *testing.T) {
	d := startDaemon(t)
	upstream(t, d.host.Path, "127.0.0.53", "198.51.100.9") // the harness's resolv.conf names it
	d.ok("network", "create", "--subnet", "10.0.36.0/24", "app")
	if r := d.pb("run", "--rm", "--network", "app", "--", "dig", "+short", "ext.example.com"); strings.TrimSpace(r.stdout) != "198.51.100.9" {
		t.Errorf("forwarded to 127.0.0.53 of the host: %s", r)
	}
}

// TestDaemonDNS: the daemon's --dns replaces the host's servers: the
// resolver forwards there, and default-bridge sandboxes list them.
func TestDaemonDNS(t *testing.T) {
	h := netnstest.NewHost(t)
	d := startDaemonIn(t, h, "--dns", outsideIP)
	upstream(t, h.Outside, outsideIP, "198.51.100.10")
	d.ok("network", "create", "--subnet", "10.0.39.0/24", "app")
	if r := d.pb("run", "--rm", "--network", "app", "--", "dig", "+short", "ext.example.com"); strings.TrimSpace(r.stdout) != "198.51.100.10" {
		t.Errorf("forwarded to the daemon's --dns: %s", r)
	}
	if r := d.pb("run", "--rm", "--", "cat", "/etc/resolv.conf"); !strings.Contains(r.stdout, "nameserver "+outsideIP) || strings.Contains(r.stdout, "192.0.2.53") {
		t.Errorf("default bridge resolv.conf with the daemon's --dns:\n%s", r)
	}
}
