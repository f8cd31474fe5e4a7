package engine_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/daemon"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/vishvananda/netlink"
)

func TestMain(m *testing.M) {
	sandbox.InitMain()
	os.Exit(m.Run())
}

type fixture struct {
	host *netnstest.Host
	cfg  engine.Config
	eng  *engine.Engine
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := netnstest.NewHost(t)
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fixture{host: h, cfg: engineConfig(t, engine.Config{
		Root: filepath.Join(dir, "root"), ExecRoot: filepath.Join(dir, "exec"),
		HostNetns: h.Path, ResolvConf: resolv,
	}, "")}
	f.open(t)
	t.Cleanup(func() { f.teardown(t) })
	return f
}

// engineConfig completes cfg with the daemon's drivers and default
// networks, the default bridge on bridgeDevice.
func engineConfig(t *testing.T, cfg engine.Config, bridgeDevice string) engine.Config {
	t.Helper()
	cfg, err := daemon.EngineConfig(cfg, bridgeDevice)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (f *fixture) open(t *testing.T) {
	t.Helper()
	eng, err := engine.New(context.Background(), f.cfg)
	if err != nil {
		t.Fatalf("start engine: %v", err)
	}
	f.eng = eng
}

// teardown removes every sandbox (killing processes) and network, so the
// namespaces and mounts the engine made are gone.
func (f *fixture) teardown(t *testing.T) {
	if f.eng == nil {
		return
	}
	ctx := context.Background()
	for _, sb := range f.eng.Sandboxes() {
		if err := f.eng.RemoveSandbox(ctx, sb.ID, true); err != nil {
			t.Errorf("cleanup sandbox %s: %v", sb.Name, err)
		}
	}
	if _, err := f.eng.PruneNetworks(ctx); err != nil {
		t.Errorf("cleanup networks: %v", err)
	}
	f.eng.Close()
	f.eng = nil
	checkNoLogHolder(t, f.cfg.ExecRoot)
}

func (f *fixture) network(t *testing.T, name, subnet string) cnm.Network {
	t.Helper()
	req := engine.NetworkCreate{Name: name}
	if subnet != "" {
		req.IPAM = []engine.IPAMRequest{{Subnet: subnet}}
	}
	n, err := f.eng.CreateNetwork(context.Background(), req)
	if err != nil {
		t.Fatalf("create network %s: %v", name, err)
	}
	return n
}

func (f *fixture) sandbox(t *testing.T, name, net string) engine.SandboxInfo {
	t.Helper()
	if _, err := f.eng.CreateSandbox(context.Background(), engine.SandboxCreate{Name: name, Network: net}); err != nil {
		t.Fatalf("create sandbox %s: %v", name, err)
	}
	sb, err := f.eng.Sandbox(name)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// run runs a command in a sandbox's namespace and returns its exit code
// and combined output.
func (f *fixture) run(t *testing.T, sb string, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	name := netnstest.RandomName("run")
	info, err := f.eng.Sandbox(sb)
	if err != nil {
		t.Fatal(err)
	}
	// Commands run in a fresh sandbox sharing nothing but the namespace
	// would need adoption; simplest is a one-shot process in the sandbox
	// itself when it has none running.
	_ = name
	if info.Running() {
		p, err := f.eng.Exec(context.Background(), sb, engine.ExecSpec{Args: args, Stdout: w, Stderr: w})
		w.Close()
		if err != nil {
			t.Fatalf("exec in %s: %v", sb, err)
		}
		out, _ := io.ReadAll(r)
		code, _ := p.Wait()
		return code, string(out)
	}
	_, err = f.eng.Start(context.Background(), sb, engine.ProcessSpec{Args: args, Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		t.Fatalf("start in %s: %v", sb, err)
	}
	out, _ := io.ReadAll(r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := f.eng.Wait(ctx, sb)
	if err != nil {
		t.Fatalf("wait in %s: %v", sb, err)
	}
	return code, string(out)
}

func TestDefaultNetworks(t *testing.T) {
	f := newFixture(t)
	var names []string
	for _, n := range f.eng.Networks() {
		names = append(names, n.Name+"/"+n.Driver)
		if !n.Builtin {
			t.Errorf("network %s is not builtin", n.Name)
		}
	}
	if want := []string{"bridge/bridge", "host/host", "none/null"}; !slices.Equal(names, want) {
		t.Fatalf("networks = %v, want %v", names, want)
	}
	br, err := f.host.Handle.LinkByName("patchbay0")
	if err != nil {
		t.Fatalf("default bridge device: %v", err)
	}
	addrs, _ := f.host.Handle.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "172.17.0.1/16" {
		t.Fatalf("default bridge addresses = %v, want 172.17.0.1/16", addrs)
	}
	for _, name := range []string{"bridge", "host", "none"} {
		err := f.eng.RemoveNetwork(context.Background(), name)
		if !errors.Is(err, cnm.ErrForbidden) {
			t.Errorf("remove %s: err = %v, want forbidden", name, err)
		}
	}
}

func TestNoneHasOnlyLoopback(t *testing.T) {
	f := newFixture(t)
	f.sandbox(t, "quiet", "none")
	code, out := f.run(t, "quiet", "cat", "/proc/net/dev")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if strings.Contains(out, "eth") || !strings.Contains(out, "lo:") {
		t.Fatalf("interfaces in a none sandbox:\n%s", out)
	}
}

func TestHostSeesHostInterfaces(t *testing.T) {
	f := newFixture(t)
	f.sandbox(t, "hosty", "host")
	code, out := f.run(t, "hosty", "cat", "/proc/net/dev")
	if code != 0 || !strings.Contains(out, "uplink:") || !strings.Contains(out, "patchbay0:") {
		t.Fatalf("host sandbox should see the host namespace's uplink and patchbay0 (exit %d):\n%s", code, out)
	}
}

func TestBridgeTrafficAndPorts(t *testing.T) {
	f := newFixture(t)
	n := f.network(t, "mynet", "10.0.1.0/24")
	a := f.sandbox(t, "alpha", "mynet")
	b := f.sandbox(t, "beta", "mynet")
	if got := a.Endpoints[0].IPv4.String(); got != "10.0.1.2/24" {
		t.Errorf("alpha address = %s, want 10.0.1.2/24", got)
	}
	if got := b.Endpoints[0].IPv4.String(); got != "10.0.1.3/24" {
		t.Errorf("beta address = %s, want 10.0.1.3/24", got)
	}
	br, err := f.host.Handle.LinkByName("br-" + n.ID[:12])
	if err != nil {
		t.Fatalf("bridge device: %v", err)
	}
	for _, sb := range []engine.SandboxInfo{a, b} {
		l, err := f.host.Handle.LinkByName(sb.Endpoints[0].HostIfName)
		if err != nil {
			t.Fatalf("host end of %s: %v", sb.Name, err)
		}
		if l.Type() != "veth" || l.Attrs().MasterIndex != br.Attrs().Index {
			t.Errorf("host end %s of %s: type %s master %d, want a veth port of %s", l.Attrs().Name, sb.Name, l.Type(), l.Attrs().MasterIndex, br.Attrs().Name)
		}
	}
	for _, c := range []struct{ from, to string }{{"alpha", "10.0.1.3"}, {"beta", "10.0.1.2"}, {"alpha", "10.0.1.1"}} {
		if code, out := f.run(t, c.from, "busybox", "ping", "-c", "1", "-W", "2", c.to); code != 0 {
			t.Errorf("ping %s from %s: exit %d\n%s", c.to, c.from, code, out)
		}
	}
}

func TestRestoreAndSweep(t *testing.T) {
	f := newFixture(t)
	f.network(t, "mynet", "10.0.1.0/24")
	a := f.sandbox(t, "alpha", "mynet")
	f.eng.Close()
	f.eng = nil

	// Damage the kernel behind the engine's back: remove alpha's veth,
	// and leave a tagged link no record explains.
	if err := f.host.Handle.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a.Endpoints[0].HostIfName}}); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	stray := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "stray0"}}
	if err := f.host.Handle.LinkAdd(stray); err != nil {
		t.Fatal(err)
	}
	if err := f.host.Handle.LinkSetAlias(stray, f.eng.Tag()+"ep:"+strings.Repeat("f", 64)); err != nil {
		t.Fatal(err)
	}
	f.eng.Close()
	f.open(t)

	if _, err := f.host.Handle.LinkByName("stray0"); err == nil {
		t.Error("a tagged link no record explains survived the restart")
	}
	got, err := f.eng.Sandbox("alpha")
	if err != nil {
		t.Fatalf("alpha after restart: %v", err)
	}
	if got.Endpoints[0].IPv4 != a.Endpoints[0].IPv4 || got.Endpoints[0].MAC != a.Endpoints[0].MAC {
		t.Errorf("alpha endpoint changed over restart: %+v -> %+v", a.Endpoints[0], got.Endpoints[0])
	}
	if _, err := f.host.Handle.LinkByName(a.Endpoints[0].HostIfName); err != nil {
		t.Errorf("alpha's veth was not re-created: %v", err)
	}
	if code, out := f.run(t, "alpha", "busybox", "ping", "-c", "1", "-W", "2", "10.0.1.1"); code != 0 {
		t.Errorf("alpha cannot reach its gateway after restore: %s", out)
	}
	// Serial allocation continues after the restart.
	b := f.sandbox(t, "beta", "mynet")
	if got := b.Endpoints[0].IPv4.Addr().String(); got != "10.0.1.3" {
		t.Errorf("beta = %s, want 10.0.1.3", got)
	}
}

func TestConnectDisconnectLive(t *testing.T) {
	f := newFixture(t)
	f.network(t, "front", "10.0.1.0/24")
	f.network(t, "back", "10.0.2.0/24")
	f.sandbox(t, "web", "front")
	ctx := context.Background()
	if _, err := f.eng.Connect(ctx, "back", "web", engine.EndpointOptions{IPv4: "10.0.2.50"}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	_, out := f.run(t, "web", "cat", "/proc/net/dev", "/etc/hosts")
	if !strings.Contains(out, "eth1:") || !strings.Contains(out, "10.0.2.50") {
		t.Fatalf("after connect, web lacks eth1 or its hosts entry:\n%s", out)
	}
	if err := f.eng.Disconnect(ctx, "front", "web", false); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	// eth0 is gone; the default route moved to eth1's gateway.
	_, out = f.run(t, "web", "sh", "-c", "cat /proc/net/dev; cat /proc/net/route")
	if strings.Contains(out, "eth0:") {
		t.Fatalf("eth0 still present after disconnect:\n%s", out)
	}
	if !strings.Contains(out, "eth1\t00000000\t01020A0A") && !strings.Contains(out, "eth1\t00000000\t0102000A") {
		t.Errorf("no default route via 10.0.2.1 on eth1:\n%s", out)
	}
}
