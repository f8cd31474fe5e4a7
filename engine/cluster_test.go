package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/daemon"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/bridge"
	"github.com/patchbay/patchbay/drivers/host"
	"github.com/patchbay/patchbay/drivers/null"
	"github.com/patchbay/patchbay/engine"
	"github.com/patchbay/patchbay/internal/netnstest"
	"github.com/patchbay/patchbay/store/cluster"
)

// globalBridge is the bridge driver with global data scope: its networks
// are shared through the cluster store and made on every host (each host
// its own bridge), which is enough to hold the engine to the global
// network lifecycle without a multi-host data path.
type globalBridge struct{ *bridge.Driver }

func (globalBridge) Type() string { return "gbridge" }

func (g globalBridge) Capabilities(ctx context.Context) (driver.Capability, error) {
	c, err := g.Driver.Capabilities(ctx)
	c.DataScope = driver.ScopeGlobal
	return c, err
}

// clusterHost is an engine in a host namespace of its own, sharing the
// cluster store mem.
func clusterHost(t *testing.T, mem *cluster.Memory) *fixture {
	t.Helper()
	f := newFixture(t)
	f.eng.Close()
	f.cfg.Cluster = mem.Client()
	f.cfg.NodeName = netnstest.RandomName("node")
	f.cfg.NodeTTL = 2 * time.Second
	f.cfg.DefaultNetworks = daemon.DefaultNetworks("")
	openClustered(t, f)
	return f
}

func openClustered(t *testing.T, f *fixture) {
	t.Helper()
	reg, err := driver.NewRegistry(nil, bridge.New(), host.New(), null.New(), globalBridge{bridge.New()})
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.Drivers = reg
	f.open(t)
}

// eventually polls cond until it holds or 10 s pass: the other host
// applies the cluster store's changes as its watch delivers them.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

func hasNetwork(f *fixture, name string) bool {
	_, err := f.eng.Network(name)
	return err == nil
}

// A global network created on one host appears on every host, through the
// same reconcile path restore takes, with the creator's subnet; its name
// and subnet are the cluster's, so another host cannot take them; removed
// on any host, it goes everywhere; a host that was down catches up at
// start.
func TestGlobalNetworksAcrossHosts(t *testing.T) {
	mem := cluster.NewMemory(cluster.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	a, b := clusterHost(t, mem), clusterHost(t, mem)
	ctx := context.Background()

	n, err := a.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "gnet", Driver: "gbridge"})
	if err != nil {
		t.Fatal(err)
	}
	if n.Scope != "global" {
		t.Fatalf("scope %q, want global", n.Scope)
	}
	eventually(t, "global network on the other host", func() bool { return hasNetwork(b, "gnet") })
	got, _ := b.eng.Network("gnet")
	if got.ID != n.ID || got.IPAM.Config[0].Subnet != n.IPAM.Config[0].Subnet {
		t.Fatalf("the other host has %s %v, want %s %v", got.ID, got.IPAM.Config, n.ID, n.IPAM.Config)
	}
	// Both hosts made it in their kernel: sandboxes on it work on each.
	b.sandbox(t, "onb", "gnet")
	a.sandbox(t, "ona", "gnet")

	if _, err := b.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "gnet2", Driver: "gbridge",
		IPAM: []engine.IPAMRequest{{Subnet: n.IPAM.Config[0].Subnet.String()}}}); !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("a second global network on the same subnet: %v, want a conflict", err)
	}
	// The name is taken in the cluster even for a host that has not
	// seen it yet: claim it directly, as a racing host would.
	if _, err := b.cfg.Cluster.Put(ctx, "/patchbay/v1/names/racer", []byte("x"), cluster.PutOptions{Create: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "racer", Driver: "gbridge"}); !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("a global network whose name another host claimed: %v, want a conflict", err)
	}

	// b stops; meanwhile a creates one global network and removes nothing.
	b.eng.Close()
	late, err := a.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "late", Driver: "gbridge"})
	if err != nil {
		t.Fatal(err)
	}
	openClustered(t, b)
	if got, err := b.eng.Network("late"); err != nil || got.ID != late.ID {
		t.Fatalf("a host that was down does not have the global network created meanwhile: %v", err)
	}

	// Removed on b, it goes from a too.
	if err := b.eng.RemoveNetwork(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "global network removed on the other host", func() bool { return !hasNetwork(a, "late") })
	// One with endpoints cannot be removed.
	if err := a.eng.RemoveNetwork(ctx, "gnet"); !errors.Is(err, cnm.ErrForbidden) {
		t.Fatalf("removing a global network with endpoints here: %v, want forbidden", err)
	}
	removeEverywhere(t, "gnet", a, b)
}

// Endpoints of a global network are published with their host's lease:
// a sandbox on one host resolves the name of one on another host, their
// addresses are distinct, a second host cannot take a live host's node
// name, and a host that dies disappears (names and all) when its lease
// expires.
func TestGlobalEndpointsAcrossHosts(t *testing.T) {
	mem := cluster.NewMemory(cluster.MemoryOptions{ExpiryInterval: 50 * time.Millisecond})
	t.Cleanup(func() { mem.Close() })
	a, b := clusterHost(t, mem), clusterHost(t, mem)
	ctx := context.Background()
	if _, err := a.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "gnet", Driver: "gbridge"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "global network on the other host", func() bool { return hasNetwork(b, "gnet") })
	ona := a.sandbox(t, "ona", "gnet")
	onb := b.sandbox(t, "onb", "gnet")
	if ona.Endpoints[0].IPv4 == onb.Endpoints[0].IPv4 {
		t.Fatalf("two hosts gave out the same address %s", ona.Endpoints[0].IPv4)
	}
	resolves := func(f *fixture, sb, name string) bool {
		code, _ := f.run(t, sb, "busybox", "nslookup", name, "127.0.0.11")
		return code == 0
	}
	eventually(t, "a name of the other host resolves", func() bool { return resolves(b, "onb", "ona") })
	if err := b.eng.RemoveSandbox(ctx, "onb", true); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.RemoveNetwork(ctx, "gnet"); !errors.Is(err, cnm.ErrForbidden) || !strings.Contains(err.Error(), "ona") {
		t.Fatalf("removing a global network with an endpoint on another host: %v, want forbidden naming it", err)
	}
	b.sandbox(t, "onb", "gnet")

	// The same node name on a third engine while a lives.
	c := newFixture(t)
	c.eng.Close()
	c.eng = nil
	c.cfg.Cluster = mem.Client()
	c.cfg.NodeName = a.cfg.NodeName
	c.cfg.DefaultNetworks = daemon.DefaultNetworks("")
	reg, _ := driver.NewRegistry(nil, bridge.New(), host.New(), null.New(), globalBridge{bridge.New()})
	c.cfg.Drivers = reg
	if eng, err := engine.New(ctx, c.cfg); !errors.Is(err, cnm.ErrConflict) || !strings.Contains(err.Error(), "node name") {
		if eng != nil {
			eng.Close()
		}
		t.Fatalf("a second engine with a live node name: %v, want a conflict naming the node name", err)
	}

	// a dies (its engine closed without removing anything, its lease no
	// longer refreshed): its names go from b within the lease.
	a.eng.Close()
	a.eng = nil
	eventually(t, "a dead host's names go", func() bool { return !resolves(b, "onb", "ona") })

	// a comes back: it registers anew and publishes its endpoint again.
	openClustered(t, a)
	eventually(t, "a returning host's names come back", func() bool { return resolves(b, "onb", "ona") })

	// Without endpoints anywhere, the network can be removed from b.
	removeEverywhere(t, "gnet", b, a)
}

// An address another host claimed first is passed over: the attach that
// lost it (claim and record go out while the driver joins) undoes its
// join and takes the next address, leaving no interface behind; a static
// address another host holds is refused, changing nothing.
func TestGlobalAddressClaimLost(t *testing.T) {
	mem := cluster.NewMemory(cluster.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	a := clusterHost(t, mem)
	ctx := context.Background()
	nw, err := a.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "gnet", Driver: "gbridge",
		IPAM: []engine.IPAMRequest{{Subnet: "10.77.0.0/24"}}})
	if err != nil {
		t.Fatal(err)
	}
	other := mem.Client()
	claim := func(addr string) {
		t.Helper()
		key := "/patchbay/v1/addrs/" + nw.ID + "/" + addr
		if _, err := other.Put(ctx, key, []byte("elsewhere"), cluster.PutOptions{Create: true}); err != nil {
			t.Fatal(err)
		}
	}
	links := func() int {
		t.Helper()
		l, err := a.host.Handle.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	// The host allocates from a point of its own (ipam's Spread): the
	// first sandbox shows where; the next three after it are claimed
	// elsewhere, and one more far off for a static request.
	first := a.sandbox(t, "first", "gnet").Endpoints[0].IPv4.Addr()
	next := func(ip netip.Addr) netip.Addr { // .2 to .254, .1 the gateway
		if ip == netip.MustParseAddr("10.77.0.254") {
			return netip.MustParseAddr("10.77.0.2")
		}
		return ip.Next()
	}
	ip := first
	for range 3 {
		ip = next(ip)
		claim(ip.String())
	}
	far := ip
	for range 100 {
		far = next(far)
	}
	claim(far.String())
	before := links()
	sb := a.sandbox(t, "second", "gnet")
	if got, want := sb.Endpoints[0].IPv4.Addr(), next(ip); got != want {
		t.Fatalf("the first free address after three claimed elsewhere is %s, want %s", got, want)
	}
	if got := links(); got != before+1 {
		t.Fatalf("%d links in the host namespace after one attach, want %d: lost attempts left some", got, before+1)
	}
	state := a.state()
	_, err = a.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "static", Network: "gnet",
		Endpoint: engine.EndpointOptions{IPv4: far.String()}})
	if !errors.Is(err, cnm.ErrConflict) || !strings.Contains(err.Error(), far.String()) || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("a static address another host holds: %v, want a conflict naming it", err)
	}
	if a.state() != state || links() != before+1 {
		t.Fatalf("a refused attach changed the host: %q -> %q, %d links", state, a.state(), links())
	}
	if kvs, _, err := other.List(ctx, "/patchbay/v1/endpoints/"+nw.ID+"/"); err != nil || len(kvs) != 2 {
		t.Fatalf("endpoint records after two attaches and one refused: %d (%v), want 2", len(kvs), err)
	}
	removeEverywhere(t, "gnet", a)
}

// removeEverywhere removes every sandbox of the hosts, then the global
// network from the first host, and waits until the others lost it.
func removeEverywhere(t *testing.T, name string, hosts ...*fixture) {
	t.Helper()
	ctx := context.Background()
	for _, f := range hosts {
		for _, sb := range f.eng.Sandboxes() {
			if err := f.eng.RemoveSandbox(ctx, sb.ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "the global network removed once its endpoints are gone", func() bool {
		return hosts[0].eng.RemoveNetwork(ctx, name) == nil
	})
	for _, f := range hosts[1:] {
		eventually(t, "the removal reaches the other host", func() bool { return !hasNetwork(f, name) })
	}
}

// countingStore counts the calls of a cluster store that change it or
// read it on a request path.
type countingStore struct {
	cluster.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) note(op string) {
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
}

func (c *countingStore) Get(ctx context.Context, key string) (cluster.KV, error) {
	c.note("get")
	return c.Store.Get(ctx, key)
}

func (c *countingStore) List(ctx context.Context, prefix string) ([]cluster.KV, int64, error) {
	c.note("list")
	return c.Store.List(ctx, prefix)
}

func (c *countingStore) Put(ctx context.Context, key string, value []byte, opts cluster.PutOptions) (int64, error) {
	c.note("put")
	return c.Store.Put(ctx, key, value, opts)
}

func (c *countingStore) PutAll(ctx context.Context, writes []cluster.Write) (int64, error) {
	c.note("putall")
	return c.Store.PutAll(ctx, writes)
}

func (c *countingStore) Delete(ctx context.Context, key string, opts cluster.DeleteOptions) error {
	c.note("delete")
	return c.Store.Delete(ctx, key, opts)
}

func (c *countingStore) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

// An attach to a global network costs a constant number of cluster store
// requests, whatever the network's size: one, which claims the addresses
// and writes the endpoint's record.
func TestGlobalAttachStoreRequests(t *testing.T) {
	mem := cluster.NewMemory(cluster.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	a := clusterHost(t, mem)
	counter := &countingStore{Store: mem.Client(), calls: map[string]int{}}
	a.eng.Close()
	a.cfg.Cluster = counter
	openClustered(t, a)
	ctx := context.Background()
	if _, err := a.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "gnet", Driver: "gbridge"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 20} {
		before := counter.total()
		for i := range n {
			if _, err := a.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: fmt.Sprintf("s%d-%d", n, i), Network: "gnet"}); err != nil {
				t.Fatal(err)
			}
		}
		per := float64(counter.total()-before) / float64(n)
		t.Logf("cluster store requests per attach over %d attaches: %.2f (%v)", n, per, counter.calls)
		if per > 1 {
			t.Fatalf("%.2f cluster store requests per attach, want 1", per)
		}
	}
	removeEverywhere(t, "gnet", a)
}
