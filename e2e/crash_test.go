package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/api/types"
	"github.com/patchbay/patchbay/client"
	"github.com/patchbay/patchbay/cnm"
	"github.com/vishvananda/netlink"
)

// churn runs a stream of mixed operations until stop is closed or the
// daemon goes away. It returns the first error that is not the daemon
// vanishing.
func churn(c *client.Client, round int, stop <-chan struct{}) error {
	ctx := context.Background()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		name := fmt.Sprintf("w%d-%d", round, i)
		steps := []func() error{
			func() error {
				_, err := c.SandboxCreate(ctx, types.SandboxCreateRequest{Name: name, Network: "crashnet"})
				return err
			},
			func() error {
				return c.NetworkConnect(ctx, "bridge", types.NetworkConnectRequest{Container: name})
			},
			func() error {
				_, err := c.NetworkCreate(ctx, types.NetworkCreateRequest{Name: "tmp-" + name})
				return err
			},
			func() error {
				return c.NetworkDisconnect(ctx, "bridge", types.NetworkDisconnectRequest{Container: name})
			},
			func() error { return c.NetworkRemove(ctx, "tmp-"+name) },
		}
		if i%2 == 0 {
			steps = append(steps, func() error { return c.SandboxRemove(ctx, name, true) })
		}
		for _, step := range steps {
			if err := step(); err != nil {
				if isGone(err) {
					return nil
				}
				return err
			}
		}
	}
}

// isGone reports errors of a daemon that died mid-call.
func isGone(err error) bool {
	var apiErr *client.APIError
	return errors.Is(err, cnm.ErrUnavailable) || !errors.As(err, &apiErr)
}

// TestKill9Consistency kills the daemon at random moments of a stream of
// operations, restarts it, and checks that state and kernel agree, that
// nothing leaked, and that traffic and operations still work.
func TestKill9Consistency(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.5.0/24", "crashnet")
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("still here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok("run", "-d", "--name", "server", "--network", "crashnet", "--ip", "10.0.5.250", "--", "busybox", "httpd", "-f", "-p", "80", "-h", www)
	d.ok("run", "-d", "--name", "client", "--network", "crashnet", "--", "sleep", "600")

	for round := 0; round < 5; round++ {
		stop := make(chan struct{})
		errc := make(chan error, 1)
		go func() { errc <- churn(d.client(), round, stop) }()
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		d.kill9()
		close(stop)
		if err := <-errc; err != nil {
			t.Fatalf("round %d: operation failed before the crash: %v", round, err)
		}
		d.start()
		checkConsistent(t, d)
	}
	// The detached server survived five crashes and is still served.
	var got string
	for i := 0; i < 30 && got != "still here\n"; i++ {
		r := d.pb("exec", "client", "--", "busybox", "wget", "-qO-", "http://10.0.5.250/")
		got = r.stdout
		if got != "still here\n" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got != "still here\n" {
		t.Fatalf("after the crashes the server answered %q", got)
	}
	// And operations go on without "already exists" surprises.
	d.ok("run", "--rm", "--network", "crashnet", "--", "true")
}

// checkConsistent compares what the daemon reports with the kernel.
func checkConsistent(t *testing.T, d *daemon) {
	t.Helper()
	ctx := context.Background()
	c := d.client()
	nets, err := c.NetworkList(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sbs, err := c.SandboxList(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	wantTags := map[string]bool{}
	seenIP := map[string]string{}
	for _, n := range nets {
		full, err := c.NetworkInspect(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n.Driver == "bridge" {
			wantTags["net:"+n.ID] = true
		}
		for sbID, ep := range full.Containers {
			if n.Driver == "bridge" {
				wantTags["ep:"+ep.EndpointID] = true
			}
			if ep.IPv4Address != "" {
				if other, dup := seenIP[ep.IPv4Address]; dup {
					t.Errorf("address %s given to %s and %s", ep.IPv4Address, other, sbID)
				}
				seenIP[ep.IPv4Address] = sbID
			}
		}
	}
	links, err := d.host.Handle.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	// Each daemon tags its links "pb:<instance>:"; find this one's from
	// a network it reports, so other daemons' links are left out.
	prefix := ""
	for _, l := range links {
		alias := l.Attrs().Alias
		if parts := strings.SplitN(alias, ":", 3); len(parts) == 3 && wantTags[parts[2]] && strings.HasPrefix(parts[2], "net:") {
			prefix = parts[0] + ":" + parts[1] + ":"
		}
	}
	if prefix == "" {
		t.Fatal("no link carries a tag of this daemon")
	}
	gotTags := map[string]bool{}
	for _, l := range links {
		alias := l.Attrs().Alias
		if !strings.HasPrefix(alias, prefix) {
			continue
		}
		parts := strings.SplitN(alias, ":", 3)
		gotTags[parts[2]] = true
		if !wantTags[parts[2]] {
			t.Errorf("leaked link %s (%s) after restart", l.Attrs().Name, alias)
		}
	}
	for tag := range wantTags {
		if !gotTags[tag] {
			t.Errorf("kernel lacks %s the daemon reports", tag)
		}
	}
	nsFiles, _ := os.ReadDir(filepath.Join(d.dir, "exec", "netns"))
	nsWant := 0
	for _, sb := range sbs {
		if sb.NetworkSettings.SandboxKey == "" {
			continue
		}
		nsWant++
		for name, ep := range sb.NetworkSettings.Networks {
			if ep.InterfaceName == "" {
				continue
			}
			_, h := openNS(t, sb.NetworkSettings.SandboxKey)
			l, err := h.LinkByName(ep.InterfaceName)
			if err != nil {
				t.Errorf("sandbox %s lacks %s for %s: %v", sb.Name, ep.InterfaceName, name, err)
				continue
			}
			addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
			if len(addrs) != 1 || addrs[0].IP.String() != ep.IPAddress {
				t.Errorf("sandbox %s %s addresses %v, want %s", sb.Name, ep.InterfaceName, addrs, ep.IPAddress)
			}
		}
	}
	if len(nsFiles) != nsWant {
		t.Errorf("%d namespace files for %d sandboxes", len(nsFiles), nsWant)
	}
}

// TestConcurrentSandboxes creates 100 sandboxes from 100 parallel clients.
func TestConcurrentSandboxes(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.8.0/24", "scale")
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.client().SandboxCreate(context.Background(), types.SandboxCreateRequest{Name: fmt.Sprintf("s%03d", i), Network: "scale"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("create: %v", err)
		}
	}
	full, err := d.client().NetworkInspect(context.Background(), "scale")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ep := range full.Containers {
		if seen[ep.IPv4Address] {
			t.Errorf("address %s handed out twice", ep.IPv4Address)
		}
		seen[ep.IPv4Address] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct addresses for %d sandboxes", len(seen), n)
	}
	checkConsistent(t, d)
}

// TestNetworksIsolated checks sandboxes on one bridge talk both ways and
// sandboxes on two networks cannot reach each other.
func TestNetworksIsolated(t *testing.T) {
	d := startDaemon(t)
	d.ok("network", "create", "--subnet", "10.0.11.0/24", "red")
	d.ok("network", "create", "--subnet", "10.0.12.0/24", "blue")
	d.ok("run", "-d", "--name", "r1", "--network", "red", "--", "sleep", "300")
	d.ok("run", "-d", "--name", "r2", "--network", "red", "--", "sleep", "300")
	d.ok("run", "-d", "--name", "b1", "--network", "blue", "--", "sleep", "300")
	for _, c := range []struct{ from, to string }{{"r1", "10.0.11.3"}, {"r2", "10.0.11.2"}} {
		if r := d.pb("exec", c.from, "--", "busybox", "ping", "-c", "1", "-W", "2", c.to); r.code != 0 {
			t.Errorf("ping %s from %s: %s", c.to, c.from, r)
		}
	}
	// TCP both ways on the same bridge.
	d.ok("run", "-d", "--name", "tcp", "--network", "red", "--ip", "10.0.11.100", "--", "busybox", "nc", "-l", "-p", "7000", "-e", "echo", "pong")
	var got string
	for i := 0; i < 30 && !strings.Contains(got, "pong"); i++ {
		got = d.pb("exec", "r1", "--", "busybox", "nc", "-w", "2", "10.0.11.100", "7000").stdout
		if !strings.Contains(got, "pong") {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !strings.Contains(got, "pong") {
		t.Errorf("TCP on the bridge got %q", got)
	}
	if r := d.pb("exec", "b1", "--", "busybox", "ping", "-c", "1", "-W", "1", "10.0.11.2"); r.code == 0 {
		t.Errorf("blue reached red: %s", r)
	}
	if r := d.pb("exec", "r1", "--", "busybox", "ping", "-c", "1", "-W", "1", "10.0.12.2"); r.code == 0 {
		t.Errorf("red reached blue: %s", r)
	}
}
