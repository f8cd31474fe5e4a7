package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/daemon"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/bridge"
	"github.com/patchbay/patchbay/drivers/host"
	"github.com/patchbay/patchbay/drivers/null"
	"github.com/patchbay/patchbay/engine"
)

// plugin stands for a driver found by name outside the build (a remote
// plugin): the real bridge driver under another name, found only while
// up is set, optionally out of process and with a Join that blocks
// until released or its deadline.
type plugin struct {
	*bridge.Driver
	name    string
	oop     bool
	block   chan struct{} // Join waits on it when not nil
	entered chan struct{} // Join sends on it when blocking
}

func (p *plugin) Type() string { return p.name }

func (p *plugin) Capabilities(ctx context.Context) (driver.Capability, error) {
	c, err := p.Driver.Capabilities(ctx)
	c.OutOfProcess = p.oop
	return c, err
}

func (p *plugin) Join(ctx context.Context, h driver.Host, nw driver.Network, ep driver.Endpoint, sb driver.Sandbox) (driver.JoinInfo, error) {
	if p.block != nil {
		p.entered <- struct{}{}
		select {
		case <-p.block:
		case <-ctx.Done():
			return driver.JoinInfo{}, ctx.Err()
		}
	}
	return p.Driver.Join(ctx, h, nw, ep, sb)
}

// finder finds p while up is set.
func finder(p *plugin, up *atomic.Bool) driver.Finder {
	return func(ctx context.Context, name string) (driver.Driver, error) {
		if name != p.name || !up.Load() {
			return nil, cnm.NotFound("plugin %q not found", name)
		}
		return p, nil
	}
}

func pluginFixture(t *testing.T, p *plugin, up *atomic.Bool, timeout time.Duration) *fixture {
	t.Helper()
	f := newFixture(t)
	f.eng.Close()
	f.cfg.DriverTimeout = timeout
	f.cfg.DefaultNetworks = daemon.DefaultNetworks("")
	reopen(t, f, p, up)
	return f
}

// reopen starts the engine again with a new registry, as a new daemon
// process has.
func reopen(t *testing.T, f *fixture, p *plugin, up *atomic.Bool) {
	t.Helper()
	reg, err := driver.NewRegistry(finder(p, up), bridge.New(), host.New(), null.New())
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.Drivers = reg
	f.open(t)
}

// A network whose driver cannot be found when the engine starts (a
// plugin that starts after patchbay) is listed as unavailable instead of
// crashing the engine; operations on it fail naming the driver, other
// networks work, and once the driver is back it is used again.
func TestDriverUnavailableAtStart(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	p := &plugin{Driver: bridge.New(), name: "late"}
	f := pluginFixture(t, p, &up, 5*time.Second)
	ctx := context.Background()
	if _, err := f.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "pnet", Driver: "late", IPAM: []engine.IPAMRequest{{Subnet: "10.0.7.0/24"}}}); err != nil {
		t.Fatal(err)
	}
	f.sandbox(t, "sa", "pnet")

	// Restart with the plugin away.
	f.eng.Close()
	up.Store(false)
	reopen(t, f, p, &up)
	info, err := f.eng.Network("pnet")
	if err != nil {
		t.Fatalf("network of an unavailable driver is not listed: %v", err)
	}
	if !strings.Contains(info.Unavailable, "late") {
		t.Errorf("inspect does not say the network is unavailable because of its driver: %q", info.Unavailable)
	}
	_, err = f.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "sb", Network: "pnet"})
	if !errors.Is(err, cnm.ErrUnavailable) || !strings.Contains(err.Error(), "late") {
		t.Fatalf("join while the driver is away: %v, want unavailable naming the driver", err)
	}
	if len(f.eng.Sandboxes()) != 1 {
		t.Fatalf("a failed join left a sandbox: %v", f.eng.Sandboxes())
	}
	// Everything else works.
	f.network(t, "other", "10.0.8.0/24")
	f.sandbox(t, "sc", "other")

	// The plugin is back: the network is used again.
	up.Store(true)
	if _, err := f.eng.Connect(ctx, "pnet", "sc", engine.EndpointOptions{}); err != nil {
		t.Fatalf("connect once the driver is back: %v", err)
	}
	if info, _ := f.eng.Network("pnet"); info.Unavailable != "" || len(info.Endpoints) != 2 {
		t.Fatalf("network after its driver came back: unavailable %q, %d endpoints", info.Unavailable, len(info.Endpoints))
	}
	if code, out := f.run(t, "sc", "busybox", "ping", "-c1", "-W2", "10.0.7.2"); code != 0 {
		t.Fatalf("sc cannot reach sa, restored after the driver came back: %s", out)
	}
}

// A driver that leaves the process and hangs delays only its own
// network's operations: others complete while its Join waits, and the
// hung one fails at the driver deadline, leaving nothing.
func TestSlowPluginDoesNotStallOthers(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	p := &plugin{Driver: bridge.New(), name: "slow", oop: true}
	f := pluginFixture(t, p, &up, 3*time.Second)
	ctx := context.Background()
	if _, err := f.eng.CreateNetwork(ctx, engine.NetworkCreate{Name: "snet", Driver: "slow", IPAM: []engine.IPAMRequest{{Subnet: "10.0.9.0/24"}}}); err != nil {
		t.Fatal(err)
	}
	f.network(t, "fast", "10.0.10.0/24")
	p.block = make(chan struct{}) // never released: Join hangs
	p.entered = make(chan struct{}, 1)
	var (
		wg      sync.WaitGroup
		slowErr error
		order   []string
		mu      sync.Mutex
	)
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	wg.Add(1)
	t.Cleanup(wg.Wait)
	go func() {
		defer wg.Done()
		_, slowErr = f.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "stuck", Network: "snet"})
		note("slow")
	}()
	<-p.entered
	// The slow join holds its sandbox's name.
	if _, err := f.eng.CreateSandbox(ctx, engine.SandboxCreate{Name: "stuck", Network: "fast"}); !errors.Is(err, cnm.ErrConflict) {
		t.Fatalf("the name of a sandbox being created: %v, want a conflict", err)
	}
	f.sandbox(t, "sx", "fast")
	if _, err := f.eng.Connect(ctx, "bridge", "sx", engine.EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Disconnect(ctx, "bridge", "sx", false); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.RemoveNetwork(ctx, "snet"); !errors.Is(err, cnm.ErrForbidden) {
		t.Errorf("removing a network with a join in flight: %v, want forbidden", err)
	}
	note("fast")
	wg.Wait()
	if order[0] != "fast" {
		t.Fatalf("operations on other networks waited for the hung driver: %v", order)
	}
	if !errors.Is(slowErr, context.DeadlineExceeded) {
		t.Fatalf("hung join: %v, want the driver deadline", slowErr)
	}
	if _, err := f.eng.Sandbox("stuck"); !errors.Is(err, cnm.ErrNotFound) {
		t.Fatalf("the failed sandbox is still there: %v", err)
	}
	if info, _ := f.eng.Network("snet"); len(info.Endpoints) != 0 {
		t.Fatalf("the failed join left endpoints: %v", info.Endpoints)
	}
}
