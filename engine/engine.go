// Package engine is the owner of patchbay's live networks, endpoints and
// sandboxes. Every mutating operation runs as plan → kernel apply → one
// store transaction → publish, undoing the completed kernel steps if a
// later step fails. Creations reach the kernel before the store and
// removals reach the store before the kernel, so after a crash at any
// point the store never names an object the kernel lacks; kernel objects
// no record explains carry this engine's tag and are swept at start.
// A removal's kernel work (deleting veth pairs, unmounting namespaces) is
// queued to a reaper with its own netlink socket, off the request path; a
// pool of namespaces made ready in the background backs new sandboxes.
//
// The engine is a plain Go library: the daemon is a thin server around it.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/dns"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/drivers/bridge"
	"github.com/patchbay/patchbay/drivers/host"
	"github.com/patchbay/patchbay/drivers/macvlan"
	"github.com/patchbay/patchbay/drivers/null"
	"github.com/patchbay/patchbay/firewall"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/patchbay/patchbay/store"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Config configures an engine. The zero value of every field but Root and
// ExecRoot has a usable default.
type Config struct {
	// Root holds the state file (state.db) and logs.
	Root string
	// ExecRoot holds namespace bind mounts and generated files.
	ExecRoot string
	// HostNetns is the namespace treated as the host (bridges live
	// there, host-mode sandboxes use it). Default: the process's own.
	HostNetns string
	// DefaultPools are the pools subnets are chosen from when a network
	// names none. Default: ipam.DefaultPools().
	DefaultPools []ipam.PoolSpec
	// DefaultBridge is the device of the default "bridge" network.
	DefaultBridge string
	// ResolvConf is the host resolv.conf sandboxes derive theirs from.
	ResolvConf string
	// DNS, when set, replaces the host's name servers for every sandbox
	// (the daemon's --dns): the embedded resolver forwards there, and
	// default-bridge sandboxes list them in their resolv.conf.
	DNS []netip.Addr
	// Logger receives the engine's log; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Root == "" || c.ExecRoot == "" {
		return cnm.Invalid("engine config: Root and ExecRoot are required")
	}
	if c.HostNetns == "" {
		c.HostNetns = fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
	}
	if c.DefaultPools == nil {
		c.DefaultPools = ipam.DefaultPools()
	}
	if c.DefaultBridge == "" {
		c.DefaultBridge = bridge.DefaultDevice
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Engine owns the live state. All methods are safe for concurrent use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	drivers map[string]driver.Driver
	host    driver.Host
	// ula is this engine's IPv6 ULA /48, split into /64 for networks
	// that enable IPv6 without naming a subnet.
	ula netip.Prefix

	// names is what the embedded resolver answers from; it has its own
	// lock.
	names *dnsNames
	// resolver serves every sandbox's 127.0.0.11 (but those with --dns).
	resolver *dns.Resolver

	// opMu serialises mutations: the plan, kernel and store steps of one
	// operation never interleave with another's.
	opMu sync.Mutex

	// mu guards the maps below and the objects they point to; readers
	// copy what they return.
	mu        sync.RWMutex
	networks  map[string]*network
	sandboxes map[string]*sbox

	pool   *sandbox.NetnsPool // fresh namespaces, ready
	reaper *reaper            // link deletions off the request path
	fw     *firewall.Firewall
	// portCursor is where the next search for a free host port starts.
	portCursor uint32

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // process watchers
}

// network is a live network: its record, allocators and endpoints.
type network struct {
	cnm.Network
	alloc []*ipam.Allocator // parallel to IPAM.Config
	eps   map[string]*cnm.Endpoint
}

// sbox is a live sandbox.
type sbox struct {
	cnm.Sandbox
	eps  []*cnm.Endpoint // in join order
	seq  uint64
	done chan struct{} // closed when the process exits; nil if none runs
	// proc holds the running process by pidfd, for signals and exec; nil
	// if none runs (or a re-adopted one could not be held).
	proc *sandbox.Process
	// files is set once the generated /etc files exist; guarded by opMu.
	files bool
	// portFDs are the sockets holding the published host ports (-1 where
	// nothing needs holding).
	portFDs map[hold]int
	// dnsStop stops the sandbox's resolver; nil when none is served.
	dnsStop func()
}

// New opens the state under cfg.Root, restores every network, sandbox
// and endpoint into the kernel, removes what no record explains, and
// creates the default networks on first start.
func New(ctx context.Context, cfg Config) (_ *Engine, retErr error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	for _, dir := range []string{cfg.Root, cfg.ExecRoot, filepath.Join(cfg.ExecRoot, "netns"), filepath.Join(cfg.ExecRoot, "sandboxes"), filepath.Join(cfg.Root, "logs")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	st, err := store.Open(filepath.Join(cfg.Root, "state.db"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			st.Close()
		}
	}()
	ns, err := netns.GetFromPath(cfg.HostNetns)
	if err != nil {
		return nil, fmt.Errorf("open host namespace %s: %w", cfg.HostNetns, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("open netlink in %s: %w", cfg.HostNetns, err)
	}
	instance, err := loadInstance(st)
	if err != nil {
		h.Close()
		ns.Close()
		return nil, err
	}
	reapH, err := netlink.NewHandleAt(ns)
	if err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("open netlink in %s: %w", cfg.HostNetns, err)
	}
	dh := driver.Host{NS: ns, Handle: h, Tag: "pb:" + instance[:8] + ":"}
	e := &Engine{
		cfg:   cfg,
		log:   cfg.Logger,
		store: st,
		drivers: map[string]driver.Driver{
			"bridge": bridge.New(), "host": host.New(), "null": null.New(),
			"macvlan": macvlan.New(),
		},
		host:      dh,
		ula:       ulaFrom(instance),
		networks:  map[string]*network{},
		sandboxes: map[string]*sbox{},
		names:     newDNSNames(),
		resolver: dns.New(dns.Config{
			Upstreams: hostUpstreams(cfg), Logger: cfg.Logger,
		}),
		pool:   sandbox.NewNetnsPool(8),
		reaper: newReaper(driver.Host{NS: ns, Handle: reapH, Tag: dh.Tag}, cfg.Logger.Warn),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	// The firewall starts empty, so restore and the default networks can
	// add to it; it is then installed in full from what they found.
	if e.fw, err = firewall.New(ns, "patchbay-"+instance[:8], cfg.Logger); err == nil {
		err = e.fw.Sync(firewall.State{})
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("firewall: %w", err)
	}
	if err := e.restore(ctx); err != nil {
		e.Close()
		return nil, fmt.Errorf("restore state: %w", err)
	}
	if err := e.ensureDefaultNetworks(ctx); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.startFirewall(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops the engine's watchers and closes the state. Networks,
// sandboxes and their processes stay as they are (live restore).
func (e *Engine) Close() error {
	e.mu.RLock()
	sbs := make([]*sbox, 0, len(e.sandboxes))
	for _, sb := range e.sandboxes {
		sbs = append(sbs, sb)
	}
	e.mu.RUnlock()
	for _, sb := range sbs {
		e.stopResolver(sb)
	}
	e.cancel()
	e.wg.Wait()
	if e.fw != nil {
		e.fw.Close()
	}
	e.pool.Close()
	e.reaper.close()
	e.host.Handle.Close()
	e.host.NS.Close()
	return e.store.Close()
}

// Tag is the alias prefix marking kernel objects owned by this engine.
func (e *Engine) Tag() string { return e.host.Tag }

func loadInstance(st *store.Store) (string, error) {
	var id string
	err := st.Update(func(tx *store.Tx) error {
		id = tx.Meta("instance")
		if id != "" {
			return nil
		}
		id = newID()
		return tx.SetMeta("instance", id)
	})
	if err != nil {
		return "", fmt.Errorf("load instance id: %w", err)
	}
	return id, nil
}

// ulaFrom derives a unique-local /48 from the instance id.
func ulaFrom(instance string) netip.Prefix {
	b, _ := hex.DecodeString(instance[:10])
	a := [16]byte{0xfd, b[0], b[1], b[2], b[3], b[4]}
	return netip.PrefixFrom(netip.AddrFrom16(a), 48)
}

func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

func (e *Engine) driverFor(name string) (driver.Driver, error) {
	d, ok := e.drivers[name]
	if !ok {
		return nil, cnm.NotFound("network driver %q not found (have bridge, host, macvlan, null)", name)
	}
	return d, nil
}

func (e *Engine) netnsPath(id string) string {
	return filepath.Join(e.cfg.ExecRoot, "netns", id[:12])
}

func (e *Engine) filesDir(id string) string {
	return filepath.Join(e.cfg.ExecRoot, "sandboxes", id)
}

func (e *Engine) logPath(id string) string {
	return filepath.Join(e.cfg.Root, "logs", id+".log")
}

// withSandboxNS opens a netlink handle in a sandbox's namespace.
func (e *Engine) withSandboxNS(sb *cnm.Sandbox, fn func(driver.Sandbox) error) error {
	if sb.HostNetwork {
		return fn(driver.Sandbox{ID: sb.ID, NS: e.host.NS, Handle: e.host.Handle})
	}
	ns, err := sandbox.OpenNetns(sb.NetnsPath)
	if err != nil {
		return fmt.Errorf("open namespace of sandbox %s: %w", sb.Name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("open netlink in sandbox %s: %w", sb.Name, err)
	}
	defer h.Close()
	return fn(driver.Sandbox{ID: sb.ID, NS: ns, Handle: h})
}

var errStopped = errors.New("engine closed")
