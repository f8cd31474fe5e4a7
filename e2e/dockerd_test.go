package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/netnstest"
)

// The real-dockerd tests run Debian's dockerd, containerd and runc, which
// `make deps` extracts (never installs) into .cache/dockerd, inside a
// throwaway network namespace AND a private mount namespace: /run there
// is a fresh tmpfs, so dockerd finds patchbay's plugin socket in its
// /run/docker/plugins without the machine's own directory being touched,
// and every other path (data roots, exec roots, sockets) is under the
// test's temporary directory. patchbay runs in the same two namespaces:
// it makes the veth pairs where dockerd takes them from, and sees the
// namespace files dockerd bind-mounts.

// dockerdDir is where `make deps` extracts the packages.
func dockerdDir() string {
	if d := os.Getenv("PATCHBAY_DOCKERD_DIR"); d != "" {
		return d
	}
	abs, _ := filepath.Abs("../.cache/dockerd")
	return abs
}

// requireDockerd returns the extracted tree, or skips the test (fails it
// under CI) when something is missing.
func requireDockerd(t testing.TB) string {
	t.Helper()
	netnstest.RequireRoot(t)
	dir := dockerdDir()
	for _, f := range []string{"usr/sbin/dockerd", "usr/bin/containerd", "usr/bin/containerd-shim-runc-v2",
		"usr/sbin/runc", "usr/bin/docker", "xbin/iptables", "bin/busybox"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			msg := fmt.Sprintf("%s missing (run `make deps`): %v", f, err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	for _, tool := range []string{"unshare", "nsenter", "busybox", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (run `make deps`)", tool)
			}
			t.Skipf("%s missing", tool)
		}
	}
	return dir
}

// dockerEnv is a real dockerd networked by patchbay, in throwaway
// namespaces.
type dockerEnv struct {
	t     testing.TB
	cache string
	dir   string
	host  *netnstest.Host
	// holder keeps the private mount namespace alive; mnt is its file.
	holder  *exec.Cmd
	mnt     string
	ctd     *exec.Cmd
	dockerd *exec.Cmd
	dlog    *bytes.Buffer
	pb      *daemon
}

func newDockerEnv(t testing.TB) *dockerEnv {
	cache := requireDockerd(t)
	e := &dockerEnv{t: t, cache: cache, dir: t.TempDir(), host: netnstest.NewHost(t)}
	// The mount namespace: /run is a fresh tmpfs with an empty
	// /run/docker/plugins, seen only by the processes entered into it.
	e.holder = exec.Command("nsenter", "--net="+e.host.Path, "--", "unshare", "-m", "--propagation", "private",
		"sh", "-c", "mount -t tmpfs tmpfs /run && mkdir -p /run/docker/plugins && echo ready && exec sleep 1000000")
	out := &syncBuffer{}
	e.holder.Stdout, e.holder.Stderr = out, out
	if err := e.holder.Start(); err != nil {
		t.Fatalf("start mount namespace: %v", err)
	}
	t.Cleanup(e.cleanup)
	waitFor(t, "mount namespace", func() bool { return strings.Contains(out.String(), "ready") })
	e.mnt = fmt.Sprintf("/proc/%d/ns/mnt", e.holder.Process.Pid)
	// The holder's pid is unshare's until it execs sh then sleep; the
	// namespace is the same throughout.
	resolv := filepath.Join(e.dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.startContainerd()
	e.pb = &daemon{t: t, host: e.host, dir: filepath.Join(e.dir, "pb"), resolv: resolv,
		args: []string{"--serve-docker-plugin", "--docker-plugin-dir", "/run/docker/plugins"}}
	e.pb.sock = filepath.Join(e.pb.dir, "exec", "patchbay.sock")
	e.startPatchbay()
	e.startDockerd()
	e.importImage()
	return e
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// enter returns a command run in the test's network and mount
// namespaces, with the extracted binaries first on PATH.
func (e *dockerEnv) enter(name string, args ...string) *exec.Cmd {
	all := append([]string{"--net=" + e.host.Path, "--mount=" + e.mnt, "--", name}, args...)
	cmd := exec.Command("nsenter", all...)
	lib := filepath.Join(e.cache, "usr/lib/x86_64-linux-gnu")
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Join(e.cache, "xbin")+":"+filepath.Join(e.cache, "usr/bin")+":"+filepath.Join(e.cache, "usr/sbin")+":"+os.Getenv("PATH"),
		"LD_LIBRARY_PATH="+lib, "XTABLES_LIBDIR="+filepath.Join(lib, "xtables"))
	return cmd
}

func (e *dockerEnv) startContainerd() {
	cfg := filepath.Join(e.dir, "containerd.toml")
	toml := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\n[grpc]\n  address = %q\n",
		filepath.Join(e.dir, "ctd-root"), filepath.Join(e.dir, "ctd-state"), filepath.Join(e.dir, "ctd.sock"))
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.ctd = e.enter(filepath.Join(e.cache, "usr/bin/containerd"), "--config", cfg)
	log := &syncBuffer{}
	e.ctd.Stdout, e.ctd.Stderr = log, log
	if err := e.ctd.Start(); err != nil {
		e.t.Fatalf("start containerd: %v", err)
	}
	waitFor(e.t, "containerd", func() bool { _, err := os.Stat(filepath.Join(e.dir, "ctd.sock")); return err == nil })
}

func (e *dockerEnv) dsock() string { return filepath.Join(e.dir, "docker.sock") }

func (e *dockerEnv) startDockerd() {
	e.dlog = &bytes.Buffer{}
	e.dockerd = e.enter(filepath.Join(e.cache, "usr/sbin/dockerd"),
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--userland-proxy=false",
		"--storage-driver=vfs", "--data-root", filepath.Join(e.dir, "docker-data"),
		"--exec-root", filepath.Join(e.dir, "docker-exec"), "--pidfile", filepath.Join(e.dir, "docker.pid"),
		"-H", "unix://"+e.dsock(), "--containerd", filepath.Join(e.dir, "ctd.sock"),
		"--config-file", filepath.Join(e.dir, "daemon.json"))
	if err := os.WriteFile(filepath.Join(e.dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	log := &syncBuffer{}
	e.dockerd.Stdout, e.dockerd.Stderr = log, log
	if err := e.dockerd.Start(); err != nil {
		e.t.Fatalf("start dockerd: %v", err)
	}
	waitFor(e.t, "dockerd", func() bool { return e.docker("version").code == 0 })
	e.t.Cleanup(func() {
		if e.t.Failed() {
			e.t.Logf("dockerd log (tail):\n%s", tail(log.String(), 60))
		}
	})
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stopDockerd stops dockerd with SIGTERM and waits (it stops its
// containers: there is no live restore).
func (e *dockerEnv) stopDockerd() {
	if e.dockerd == nil || e.dockerd.ProcessState != nil {
		return
	}
	_ = e.dockerd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.dockerd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		e.t.Errorf("dockerd did not stop within 60s of SIGTERM; killing it")
		_ = e.dockerd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// startPatchbay runs the patchbay daemon in the test's namespaces.
func (e *dockerEnv) startPatchbay() {
	d := e.pb
	d.log = &bytes.Buffer{}
	d.cmd = e.enter(binary, "daemon", "--root", filepath.Join(d.dir, "root"), "--exec-root", filepath.Join(d.dir, "exec"),
		"-H", "unix://"+d.sock, "--resolv-conf", d.resolv)
	d.cmd.Args = append(d.cmd.Args, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		e.t.Fatalf("start patchbay: %v", err)
	}
	c := d.client()
	waitFor(e.t, "patchbay", func() bool { return c.Ping(context.Background()) == nil })
}

// docker runs the docker CLI against the test's dockerd.
func (e *dockerEnv) docker(args ...string) result {
	return e.dockerIn("", args...)
}

func (e *dockerEnv) dockerIn(stdin string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.cache, "usr/bin/docker"), append([]string{"-H", "unix://" + e.dsock()}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(e.dir, "cli"), "HOME="+filepath.Join(e.dir, "cli"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code, r.stderr = -1, err.Error()
	}
	return r
}

// dok runs the docker CLI and fails the test unless it exits 0.
func (e *dockerEnv) dok(args ...string) string {
	e.t.Helper()
	r := e.docker(args...)
	if r.code != 0 {
		e.t.Fatalf("docker %s: %s\npatchbay log (tail):\n%s", strings.Join(args, " "), r, tail(e.pb.log.String(), 40))
	}
	return strings.TrimSpace(r.stdout)
}

// importImage makes the test image "pbtest" from a busybox-static root
// filesystem.
func (e *dockerEnv) importImage() {
	root := filepath.Join(e.dir, "rootfs")
	for _, d := range []string{"bin", "www", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	bb, err := os.ReadFile(filepath.Join(e.cache, "bin/busybox"))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, a := range []string{"sh", "ping", "wget", "ip", "sleep", "httpd", "cat", "nslookup", "hostname", "true"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "www/index.html"), []byte("hello from patchbay\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	tar, err := exec.Command("tar", "-C", root, "-c", ".").Output()
	if err != nil {
		e.t.Fatalf("tar rootfs: %v", err)
	}
	if r := e.dockerIn(string(tar), "import", "-", "pbtest"); r.code != 0 {
		e.t.Fatalf("docker import: %s", r)
	}
}

// cleanup removes every container and network through dockerd, stops
// dockerd, patchbay and containerd, then kills whatever still runs in
// the private mount namespace (container processes, shims) by pid, and
// ends the namespace.
func (e *dockerEnv) cleanup() {
	if e.dockerd != nil && e.dockerd.ProcessState == nil {
		if ids := strings.Fields(e.docker("ps", "-aq").stdout); len(ids) > 0 {
			e.docker(append([]string{"rm", "-f"}, ids...)...)
		}
		e.docker("network", "prune", "-f")
		e.stopDockerd()
	}
	if e.pb != nil {
		e.pb.cleanup()
	}
	if e.ctd != nil && e.ctd.ProcessState == nil {
		_ = e.ctd.Process.Signal(syscall.SIGTERM)
		_ = e.ctd.Wait()
	}
	if e.holder != nil && e.holder.Process != nil {
		e.killNamespace()
		_ = e.holder.Process.Signal(syscall.SIGKILL)
		_ = e.holder.Wait()
	}
	unmountUnder(e.dir)
}

// killNamespace kills every process left in the test's mount namespace
// but its holder.
func (e *dockerEnv) killNamespace() {
	want, err := os.Readlink(e.mnt)
	if err != nil {
		return
	}
	for range 3 {
		pids := e.namespacePids(want)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *dockerEnv) namespacePids(want string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == e.holder.Process.Pid {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && l == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

// networkID returns Docker's ID of a network.
func (e *dockerEnv) networkID(name string) string {
	return e.dok("network", "inspect", "-f", "{{.Id}}", name)
}

// pbNetworks returns the names of patchbay's networks.
func (e *dockerEnv) pbNetworks() []string {
	return strings.Fields(e.pb.ok("network", "ls", "--format", "{{.Name}}"))
}

// pbSandboxes returns the names of patchbay's sandboxes.
func (e *dockerEnv) pbSandboxes() []string {
	return strings.Fields(e.pb.ok("ps", "-a", "--format", "{{.Names}}"))
}

func (e *dockerEnv) exec(ctr string, args ...string) string {
	e.t.Helper()
	return e.dok(append([]string{"exec", ctr}, args...)...)
}

// outsideGet fetches url from the outside namespace.
func (e *dockerEnv) outsideGet(url string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+e.host.Outside, "--", "busybox", "wget", "-qO-", url).CombinedOutput()
	r := result{stdout: string(out)}
	if err != nil {
		r.code = 1
		r.stderr = err.Error()
	}
	return r
}

func dockerNames(ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, "docker-"+id[:12])
	}
	return out
}

// TestDockerdPlugin drives a real dockerd whose networks are patchbay's.
func TestDockerdPlugin(t *testing.T) {
	e := newDockerEnv(t)

	// A network with patchbay's driver and IPAM, and one with Docker's
	// default IPAM.
	e.dok("network", "create", "-d", "patchbay", "--ipam-driver", "patchbay", "--subnet", "10.9.0.0/24", "pbnet")
	e.dok("network", "create", "-d", "patchbay", "pbnet2")
	id1, id2 := e.networkID("pbnet"), e.networkID("pbnet2")
	// patchbay's IPAM chooses a subnet when none is given.
	e.dok("network", "create", "-d", "patchbay", "--ipam-driver", "patchbay", "pbauto")
	auto := e.dok("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "pbauto")
	if p, err := netip.ParsePrefix(auto); err != nil || p.Overlaps(netip.MustParsePrefix("10.9.0.0/24")) || p.Overlaps(netnstest.HostAddr.Masked()) {
		t.Fatalf("patchbay's IPAM chose %q", auto)
	}
	e.dok("network", "rm", "pbauto")
	for _, name := range dockerNames(id1, id2) {
		if !slices.Contains(e.pbNetworks(), name) {
			t.Fatalf("patchbay network ls lacks %s: %v", name, e.pbNetworks())
		}
	}
	var info []struct {
		ID   string `json:"Id"`
		IPAM struct {
			Config []struct{ Subnet, Gateway string }
		}
	}
	if err := json.Unmarshal([]byte(e.pb.ok("network", "inspect", "docker-"+id1[:12])), &info); err != nil || len(info) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if info[0].ID != id1 || info[0].IPAM.Config[0].Subnet != "10.9.0.0/24" || info[0].IPAM.Config[0].Gateway != "10.9.0.1" {
		t.Fatalf("patchbay's network is not Docker's: %+v", info[0])
	}

	// Two containers reach each other by name (Docker's DNS) and by IP;
	// a published port is reachable from the outside namespace.
	e.dok("run", "-d", "--name", "web", "--network", "pbnet", "-p", "8080:80", "pbtest", "httpd", "-f", "-p", "80", "-h", "/www")
	e.dok("run", "-d", "--name", "cli", "--network", "pbnet", "pbtest", "sleep", "100000")
	webIP := e.dok("inspect", "-f", "{{(index .NetworkSettings.Networks \"pbnet\").IPAddress}}", "web")
	if !strings.HasPrefix(webIP, "10.9.0.") {
		t.Fatalf("web's address %q is not from pbnet's subnet", webIP)
	}
	check := func(stage string) {
		t.Helper()
		if out := e.exec("cli", "wget", "-qO-", "http://web/"); !strings.Contains(out, "hello from patchbay") {
			t.Fatalf("%s: by name: %q", stage, out)
		}
		if out := e.exec("cli", "wget", "-qO-", "http://"+webIP+"/"); !strings.Contains(out, "hello from patchbay") {
			t.Fatalf("%s: by IP: %q", stage, out)
		}
		if r := e.outsideGet("http://" + netnstest.HostAddr.Addr().String() + ":8080/"); !strings.Contains(r.stdout, "hello from patchbay") {
			t.Fatalf("%s: published port from outside: %s", stage, r)
		}
	}
	check("first start")
	webSB := "docker-" + filepath.Base(e.dok("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "web"))
	if ports := e.pb.ok("port", webSB); !strings.Contains(ports, "80/tcp -> 0.0.0.0:8080") {
		t.Fatalf("patchbay port %s does not show web's published port:\n%s", webSB, ports)
	}
	if len(e.pbSandboxes()) != 2 {
		t.Fatalf("patchbay sandboxes: %v, want web's and cli's", e.pbSandboxes())
	}

	// connect and disconnect, on the second network.
	e.dok("run", "-d", "--name", "other", "--network", "pbnet2", "pbtest", "sleep", "100000")
	e.dok("network", "connect", "pbnet2", "cli")
	if out := e.exec("cli", "ping", "-c1", "-W5", "other"); !strings.Contains(out, "1 packets received") {
		t.Fatalf("ping over the second network: %q", out)
	}
	e.dok("network", "disconnect", "pbnet2", "cli")
	if out := e.exec("cli", "ip", "-o", "link"); strings.Contains(out, "eth1") {
		t.Fatalf("eth1 left after disconnect: %s", out)
	}
	if r := e.docker("exec", "cli", "ping", "-c1", "-W2", "other"); r.code == 0 {
		t.Fatalf("other still reachable after disconnect: %s", r)
	}
	e.dok("network", "connect", "pbnet2", "cli")

	// A macvlan network on the uplink: the container is on the outside's
	// LAN.
	e.dok("network", "create", "-d", "patchbay", "-o", "patchbay.driver=macvlan", "-o", "parent=uplink",
		"--subnet", "192.0.2.0/24", "--gateway", netnstest.OutsideAddr.Addr().String(), "lan")
	e.dok("run", "-d", "--name", "onlan", "--network", "lan", "--ip", "192.0.2.50", "pbtest", "sleep", "100000")
	if out := e.exec("onlan", "ping", "-c1", "-W5", netnstest.OutsideAddr.Addr().String()); !strings.Contains(out, "1 packets received") {
		t.Fatalf("macvlan container to the outside: %q", out)
	}
	e.dok("rm", "-f", "onlan")
	e.dok("network", "rm", "lan")

	// patchbay killed with -9 and restarted under running containers.
	e.pb.kill9()
	e.startPatchbay()
	check("after patchbay kill -9")
	if out := e.exec("cli", "ping", "-c1", "-W5", "other"); !strings.Contains(out, "1 packets received") {
		t.Fatalf("second network after patchbay restart: %q", out)
	}
	e.dok("network", "disconnect", "pbnet2", "cli")
	e.dok("network", "connect", "pbnet2", "cli")
	// patchbay's IPAM kept its allocations: a new container gets an
	// address no other holds.
	e.dok("run", "-d", "--name", "late", "--network", "pbnet", "pbtest", "sleep", "100000")
	ip := func(c string) string {
		return e.dok("inspect", "-f", "{{(index .NetworkSettings.Networks \"pbnet\").IPAddress}}", c)
	}
	if late := ip("late"); late == ip("web") || late == ip("cli") || late == "10.9.0.1" || !strings.HasPrefix(late, "10.9.0.") {
		t.Fatalf("after patchbay restart, a new container got %s (web %s, cli %s)", late, ip("web"), ip("cli"))
	}
	e.dok("rm", "-f", "late")
	if got := len(e.pbSandboxes()); got != 3 {
		t.Fatalf("patchbay sandboxes after restart: %v, want 3", e.pbSandboxes())
	}

	// dockerd restarted: it stops its containers (no live restore),
	// which leaves patchbay no endpoint; started again, no duplicate.
	e.stopDockerd()
	if sbs := e.pbSandboxes(); len(sbs) != 0 {
		t.Fatalf("sandboxes left after dockerd stopped its containers: %v", sbs)
	}
	e.startDockerd()
	e.dok("start", "web", "other", "cli")
	webIP = e.dok("inspect", "-f", "{{(index .NetworkSettings.Networks \"pbnet\").IPAddress}}", "web")
	check("after dockerd restart")
	nets := e.pbNetworks()
	for _, name := range dockerNames(id1, id2) {
		if n := slices.Index(nets, name); n < 0 || slices.Index(nets[n+1:], name) >= 0 {
			t.Fatalf("after dockerd restart, network %s is not there once: %v", name, nets)
		}
	}
	if got := len(e.pbSandboxes()); got != 3 {
		t.Fatalf("patchbay sandboxes after dockerd restart: %v, want 3", e.pbSandboxes())
	}

	// dockerd killed with -9 under running containers: started again, it
	// cleans their sandboxes up (Leave, DeleteEndpoint) and starts anew.
	_ = e.dockerd.Process.Signal(syscall.SIGKILL)
	_ = e.dockerd.Wait()
	e.startDockerd()
	e.docker("start", "web", "other", "cli")
	webIP = e.dok("inspect", "-f", "{{(index .NetworkSettings.Networks \"pbnet\").IPAddress}}", "web")
	check("after dockerd kill -9")
	if got := e.pbSandboxes(); len(got) != 3 {
		t.Fatalf("patchbay sandboxes after dockerd kill -9: %v, want 3", got)
	}

	// Everything removed: nothing left in patchbay or the kernel.
	e.dok("rm", "-f", "web", "cli", "other")
	e.dok("network", "rm", "pbnet", "pbnet2")
	if sbs := e.pbSandboxes(); len(sbs) != 0 {
		t.Fatalf("sandboxes left: %v", sbs)
	}
	for _, n := range e.pbNetworks() {
		if strings.HasPrefix(n, "docker-") {
			t.Fatalf("network left: %s", n)
		}
	}
	waitFor(t, "link removal", func() bool {
		for _, l := range linkNames(t, e.host) {
			if l != "lo" && l != "uplink" && l != "patchbay0" {
				return false
			}
		}
		return true
	})
	// patchbay's IPAM holds nothing: the same subnet can be had again.
	e.dok("network", "create", "-d", "patchbay", "--ipam-driver", "patchbay", "--subnet", "10.9.0.0/24", "again")
	e.dok("network", "rm", "again")
	rules, _ := exec.Command("nsenter", "--net="+e.host.Path, "--", "nft", "list", "ruleset").CombinedOutput()
	if strings.Contains(string(rules), "8080") || strings.Contains(string(rules), "10.9.0.") {
		t.Fatalf("nftables still maps the published port or the subnet:\n%s", rules)
	}
}

// BenchmarkDockerd compares, on the same dockerd, patchbay's bridge
// driver served as a plugin with Docker's own bridge driver (a network
// made with `docker network create -d bridge`; dockerd runs with
// --iptables=false, so Docker's side programs no firewall rules and no
// port mappings, which flatters it): `docker network connect` and
// `disconnect` of a running container, and the cost of `docker run` of a
// container that exits at once. Every figure includes the docker CLI's
// own start and its API round trip.
//
//	go test -run '^$' -bench BenchmarkDockerd -benchtime 20x ./e2e
func BenchmarkDockerd(b *testing.B) {
	e := newDockerEnv(b)
	e.dok("network", "create", "-d", "bridge", "--subnet", "10.78.0.0/24", "base")
	e.dok("network", "create", "-d", "patchbay", "--ipam-driver", "patchbay", "--subnet", "10.76.0.0/24", "pbnet")
	e.dok("network", "create", "-d", "bridge", "--subnet", "10.77.0.0/24", "brnet")
	e.dok("run", "-d", "--name", "ctr", "--network", "base", "pbtest", "sleep", "1000000")
	for _, n := range []string{"pbnet", "brnet"} {
		driver := map[string]string{"pbnet": "patchbay", "brnet": "docker-bridge"}[n]
		b.Run("connect-disconnect/"+driver, func(b *testing.B) {
			var conn, disc time.Duration
			for range b.N {
				t0 := time.Now()
				e.dok("network", "connect", n, "ctr")
				t1 := time.Now()
				e.dok("network", "disconnect", n, "ctr")
				conn, disc = conn+t1.Sub(t0), disc+time.Since(t1)
			}
			b.ReportMetric(float64(conn.Microseconds())/float64(b.N)/1000, "connect-ms/op")
			b.ReportMetric(float64(disc.Microseconds())/float64(b.N)/1000, "disconnect-ms/op")
		})
		b.Run("run/"+driver, func(b *testing.B) {
			for range b.N {
				e.dok("run", "--rm", "--network", n, "pbtest", "true")
			}
		})
	}
}
