package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/store"
)

// This file is the engine's side of serving a real dockerd as its
// network and IPAM plugin (package dockerplugin speaks the wire
// protocol). Networks Docker creates are ordinary networks with Docker's
// ID. Their addresses come from Docker's IPAM (Docker's own, or
// patchbay's default driver through the plugin), so their IPAM driver is
// DockerIPAM, which takes what Docker allocated as given. Each of Docker's
// sandbox keys (a namespace file dockerd owns) is a sandbox adopted by
// path without its namespace ever being opened: the drivers' joins leave
// the interface in the host namespace, and dockerd moves it in.

// DockerIPAM is the IPAM driver of networks Docker created: their pools,
// gateways and endpoint addresses were allocated by Docker's IPAM.
const DockerIPAM = "docker"

// DockerIPAMOwner is the network IPAM option that records that Docker's
// IPAM was patchbay's own (served through the plugin): the allocations
// then live in the engine's default IPAM driver, and a restart replays
// them there.
const DockerIPAMOwner = "patchbay.docker.ipam"

var dockerIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// DockerNetworkName is the patchbay name of a network Docker created
// (Docker's CreateNetwork does not carry its name).
func DockerNetworkName(id string) string { return "docker-" + id[:12] }

// CreateNetworkWithID creates a network with the ID Docker chose and the
// subnets Docker's IPAM allocated (req.IPAM, with gateways), taking them
// as given. patchbayIPAM says the allocations came from the default
// IPAM driver (served to Docker through the plugin). A network that
// exists with that ID is returned as it is: dockerd may call again.
func (e *Engine) CreateNetworkWithID(ctx context.Context, id string, req NetworkCreate, patchbayIPAM bool) (cnm.Network, error) {
	if !dockerIDPattern.MatchString(id) {
		return cnm.Network{}, cnm.Invalid("invalid network ID %q", id)
	}
	e.mu.RLock()
	n := e.networks[id]
	e.mu.RUnlock()
	if n != nil {
		return cloneNetwork(&n.Network), nil
	}
	drv, err := e.lookup(ctx, req.Driver)
	if err != nil {
		return cnm.Network{}, err
	}
	if req.Name == "" {
		req.Name = DockerNetworkName(id)
	}
	req.IPAMDriver = ""
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if _, err := e.findNetwork(id); err == nil {
		return cnm.Network{}, cnm.Conflict("network %s already exists", id)
	}
	n, err = e.planNetwork(ctx, req, drv)
	if err != nil {
		return cnm.Network{}, err
	}
	n.ID = id
	n.IPAM.Driver = DockerIPAM
	if patchbayIPAM {
		n.IPAM.Options = map[string]string{DockerIPAMOwner: "true"}
	}
	// A family Docker gave no pool for has none.
	n.IPAM.Config = slices.DeleteFunc(n.IPAM.Config, func(c cnm.IPAMConfig) bool { return c.Subnet.Bits() == 0 })
	if err := e.commitNewNetwork(ctx, n); err != nil {
		return cnm.Network{}, err
	}
	return cloneNetwork(&n.Network), nil
}

// DefaultIPAM is the engine's default IPAM driver, which the plugin
// serves to Docker.
func (e *Engine) DefaultIPAM() ipam.Driver { return e.ipam }

// dockerIPAM is the IPAM driver of a network Docker created.
type dockerIPAM struct {
	def   ipam.Driver
	owned bool // allocations are the default driver's
}

// dockerIPAMOf returns n's IPAM driver (n.IPAM.Driver is DockerIPAM).
func (e *Engine) dockerIPAMOf(n *network) ipam.Driver {
	return dockerIPAM{def: e.ipam, owned: n.IPAM.Options[DockerIPAMOwner] == "true"}
}

// Capabilities asks for a replay after a restart only when the
// allocations live in the default driver (which forgets them).
func (d dockerIPAM) Capabilities(context.Context) (ipam.Capabilities, error) {
	return ipam.Capabilities{RequiresRequestReplay: d.owned}, nil
}

func (d dockerIPAM) DefaultAddressSpaces(context.Context) (string, string, error) {
	return ipam.LocalDefaultSpace, ipam.GlobalDefaultSpace, nil
}

// RequestPool takes the pool Docker allocated. When that was the default
// driver, the request goes there too: a conflict means it holds the pool
// already (Docker asked for it through the plugin), and after a restart
// it is the replay.
func (d dockerIPAM) RequestPool(ctx context.Context, req ipam.PoolRequest) (ipam.Pool, error) {
	if !req.Pool.IsValid() {
		return ipam.Pool{}, cnm.Invalid("request pool: Docker's IPAM gives the pools of its networks")
	}
	if req.AddressSpace == "" {
		req.AddressSpace = ipam.LocalDefaultSpace
	}
	id := ipam.PoolKey{AddressSpace: req.AddressSpace, Pool: req.Pool.Masked(), SubPool: req.SubPool}.String()
	if d.owned {
		opts := map[string]string{}
		if req.Options[ipam.OptionReplay] == "true" {
			opts[ipam.OptionReplay] = "true"
		}
		req.Options = opts
		p, err := d.def.RequestPool(ctx, req)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, cnm.ErrConflict) {
			return ipam.Pool{}, err
		}
	}
	return ipam.Pool{ID: id, Prefix: req.Pool.Masked()}, nil
}

// ReleasePool does nothing: Docker releases its pools itself.
func (d dockerIPAM) ReleasePool(context.Context, string) error { return nil }

// RequestAddress takes the address Docker allocated (re-reserving it in
// the default driver after a restart, when it came from there).
func (d dockerIPAM) RequestAddress(ctx context.Context, poolID string, addr netip.Addr, opts map[string]string) (netip.Prefix, error) {
	k, err := ipam.ParsePoolID(poolID)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !addr.IsValid() {
		return netip.Prefix{}, cnm.Invalid("request address: Docker's IPAM gives the addresses of its networks")
	}
	if d.owned {
		if _, err := d.def.RequestAddress(ctx, poolID, addr, opts); err != nil && !errors.Is(err, cnm.ErrConflict) {
			return netip.Prefix{}, err
		}
	}
	return netip.PrefixFrom(addr, k.Pool.Bits()), nil
}

// ReleaseAddress does nothing: Docker releases its addresses itself.
func (d dockerIPAM) ReleaseAddress(context.Context, string, netip.Addr) error { return nil }

// DockerEndpoint is an endpoint Docker joins to a sandbox (its
// CreateEndpoint, then Join).
type DockerEndpoint struct {
	NetworkID  string
	EndpointID string
	// SandboxKey is the namespace file dockerd owns.
	SandboxKey string
	IPv4, IPv6 netip.Prefix
	MAC        net.HardwareAddr
}

// DockerJoin is what Join answers Docker: the interface to move in, the
// gateways and static routes.
type DockerJoin struct {
	Interface    driver.Move
	Gateway4     netip.Addr
	Gateway6     netip.Addr
	StaticRoutes []driver.Route
	NoGateway    bool
}

// isDockerSandbox reports whether sb is one of Docker's sandbox keys:
// adopted by the path of a namespace file someone else owns (never
// unmounted by patchbay).
func (e *Engine) isDockerSandbox(sb *cnm.Sandbox) bool {
	return sb.Adopted && sb.ExternalPID == 0 && sb.NetnsPath != "" &&
		!strings.HasPrefix(sb.NetnsPath, filepath.Clean(e.cfg.ExecRoot)+"/")
}

// refuseDocker refuses patchbay's own API the sandboxes of Docker's
// containers: dockerd owns their namespace and names their interfaces.
func (e *Engine) refuseDocker(sb *sbox) error {
	if e.isDockerSandbox(&sb.Sandbox) {
		return cnm.Forbidden("sandbox %s belongs to a Docker container: use docker to change it", sb.Name)
	}
	return nil
}

// dockerSandboxLocked returns the sandbox of a sandbox key, or a new one
// (not yet published). Caller holds opMu.
func (e *Engine) dockerSandboxLocked(key string) (*sbox, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, sb := range e.sandboxes {
		if sb.NetnsPath == key && e.isDockerSandbox(&sb.Sandbox) {
			return sb, false
		}
	}
	base := filepath.Base(key)
	return &sbox{Sandbox: cnm.Sandbox{
		ID: newID(), Name: "docker-" + base, Hostname: base, Created: time.Now(),
		NetnsPath: key, Adopted: true,
	}}, true
}

// JoinDocker creates and joins an endpoint of a Docker container: the
// driver makes its interface in the host namespace, for dockerd to move
// into the sandbox key's namespace.
func (e *Engine) JoinDocker(ctx context.Context, req DockerEndpoint) (_ DockerJoin, retErr error) {
	if !filepath.IsAbs(req.SandboxKey) || filepath.Clean(req.SandboxKey) != req.SandboxKey {
		return DockerJoin{}, cnm.Invalid("invalid sandbox key %q", req.SandboxKey)
	}
	if len(req.EndpointID) < 12 {
		return DockerJoin{}, cnm.Invalid("invalid endpoint ID %q", req.EndpointID)
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	e.mu.RLock()
	n := e.networks[req.NetworkID]
	e.mu.RUnlock()
	if n == nil {
		return DockerJoin{}, cnm.NotFound("network %s not found", req.NetworkID)
	}
	if n.eps[req.EndpointID] != nil {
		return DockerJoin{}, cnm.Conflict("endpoint %s is already joined", req.EndpointID)
	}
	d, err := e.driverOf(ctx, n)
	if err != nil {
		return DockerJoin{}, err
	}
	sb, fresh := e.dockerSandboxLocked(req.SandboxKey)
	if !fresh && sb.busy {
		return DockerJoin{}, busyError(sb)
	}
	mac := req.MAC
	if len(mac) == 0 {
		mac = ipam.RandomMAC()
	}
	ep := &cnm.Endpoint{
		ID: req.EndpointID, NetworkID: n.ID, SandboxID: sb.ID, IfName: nextIfName(sb.eps),
		MAC: mac.String(), IPv4: req.IPv4, IPv6: req.IPv6,
	}
	dn := driverNetwork(n)
	dep := driver.Endpoint{ID: ep.ID, IfName: ep.IfName, MAC: mac, IPv4: ep.IPv4, IPv6: ep.IPv6}
	var steps []func()
	defer func() {
		if retErr != nil {
			undoAll(steps)
		}
	}()
	cctx, cancel := e.dctx(ctx)
	res, err := d.CreateEndpoint(cctx, e.host, dn, dep)
	cancel()
	if err != nil {
		return DockerJoin{}, fmt.Errorf("create endpoint: %w", err)
	}
	applyEndpointResult(ep, &dep, res, true)
	steps = append(steps, func() {
		bctx, cancel := e.bctx()
		defer cancel()
		_ = d.DeleteEndpoint(bctx, e.host, dn, dep)
	})
	jctx, cancel := e.dctx(ctx)
	info, err := d.Join(jctx, e.host, dn, dep, driver.Sandbox{ID: sb.ID, Key: req.SandboxKey})
	if errors.Is(err, driver.ErrBusy) {
		e.reaper.flush()
		info, err = d.Join(jctx, e.host, dn, dep, driver.Sandbox{ID: sb.ID, Key: req.SandboxKey})
	}
	cancel()
	if err != nil {
		return DockerJoin{}, fmt.Errorf("join endpoint %s: %w", ep.ID, err)
	}
	steps = append(steps, func() {
		bctx, cancel := e.bctx()
		defer cancel()
		_ = d.Leave(bctx, e.host, dn, dep)
	})
	if info.Interface == nil {
		return DockerJoin{}, cnm.Invalid("network driver %s cannot hand its interface to Docker", n.Driver)
	}
	if info.MAC != nil {
		ep.MAC = info.MAC.String()
	}
	if !info.DisableGatewayService {
		ep.Gateway4, ep.Gateway6 = info.Gateway4, info.Gateway6
	}
	err = e.update(func(tx *store.Tx) error {
		if fresh {
			if err := tx.PutSandbox(&sb.Sandbox); err != nil {
				return err
			}
		}
		return tx.PutEndpoint(ep)
	})
	if err != nil {
		return DockerJoin{}, fmt.Errorf("save endpoint: %w", err)
	}
	e.mu.Lock()
	if fresh {
		e.sandboxes[sb.ID] = sb
	}
	e.publishEndpointLocked(n, sb, ep)
	e.mu.Unlock()
	return DockerJoin{
		Interface: *info.Interface, Gateway4: info.Gateway4, Gateway6: info.Gateway6,
		StaticRoutes: info.StaticRoutes, NoGateway: info.DisableGatewayService,
	}, nil
}

// dockerEndpointLocked finds an endpoint Docker joined, with its
// network and sandbox.
func (e *Engine) dockerEndpointLocked(netID, epID string) (*network, *sbox, *cnm.Endpoint, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	n := e.networks[netID]
	if n == nil {
		return nil, nil, nil, cnm.NotFound("network %s not found", netID)
	}
	ep := n.eps[epID]
	if ep == nil {
		return nil, nil, nil, cnm.NotFound("endpoint %s not found", epID)
	}
	sb := e.sandboxes[ep.SandboxID]
	if sb == nil || !e.isDockerSandbox(&sb.Sandbox) {
		return nil, nil, nil, cnm.Forbidden("endpoint %s is not Docker's", epID)
	}
	return n, sb, ep, nil
}

// LeaveDocker removes an endpoint Docker leaves: its record, its ports,
// and (off the request path) its interface. dockerd has moved the
// interface back out of the sandbox by then. A sandbox key left with no
// endpoint is forgotten; its namespace is dockerd's.
func (e *Engine) LeaveDocker(ctx context.Context, netID, epID string) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	_, sb, ep, err := e.dockerEndpointLocked(netID, epID)
	if err != nil {
		return err
	}
	if sb.busy {
		return busyError(sb)
	}
	ports, unpublish := e.unpublishEndpoint(sb, ep)
	last := len(sb.eps) == 1
	err = e.update(func(tx *store.Tx) error {
		if err := tx.DeleteEndpoint(ep.ID); err != nil {
			return err
		}
		if last {
			return tx.DeleteSandbox(sb.ID)
		}
		rec := sb.Sandbox
		rec.Ports = ports
		return tx.PutSandbox(&rec)
	})
	if err != nil {
		return fmt.Errorf("remove endpoint: %w", err)
	}
	e.mu.Lock()
	if n := e.networks[ep.NetworkID]; n != nil {
		delete(n.eps, ep.ID)
	}
	sb.eps = slices.DeleteFunc(slices.Clone(sb.eps), func(x *cnm.Endpoint) bool { return x == ep })
	e.unindexEndpoint(sb, ep)
	sb.Ports = ports
	if last {
		delete(e.sandboxes, sb.ID)
		e.names.forgetSandbox(sb.ID)
	}
	e.mu.Unlock()
	unpublish()
	if last {
		closeAll(sb.portFDs)
		sb.portFDs = nil
	}
	e.leaveKernel(ctx, ep)
	return nil
}
