package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitWithin polls cond until it holds or limit passes.
func waitWithin(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func networkScope(t testing.TB, d *daemon, name string) string {
	r := d.pb("network", "inspect", "-f", "{{.Scope}}", name)
	if r.code != 0 {
		return ""
	}
	return strings.TrimSpace(r.stdout)
}

// The seed's multi-host scenario, typed as a user types it: an overlay
// network created on one host is on every host (scope global); a sandbox
// on one host serves, one on another host reaches it by name across the
// underlay; ping, TCP and UDP cross; a second overlay is isolated from
// the first; a bad create changes nothing.
func TestOverlayAcrossHosts(t *testing.T) {
	l := startLab(t, labOptions{})
	h1, h2, h3 := l.daemons[0], l.daemons[1], l.daemons[2]
	h1.ok("network", "create", "-d", "overlay", "--subnet", "10.10.0.0/16", "ovnet")
	for _, d := range []*daemon{h2, h3} {
		waitWithin(t, 10*time.Second, "overlay network on every host", func() bool { return networkScope(t, d, "ovnet") == "global" })
	}
	if out := h3.ok("network", "ls"); !strings.Contains(out, "overlay") || !strings.Contains(out, "global") {
		t.Fatalf("network ls on another host:\n%s", out)
	}
	h1.ok("run", "-d", "--name", "api", "--network", "ovnet", "--", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	h3.ok("run", "-d", "--name", "udp", "--network", "ovnet", "--", "socat", "UDP-RECVFROM:5353,fork", "SYSTEM:echo udp-ok")
	out := h2.ok("run", "--rm", "--network", "ovnet", "--", "busybox", "wget", "-qO-", "http://api/hostname")
	if !strings.Contains(out, "api") && len(strings.TrimSpace(out)) == 0 {
		t.Fatalf("wget http://api/ from another host: %q", out)
	}
	apiIP := strings.TrimSpace(h1.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "api"))
	if r := h2.pb("run", "--rm", "--network", "ovnet", "--", "busybox", "ping", "-c", "2", "-W", "2", apiIP); r.code != 0 {
		t.Fatalf("ping across hosts: %s", r)
	}
	if r := h2.pb("run", "--rm", "--network", "ovnet", "--", "sh", "-c", "echo hi | socat -T 3 - UDP:udp:5353"); r.code != 0 || !strings.Contains(r.stdout, "udp-ok") {
		t.Fatalf("UDP across hosts by name: %s", r)
	}

	// A second overlay is a separate segment.
	h2.ok("network", "create", "-d", "overlay", "--subnet", "10.11.0.0/16", "other")
	waitWithin(t, 10*time.Second, "second overlay on h1", func() bool { return networkScope(t, h1, "other") == "global" })
	if r := h2.pb("run", "--rm", "--network", "other", "--", "busybox", "ping", "-c", "1", "-W", "2", apiIP); r.code == 0 {
		t.Fatalf("a sandbox of another overlay reached %s", apiIP)
	}
	if r := h2.pb("run", "--rm", "--network", "other", "--", "busybox", "nslookup", "api", "127.0.0.11"); r.code == 0 {
		t.Fatalf("a sandbox of another overlay resolved api: %s", r)
	}

	// Bad input changes nothing.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "-d", "overlay", "--subnet", "10.10.5.0/24", "clash"}, "subnet"},
		{[]string{"network", "create", "-d", "overlay", "ovnet"}, "already exists"},
	} {
		if r := h3.pb(c.args...); r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("patchbay %s: %s; want an error mentioning %q", strings.Join(c.args, " "), r, c.want)
		}
	}
	h1.ok("rm", "-f", "api")
	h3.ok("rm", "-f", "udp")
	h1.ok("network", "rm", "ovnet")
	for _, d := range []*daemon{h2, h3} {
		waitWithin(t, 10*time.Second, "overlay removed everywhere", func() bool { return networkScope(t, d, "ovnet") == "" })
	}
}

// Overlay networks created at once from every host get distinct VNIs and
// subnets; sandboxes attached at once across hosts get distinct
// addresses.
func TestOverlayConcurrent(t *testing.T) {
	l := startLab(t, labOptions{})
	var wg sync.WaitGroup
	errs := make([]string, 3*4)
	for i, d := range l.daemons {
		for j := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := d.pb("network", "create", "-d", "overlay", fmt.Sprintf("c%d-%d", i, j)); r.code != 0 {
					errs[i*4+j] = r.String()
				}
			}()
		}
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatalf("concurrent overlay create: %s", e)
		}
	}
	var nets []struct {
		Name    string
		Options map[string]string
		IPAM    struct{ Config []struct{ Subnet string } }
	}
	waitWithin(t, 10*time.Second, "every overlay on h1", func() bool {
		return strings.Count(l.daemons[0].ok("network", "ls", "-q", "-f", "driver=overlay"), "\n") == 12
	})
	names := strings.Fields(l.daemons[0].ok("network", "ls", "-f", "driver=overlay", "--format", "{{.Name}}"))
	if err := json.Unmarshal([]byte(l.daemons[0].ok(append([]string{"network", "inspect"}, names...)...)), &nets); err != nil {
		t.Fatal(err)
	}
	subnets := map[string]string{}
	for _, n := range nets {
		s := n.IPAM.Config[0].Subnet
		if o, dup := subnets[s]; dup {
			t.Fatalf("overlays %s and %s share subnet %s", o, n.Name, s)
		}
		subnets[s] = n.Name
	}

	l.daemons[0].ok("network", "create", "-d", "overlay", "--subnet", "10.50.0.0/24", "many")
	for _, d := range l.daemons[1:] {
		waitWithin(t, 10*time.Second, "network many everywhere", func() bool { return networkScope(t, d, "many") == "global" })
	}
	const perHost = 10
	addrs := make([][]string, len(l.daemons))
	for i, d := range l.daemons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			var mu sync.Mutex
			for j := range perHost {
				inner.Add(1)
				go func() {
					defer inner.Done()
					name := fmt.Sprintf("m%d-%d", i, j)
					r := d.pb("run", "-d", "--name", name, "--network", "many", "--", "sleep", "600")
					if r.code != 0 {
						t.Errorf("run on h%d: %s", i+1, r)
						return
					}
					ip := strings.TrimSpace(d.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name))
					mu.Lock()
					addrs[i] = append(addrs[i], ip)
					mu.Unlock()
				}()
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i, as := range addrs {
		for _, a := range as {
			if o, dup := seen[a]; dup {
				t.Fatalf("address %s given on h%d and h%d", a, o+1, i+1)
			}
			seen[a] = i
		}
	}
	if len(seen) != 3*perHost {
		t.Fatalf("%d distinct addresses, want %d", len(seen), 3*perHost)
	}
}

// A host whose daemon is killed and whose link is cut disappears from the
// others' name service and forwarding within its lease; back, it
// reconciles without duplicates.
func TestOverlayHostDeath(t *testing.T) {
	l := startLab(t, labOptions{args: []string{"--cluster-ttl", "3s"}})
	h1, h2 := l.daemons[0], l.daemons[1]
	h1.ok("network", "create", "-d", "overlay", "--subnet", "10.12.0.0/24", "ov")
	waitWithin(t, 10*time.Second, "overlay on h2", func() bool { return networkScope(t, h2, "ov") == "global" })
	h2.ok("run", "-d", "--name", "client", "--network", "ov", "--", "sleep", "600")
	h1.ok("run", "-d", "--name", "doomed", "--network", "ov", "--", "sleep", "600")
	resolves := func() bool {
		return h2.pb("exec", "client", "--", "busybox", "nslookup", "doomed", "127.0.0.11").code == 0
	}
	waitWithin(t, 5*time.Second, "doomed resolvable from h2", resolves)
	fdb := func() string {
		return string(must(t, "nsenter", "--net="+l.u.Hosts[1].Path, "bridge", "fdb", "show", "nud", "permanent"))
	}
	before := strings.Count(fdb(), "dst 198.51.100.1 ")
	if before == 0 {
		t.Fatalf("h2 has no forwarding entry towards h1:\n%s", fdb())
	}
	h1.kill9()
	l.u.Hosts[0].Cut(t)
	gone := waitWithin(t, 3*time.Second+5*time.Second, "a dead host's forwarding entries gone", func() bool {
		return !strings.Contains(fdb(), "dst 198.51.100.1 ")
	})
	t.Logf("dead host's forwarding entries gone %v after the kill (TTL 3s)", gone)
	waitWithin(t, 10*time.Second, "a dead host's names gone", func() bool { return !resolves() })

	l.u.Hosts[0].Restore(t)
	h1.start()
	waitWithin(t, 10*time.Second, "a returning host's names back", resolves)
	if n := strings.Count(fdb(), "dst 198.51.100.1 "); n != before {
		t.Fatalf("h2 has %d forwarding entries towards h1 after its return, want %d:\n%s", n, before, fdb())
	}
}

// An underlay with MTU 1400 carries a 1 MB transfer between hosts with
// no setting: the overlay's MTU follows the underlay's.
func TestOverlaySmallUnderlayMTU(t *testing.T) {
	l := startLab(t, labOptions{hosts: 2, mtu: 1400})
	h1, h2 := l.daemons[0], l.daemons[1]
	h1.ok("network", "create", "-d", "overlay", "--subnet", "10.13.0.0/24", "ov")
	waitWithin(t, 10*time.Second, "overlay on h2", func() bool { return networkScope(t, h2, "ov") == "global" })
	count := "/tmp/pb-mtu-" + l.u.Hosts[0].Name + "-count"
	t.Cleanup(func() { os.Remove(count) })
	h1.ok("run", "-d", "--name", "sink", "--network", "ov", "--", "sh", "-c", "socat -u TCP-LISTEN:9000,reuseaddr - | wc -c > "+count+"; sleep 600")
	waitWithin(t, 10*time.Second, "the sink listens", func() bool {
		return strings.Contains(h1.pb("exec", "sink", "--", "busybox", "netstat", "-ltn").stdout, ":9000")
	})
	r := h2.pb("run", "--rm", "--network", "ov", "--", "sh", "-c", "head -c 1048576 /dev/zero | socat -u - TCP:sink:9000")
	if r.code != 0 {
		t.Fatalf("1 MB across an MTU 1400 underlay: %s", r)
	}
	var got string
	waitWithin(t, 10*time.Second, "the transfer arrives whole", func() bool {
		b, _ := os.ReadFile(count)
		got = strings.TrimSpace(string(b))
		return got == "1048576"
	})
}

// Overlay networks need a cluster store: without one, the error says so.
func TestOverlayNeedsClusterStore(t *testing.T) {
	d := startDaemon(t)
	r := d.pb("network", "create", "-d", "overlay", "ovnet")
	if r.code == 0 || !strings.Contains(r.stderr, "cluster store") {
		t.Fatalf("overlay without a cluster store: %s", r)
	}
	if out := d.ok("network", "ls"); strings.Contains(out, "ovnet") {
		t.Fatalf("a refused overlay is listed:\n%s", out)
	}
}

// With etcd away, sandboxes on an overlay keep their traffic, local work
// goes on, operations that need etcd fail within a deadline naming it,
// and everything catches up when it returns.
func TestOverlayEtcdAway(t *testing.T) {
	l := startLab(t, labOptions{hosts: 2})
	h1, h2 := l.daemons[0], l.daemons[1]
	h1.ok("network", "create", "-d", "overlay", "--subnet", "10.14.0.0/24", "ov")
	waitWithin(t, 10*time.Second, "overlay on h2", func() bool { return networkScope(t, h2, "ov") == "global" })
	h1.ok("run", "-d", "--name", "sa", "--network", "ov", "--", "sleep", "600")
	h2.ok("run", "-d", "--name", "sb", "--network", "ov", "--", "sleep", "600")
	aIP := strings.TrimSpace(h1.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "sa"))
	waitWithin(t, 5*time.Second, "b reaches a", func() bool {
		return h2.pb("exec", "sb", "--", "busybox", "ping", "-c", "1", "-W", "1", aIP).code == 0
	})
	waitWithin(t, 5*time.Second, "sb resolves on h1", func() bool {
		return h1.pb("exec", "sa", "--", "busybox", "nslookup", "sb", "127.0.0.11").code == 0
	})

	l.etcd.Stop()
	if r := h2.pb("exec", "sb", "--", "busybox", "ping", "-c", "2", "-W", "2", aIP); r.code != 0 {
		t.Fatalf("traffic across hosts with etcd away: %s", r)
	}
	start := time.Now()
	r := h2.pb("run", "-d", "--name", "sc", "--network", "ov", "--", "sleep", "600")
	if r.code == 0 || !strings.Contains(r.stderr, "cluster store") {
		t.Fatalf("attach to an overlay with etcd away: %s", r)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the failed attach took %v", took)
	}
	h2.ok("network", "create", "--subnet", "10.15.0.0/24", "local")
	h2.ok("run", "--rm", "--network", "local", "--", "busybox", "ping", "-c", "1", "-W", "2", "10.15.0.1")
	// Removing a sandbox of the overlay is local: it does not wait for
	// etcd; its record goes once etcd is back.
	h2.ok("rm", "-f", "sb")

	l.etcd.Start()
	waitWithin(t, 30*time.Second, "a sandbox removed while etcd was away leaves the other host's DNS", func() bool {
		return h1.pb("exec", "sa", "--", "busybox", "nslookup", "sb", "127.0.0.11").code != 0
	})
	waitWithin(t, 30*time.Second, "attach once etcd is back", func() bool {
		return h2.pb("run", "-d", "--name", "sc", "--network", "ov", "--", "sleep", "600").code == 0
	})
	cIP := strings.TrimSpace(h2.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "sc"))
	waitWithin(t, 10*time.Second, "a reaches the sandbox attached after etcd came back", func() bool {
		return h1.pb("exec", "sa", "--", "busybox", "ping", "-c", "1", "-W", "1", cIP).code == 0
	})
}
