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
// The engine names no driver: it is handed a driver.Registry and default
// networks by the composition root (package daemon), talks to drivers
// only through the contract of package driver (capabilities and optional
// one-method interfaces instead of branches on a driver's name), and to
// IPAM only through ipam.Driver, keeping pool IDs and addresses. A
// network whose driver cannot be had is listed as unavailable
// (drivers.go); calls that leave the process run with the operation lock
// released (outside.go). With a cluster store (cluster.go, members.go,
// remote.go), global networks, this host's membership and its endpoints
// of global networks are shared with other hosts, and what other hosts
// publish reaches this one through the same reconcile path restore takes.
//
// The engine is a plain Go library: the daemon is a thin server around it.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/dns"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/firewall"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/patchbay/patchbay/store"
	"github.com/patchbay/patchbay/store/cluster"
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
	// Drivers are the network drivers, built by the composition root
	// (package daemon). Required.
	Drivers *driver.Registry
	// DefaultNetworks are created on first start when missing (bridge,
	// host and none, as Docker has them), marked built-in.
	DefaultNetworks []NetworkCreate
	// Cluster, when set, is the store global networks are shared
	// through (see cluster.go); nil: this host stands alone.
	Cluster cluster.Store
	// NodeName names this host in the cluster (unique); AdvertiseAddr is
	// its underlay address, which other hosts' VXLAN traffic reaches.
	NodeName      string
	AdvertiseAddr netip.Addr
	// ClusterTimeout bounds every call of the cluster store. Default 5 s.
	ClusterTimeout time.Duration
	// NodeTTL is the lease of this host's records in the cluster store:
	// a host that stops refreshing it is gone for everyone after it.
	// Default 10 s.
	NodeTTL time.Duration
	// DriverTimeout bounds every driver call, including those of undo
	// paths and the reaper. Default 30 s.
	DriverTimeout time.Duration
	// ResolvConf is the host resolv.conf sandboxes derive theirs from.
	ResolvConf string
	// DNS, when set, replaces the host's name servers for every sandbox
	// (the daemon's --dns): the embedded resolver forwards there, and
	// default-bridge sandboxes list them in their resolv.conf.
	DNS []netip.Addr
	// Logger receives the engine's log; default slog.Default().
	Logger *slog.Logger
	// IPAMFinder finds the IPAM drivers other than "default" by name
	// (remote IPAM plugins), for networks made with --ipam-driver. It
	// returns an error of kind cnm.ErrNotFound for an unknown name. Nil:
	// only the default driver.
	IPAMFinder func(ctx context.Context, name string) (ipam.Driver, error)
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
	if c.Drivers == nil {
		return cnm.Invalid("engine config: Drivers is required")
	}
	if c.DriverTimeout <= 0 {
		c.DriverTimeout = 30 * time.Second
	}
	if c.ClusterTimeout <= 0 {
		c.ClusterTimeout = 5 * time.Second
	}
	if c.NodeTTL <= 0 {
		c.NodeTTL = 10 * time.Second
	}
	if c.Cluster != nil && c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("engine config: node name: %w", err)
		}
		c.NodeName = h
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
	drivers *driver.Registry
	host    driver.Host
	// ula is this engine's IPv6 ULA /48, split into /64 for networks
	// that enable IPv6 without naming a subnet.
	ula netip.Prefix

	// ipam is the default IPAM driver; cursors persists its cursors.
	ipam    *ipam.DefaultDriver
	cursors *cursorCache

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
	mu       sync.RWMutex
	networks map[string]*network
	// execs are the exec instances of the Docker API (see exec.go); they
	// have their own lock.
	execs     execTable
	sandboxes map[string]*sbox
	// creating are networks whose driver is making them with opMu
	// released (see outside.go); reserved are sandbox names being
	// created meanwhile.
	creating map[string]*network
	reserved map[string]bool
	// lease is this host's lease in the cluster store (see members.go).
	lease cluster.LeaseID

	// nodes are the cluster's hosts and remote the endpoints of global
	// networks on other hosts, by network and endpoint ID, as the cluster
	// store last said; guarded by opMu.
	nodes  map[string]nodeRecord
	remote map[string]map[string]endpointRecord
	// ipamWaiting are networks whose pools could not be replayed to
	// their IPAM plugin at restore; they are, when it is back.
	ipamWaiting map[string]bool

	pool *sandbox.NetnsPool // fresh namespaces, ready
	// logs is the log holder, which writes detached processes' output
	// (see holdLog).
	logs   *sandbox.LogHolder
	reaper *reaper // link deletions off the request path
	fw     *firewall.Firewall
	// portCursor is where the next search for a free host port starts.
	portCursor uint32

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // process watchers
}

// network is a live network: its record, driver, allocators and
// endpoints.
type network struct {
	cnm.Network
	eps map[string]*cnm.Endpoint
	// d is the network's driver and cap its capabilities; d is nil while
	// the driver is unavailable, and down says why. config is what the
	// driver decoded from the options.
	d      driver.Driver
	cap    driver.Capability
	config any
	down   error
	// pending counts joins in flight with opMu released; guarded by
	// opMu.
	pending int
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
	// tty is the terminal of the last process started with one; guarded
	// by mu (see console.go).
	tty *Console
	// stdin is the input of the running process when it was started to
	// read it without a terminal (see processStdio); guarded by mu.
	stdin *os.File
	// nextTTY are writers waiting for the terminal of the next process
	// started; guarded by mu (see AttachNext).
	nextTTY map[*int]io.Writer
	// files is set once the generated /etc files exist; guarded by opMu.
	files bool
	// portFDs are the sockets holding the published host ports (-1 where
	// nothing needs holding).
	portFDs map[hold]int
	// dnsStop stops the sandbox's resolver; nil when none is served.
	dnsStop func()
	// busy is set while an operation on the sandbox runs with opMu
	// released (see outside.go); guarded by opMu.
	busy bool
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
	instance, err := loadInstance(st)
	if err != nil {
		return nil, err
	}
	ns, h, reapH, err := sandbox.OpenHost(cfg.HostNetns)
	if err != nil {
		return nil, err
	}
	dh := driver.Host{NS: ns, Handle: h, Tag: "pb:" + instance[:8] + ":"}
	e := &Engine{
		cfg:       cfg,
		log:       cfg.Logger,
		store:     st,
		drivers:   cfg.Drivers,
		host:      dh,
		ula:       ulaFrom(instance),
		networks:  map[string]*network{},
		sandboxes: map[string]*sbox{},
		creating:  map[string]*network{},
		reserved:  map[string]bool{},
		nodes:     map[string]nodeRecord{},
		remote:    map[string]map[string]endpointRecord{},
		names:     newDNSNames(),
		resolver: dns.New(dns.Config{
			Upstreams: hostUpstreams(cfg), Logger: cfg.Logger,
		}),
		pool:   sandbox.NewNetnsPool(8),
		logs:   sandbox.NewLogHolder(filepath.Join(cfg.ExecRoot, "loghold.sock")),
		reaper: newReaper(driver.Host{NS: ns, Handle: reapH, Tag: dh.Tag}, cfg.DriverTimeout, cfg.Logger.Warn),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.ipamWaiting = map[string]bool{}
	if e.cursors, err = loadCursors(st); err != nil {
		e.Close()
		return nil, err
	}
	icfg := ipam.DefaultConfig{
		LocalPools:   append(slices.Clone(cfg.DefaultPools), ipam.PoolSpec{Base: e.ula, Size: 64}),
		HostPrefixes: e.hostPrefixes,
		Cursors:      e.cursors,
	}
	if cfg.Cluster != nil {
		// Hosts allocate a global network's addresses from different
		// points, so the claims they race with rarely collide.
		icfg.Spread = cfg.NodeName
	}
	e.ipam = ipam.NewDefault(icfg)
	// A node name another live host holds stops us before anything is
	// made here; a cluster store that does not answer does not: we
	// register when it does.
	registered := false
	if cfg.Cluster != nil {
		if err := e.register(ctx); errors.Is(err, cnm.ErrConflict) {
			e.Close()
			return nil, err
		} else if err != nil {
			e.log.Warn("cluster store", "err", err)
		} else {
			registered = true
		}
	}
	// The firewall starts empty, so restore and the default networks can
	// add to it; it is then installed in full from what they found.
	if e.fw, err = firewall.New(ns, "patchbay-"+instance[:8], cfg.Logger); err == nil {
		err = e.fw.Sync(firewall.State{})
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("firewall: %w", err)
	}
	// The holder a previous engine left knows which processes' output
	// it still writes, which restore asks (see watch).
	if err := e.logs.Connect(); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.log.Info("log holder", "err", err)
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
	if cfg.Cluster != nil {
		if registered {
			e.opMu.Lock()
			e.republishLocked(ctx)
			e.opMu.Unlock()
		}
		// Global networks created or removed while we were away are
		// reconciled before New returns, if the cluster store answers.
		rev, err := e.reconcileCluster(ctx)
		if err != nil {
			e.log.Warn("cluster store", "err", err)
			rev = -1
		}
		e.wg.Add(2)
		go e.watchCluster(rev)
		go e.keepAlive()
	}
	e.restartAfterRestore()
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
	// It keeps writing what it holds, for the next engine.
	e.logs.Close()
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
		return fn(driver.Sandbox{ID: sb.ID, Key: e.cfg.HostNetns, NS: e.host.NS, Handle: e.host.Handle})
	}
	ns, h, err := sandbox.OpenNetlink(sb.NetnsPath)
	if err != nil {
		return fmt.Errorf("open namespace of sandbox %s: %w", sb.Name, err)
	}
	defer ns.Close()
	defer h.Close()
	return fn(driver.Sandbox{ID: sb.ID, Key: sb.NetnsPath, NS: ns, Handle: h})
}
