package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/sandbox"
	"github.com/patchbay/patchbay/store"
)

// SandboxCreate asks for a new sandbox joined to one network.
type SandboxCreate struct {
	Name     string
	Hostname string
	// Network is "none", "host" or a network name or ID; "" means the
	// default "bridge".
	Network string
	// Networks are more networks joined after Network, in order, with
	// default endpoint options (Endpoint and Ports are Network's). Only
	// networks giving the sandbox an interface combine.
	Networks []string
	Endpoint EndpointOptions
	// AdoptPID adopts the network namespace of a running process.
	AdoptPID int
	// AdoptNetns adopts a network namespace file (e.g. /var/run/netns/x).
	AdoptNetns string
	// Ports are -p specs, published on the endpoint of Network.
	Ports []string
	// Expose lists --expose ports; PublishAll (-P) publishes each of them
	// not already in Ports on an ephemeral host port.
	Expose     []string
	PublishAll bool
	// Domainname, name servers, extra hosts and links.
	DNS DNSOptions
}

var validSandboxName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CreateSandbox creates a sandbox: a new (or adopted) network namespace,
// its generated files, and its endpoints on the requested networks. It
// is atomic: on any error nothing is left.
func (e *Engine) CreateSandbox(ctx context.Context, req SandboxCreate) (_ cnm.Sandbox, retErr error) {
	if err := checkNameLen("sandbox", req.Name); err != nil {
		return cnm.Sandbox{}, err
	}
	if req.Name != "" && !validSandboxName.MatchString(req.Name) {
		return cnm.Sandbox{}, cnm.Invalid("invalid sandbox name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters", req.Name)
	}
	if req.AdoptPID != 0 && req.AdoptNetns != "" {
		return cnm.Sandbox{}, cnm.Invalid("--pid and --netns are mutually exclusive")
	}
	if req.Network == "" {
		req.Network = "bridge"
	}
	if target, ok := strings.CutPrefix(req.Network, "container:"); ok {
		if len(req.Networks) > 0 {
			return cnm.Sandbox{}, cnm.Invalid("conflicting options: network %q cannot be combined with other networks", req.Network)
		}
		return e.createShared(req, target)
	}
	nets, err := e.resolveNetworks(ctx, req)
	if err != nil {
		return cnm.Sandbox{}, err
	}
	n := nets.nets[0]
	hostMode := !n.cap.NeedsNamespace
	adopt := req.AdoptPID != 0 || req.AdoptNetns != ""
	if hostMode && adopt {
		return cnm.Sandbox{}, cnm.Invalid("an adopted namespace cannot join the host network")
	}
	if hostMode && req.Hostname != "" {
		return cnm.Sandbox{}, cnm.Invalid("conflicting options: hostname and the host network")
	}
	specs, err := parsePorts(req.Ports, req.Expose, req.PublishAll, n, hostMode)
	if err != nil {
		return cnm.Sandbox{}, err
	}
	sb := &sbox{Sandbox: cnm.Sandbox{
		ID: newID(), Name: req.Name, Hostname: req.Hostname, Created: time.Now(),
		HostNetwork: hostMode, Adopted: adopt, ExternalPID: req.AdoptPID,
	}}
	if req.Hostname != "" && !validDNSName(req.Hostname) {
		return cnm.Sandbox{}, cnm.Invalid("invalid hostname %q", req.Hostname)
	}
	if err := applyDNSOptions(&sb.Sandbox, req.DNS, e.hostGateway()); err != nil {
		return cnm.Sandbox{}, err
	}
	if sb.Hostname == "" && !hostMode {
		sb.Hostname = sb.ID[:12]
	}

	var adopted *os.File
	if adopt {
		if adopted, err = e.openAdopted(req); err != nil {
			return cnm.Sandbox{}, err
		}
		defer adopted.Close()
	}

	start := time.Now()
	// The namespace is made before taking the operation lock, so many
	// sandboxes can be created at once.
	if !hostMode {
		sb.NetnsPath = e.netnsPath(sb.ID)
		if adopted != nil {
			err = sandbox.BindNetns(fmt.Sprintf("/proc/self/fd/%d", adopted.Fd()), sb.NetnsPath)
		} else {
			err = e.pool.Create(sb.NetnsPath)
		}
		if err != nil {
			return cnm.Sandbox{}, fmt.Errorf("create sandbox namespace: %w", err)
		}
		defer func() {
			if retErr != nil {
				_ = sandbox.RemoveNetns(sb.NetnsPath)
			}
		}()
	}
	prepared := time.Now()
	e.opMu.Lock()
	defer e.opMu.Unlock()
	locked := time.Now()
	if err := e.pickName(sb); err != nil {
		return cnm.Sandbox{}, err
	}
	if adopted != nil {
		// Again under opMu: another create may have adopted it since.
		if err := e.checkAdoptable(adopted, adoptName(req)); err != nil {
			return cnm.Sandbox{}, err
		}
	}
	// Held while a driver out of the process joins it with opMu released.
	defer e.reserveName("sb", sb.Name)()
	if sb.Links, err = e.resolveLinks(req.DNS.Links); err != nil {
		return cnm.Sandbox{}, err
	}
	eps, undo, err := e.joinAllLocked(ctx, &nets, sb, req.Endpoint)
	if err != nil {
		return cnm.Sandbox{}, err
	}
	n, ep := nets.nets[0], eps[0]
	if len(specs) > 0 {
		ports, fds, err := e.publishPorts(n, ep, specs)
		if err != nil {
			undo()
			return cnm.Sandbox{}, err
		}
		sb.Ports, sb.portFDs = ports, fds
		joinUndo := undo
		undo = func() {
			e.unpublish(sb)
			joinUndo()
		}
	}
	joined := time.Now()
	err = e.update(func(tx *store.Tx) error {
		if err := tx.PutSandbox(&sb.Sandbox); err != nil {
			return err
		}
		for i, ep := range eps {
			if err := tx.PutEndpoint(ep); err != nil {
				return err
			}
			if err := tx.PutNetwork(&nets.nets[i].Network); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		undo()
		return cnm.Sandbox{}, fmt.Errorf("save sandbox %s: %w", sb.Name, err)
	}
	e.mu.Lock()
	e.sandboxes[sb.ID] = sb
	for i, ep := range eps {
		e.publishEndpointLocked(nets.nets[i], sb, ep)
	}
	e.mu.Unlock()
	e.indexSandbox(sb)
	e.log.Debug("sandbox created", "sb", sb.Name, "netns", prepared.Sub(start),
		"wait", locked.Sub(prepared), "join", joined.Sub(locked), "commit", time.Since(joined))
	return sb.Sandbox, nil
}

// pickName checks a requested name is free or generates one.
func (e *Engine) pickName(sb *sbox) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	taken := func(name string) bool {
		for _, o := range e.sandboxes {
			if o.Name == name {
				return true
			}
		}
		return e.nameReservedLocked("sb", name)
	}
	if sb.Name != "" {
		if taken(sb.Name) {
			return cnm.Conflict("sandbox name %s is already in use", sb.Name)
		}
		return nil
	}
	for i := 0; ; i++ {
		name := randomName(i >= 10)
		if !taken(name) {
			sb.Name = name
			return nil
		}
	}
}

// RemoveSandbox removes a sandbox, its endpoints and its namespace. A
// running process is an error unless force, which kills it first. So are
// sandboxes sharing its namespace (--network container:NAME): force
// removes them first.
func (e *Engine) RemoveSandbox(ctx context.Context, ref string, force bool) error {
	sb, err := e.findSandbox(ref)
	if err != nil {
		return err
	}
	if err := e.refuseDocker(sb); err != nil {
		return err
	}
	if deps := e.dependents(sb.ID); len(deps) > 0 {
		if !force {
			var names []string
			for _, d := range deps {
				names = append(names, d.Name)
			}
			return cnm.Conflict("sandbox %s is in use by %s (--network container:%s): remove them first or use --force",
				sb.Name, strings.Join(names, ", "), sb.Name)
		}
		for _, d := range deps {
			if err := e.RemoveSandbox(ctx, d.ID, true); err != nil && !errors.Is(err, cnm.ErrNotFound) {
				return fmt.Errorf("remove %s, which shares %s's namespace: %w", d.Name, sb.Name, err)
			}
		}
	}
	if done := e.running(sb); done != nil {
		if !force {
			return cnm.Conflict("sandbox %s is running: stop it first or use --force", sb.Name)
		}
		if err := e.signalIfRunning(sb, 9); err != nil {
			return err
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	return e.removeSandboxLocked(ctx, sb.ID)
}

// removeSandboxLocked removes a sandbox whose process is not running;
// it is a no-op if the sandbox is already gone. Caller holds opMu.
func (e *Engine) removeSandboxLocked(ctx context.Context, id string) error {
	e.mu.RLock()
	sb := e.sandboxes[id]
	e.mu.RUnlock()
	if sb == nil {
		return nil
	}
	if sb.busy {
		return busyError(sb)
	}
	eps := append([]*cnm.Endpoint(nil), sb.eps...)
	err := e.update(func(tx *store.Tx) error {
		for _, ep := range eps {
			if err := tx.DeleteEndpoint(ep.ID); err != nil {
				return err
			}
		}
		return tx.DeleteSandbox(sb.ID)
	})
	if err != nil {
		return fmt.Errorf("remove sandbox %s: %w", sb.Name, err)
	}
	e.mu.Lock()
	delete(e.sandboxes, sb.ID)
	for _, ep := range eps {
		if n := e.networks[ep.NetworkID]; n != nil {
			delete(n.eps, ep.ID)
		}
		e.unindexEndpoint(sb, ep)
	}
	e.names.forgetSandbox(sb.ID)
	e.mu.Unlock()
	e.unpublish(sb)
	e.stopResolver(sb)
	if sb.Adopted {
		e.retire(sb, eps)
	}
	for _, ep := range eps {
		e.leaveKernel(ctx, ep)
	}
	if sb.NetnsPath != "" && sb.Container == "" {
		// After the queued leaves: unmounting first would have the
		// kernel tear the veth pairs down under the reaper's feet.
		e.reaper.add(func() {
			if err := sandbox.RemoveNetns(sb.NetnsPath); err != nil {
				e.log.Warn("remove sandbox namespace", "sb", sb.Name, "err", err)
			}
		})
	}
	_ = os.RemoveAll(e.filesDir(sb.ID))
	_ = os.Remove(e.logPath(sb.ID))
	return nil
}

// writeFiles creates the sandbox's hostname, hosts and resolv.conf. Only
// processes see them, so they are written when the first process starts
// (keeping file I/O off an attach) and kept up to date from then on.
// Caller holds opMu.
func (e *Engine) writeFiles(sb *sbox) error {
	if sb.HostNetwork || sb.Adopted {
		return nil
	}
	dir := e.filesDir(sb.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create sandbox files: %w", err)
	}
	host, err := os.ReadFile(e.cfg.ResolvConf)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read host resolv.conf: %w", err)
	}
	e.mu.RLock()
	files := map[string][]byte{
		"hostname":    []byte(sb.Hostname + "\n"),
		"resolv.conf": e.resolvConf(sb, host),
		"hosts":       e.hostsFile(sb),
	}
	e.mu.RUnlock()
	for name, data := range files {
		if err := sandbox.WriteFile(filepath.Join(dir, name), data); err != nil {
			return fmt.Errorf("write sandbox %s: %w", name, err)
		}
	}
	sb.files = true
	return e.startResolverLocked(sb)
}

// refreshHosts rewrites the hosts file after the endpoints changed, if
// the sandbox has its files, and those of the sandboxes linking to it.
// Caller holds opMu.
func (e *Engine) refreshHosts(sb *sbox) {
	e.mu.RLock()
	todo := map[*sbox][]byte{}
	if sb.files {
		todo[sb] = e.hostsFile(sb)
	}
	for _, o := range e.sandboxes {
		if o.files && slices.ContainsFunc(o.Links, func(l cnm.Link) bool { return l.Target == sb.ID }) {
			todo[o] = e.hostsFile(o)
		}
	}
	e.mu.RUnlock()
	for s, data := range todo {
		if err := sandbox.WriteFile(filepath.Join(e.filesDir(s.ID), "hosts"), data); err != nil {
			e.log.Warn("write hosts", "sb", s.Name, "err", err)
		}
	}
}
