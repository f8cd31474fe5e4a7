package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/ipam"
	"github.com/patchbay/patchbay/store"
	"github.com/patchbay/patchbay/store/cluster"
)

// Global networks (their driver's data scope is "global") live in the
// cluster store, shared by every host, and each host keeps a copy of
// their records in its local store, so it restores them even when the
// cluster store cannot be reached at start. The host that creates one
// claims its name and subnets there with create-only writes (so
// concurrent creates from several hosts have one winner), then writes its
// record; every host watches the records and reconciles its live networks
// with them through the same path restore takes. Removing one deletes its
// record, and every host removes its copy.

// Keys of the cluster store.
const clusterPrefix = "/patchbay/v1/"

func netKey(id string) string    { return clusterPrefix + "networks/" + id }
func nameKey(name string) string { return clusterPrefix + "names/" + name }
func subnetKey(p netip.Prefix) string {
	return clusterPrefix + "subnets/" + strings.ReplaceAll(p.Masked().String(), "/", "_")
}

// isGlobal reports whether a network's records are shared by the cluster.
func isGlobal(n *network) bool { return n.Scope == driver.ScopeGlobal }

// claimGlobal claims a new global network's name and subnets in the
// cluster store and returns the undo. Caller holds opMu.
func (e *Engine) claimGlobal(ctx context.Context, n *network) (_ func(), retErr error) {
	ctx, cancel := e.cctx(ctx)
	defer cancel()
	var keys []string
	undo := func() {
		bctx, cancel := e.bctx()
		defer cancel()
		for _, k := range keys {
			_ = e.cfg.Cluster.Delete(bctx, k, cluster.DeleteOptions{})
		}
	}
	defer func() {
		if retErr != nil {
			undo()
		}
	}()
	if _, err := e.cfg.Cluster.Put(ctx, nameKey(n.Name), []byte(n.ID), cluster.PutOptions{Create: true}); err != nil {
		if errors.Is(err, cnm.ErrConflict) {
			return nil, cnm.Conflict("network with name %s already exists in the cluster", n.Name)
		}
		return nil, fmt.Errorf("claim network name %s in the cluster store: %w", n.Name, err)
	}
	keys = append(keys, nameKey(n.Name))
	for i := range n.IPAM.Config {
		c := &n.IPAM.Config[i]
		if c.Subnet.Bits() == 0 && c.Subnet.Addr().IsUnspecified() {
			// No subnet asked for: the first free one of the cluster.
			p, err := e.chooseGlobalSubnet(ctx, n, c.Subnet.Addr().Is6())
			if err != nil {
				return nil, err
			}
			c.Subnet = p
			keys = append(keys, subnetKey(p))
			continue
		}
		k := subnetKey(c.Subnet)
		if _, err := e.cfg.Cluster.Put(ctx, k, []byte(n.ID), cluster.PutOptions{Create: true}); err != nil {
			if errors.Is(err, cnm.ErrConflict) {
				return nil, cnm.Conflict("subnet %s is used by another global network of the cluster", c.Subnet)
			}
			return nil, fmt.Errorf("claim subnet %s in the cluster store: %w", c.Subnet, err)
		}
		keys = append(keys, k)
	}
	return undo, nil
}

// globalPools are where subnets of global networks are chosen from when
// none is asked for: Docker's overlay default, 10.0.0.0/8 in /24s.
var globalPools = []ipam.PoolSpec{{Base: netip.MustParsePrefix("10.0.0.0/8"), Size: 24}}

// chooseGlobalSubnet claims the first subnet of the global pools that no
// global network of the cluster holds (nor overlaps), trying the next
// when another host wins a race for one.
func (e *Engine) chooseGlobalSubnet(ctx context.Context, n *network, v6 bool) (netip.Prefix, error) {
	kvs, _, err := e.cfg.Cluster.List(ctx, clusterPrefix+"subnets/")
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list the cluster's subnets: %w", err)
	}
	var taken []netip.Prefix
	for _, kv := range kvs {
		s := strings.ReplaceAll(strings.TrimPrefix(kv.Key, clusterPrefix+"subnets/"), "_", "/")
		if p, err := netip.ParsePrefix(s); err == nil {
			taken = append(taken, p)
		}
	}
	pools := globalPools
	if v6 {
		pools = []ipam.PoolSpec{{Base: e.ula, Size: 64}}
	}
	for range maxClaims {
		p, err := ipam.ChooseSubnet(pools, taken, v6)
		if err != nil {
			return netip.Prefix{}, cnm.Unavailable("no free subnet for global network %s: %v", n.Name, err)
		}
		_, err = e.cfg.Cluster.Put(ctx, subnetKey(p), []byte(n.ID), cluster.PutOptions{Create: true})
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, cnm.ErrConflict) {
			return netip.Prefix{}, fmt.Errorf("claim subnet %s in the cluster store: %w", p, err)
		}
		taken = append(taken, p)
	}
	return netip.Prefix{}, cnm.Unavailable("no free subnet for global network %s after %d tries: other hosts took them", n.Name, maxClaims)
}

// publishGlobal writes a new global network's record to the cluster
// store, where every host finds it. Caller holds opMu.
func (e *Engine) publishGlobal(ctx context.Context, n *network) error {
	rec := cloneNetwork(&n.Network)
	b, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	ctx, cancel := e.cctx(ctx)
	defer cancel()
	if _, err := e.cfg.Cluster.Put(ctx, netKey(n.ID), b, cluster.PutOptions{Create: true}); err != nil {
		return fmt.Errorf("publish network %s to the cluster store: %w", n.Name, err)
	}
	return nil
}

// unpublishGlobal deletes a global network's record, name and subnet
// claims. Caller holds opMu.
func (e *Engine) unpublishGlobal(ctx context.Context, n *network) error {
	ctx, cancel := e.cctx(ctx)
	defer cancel()
	if err := e.cfg.Cluster.Delete(ctx, netKey(n.ID), cluster.DeleteOptions{}); err != nil && !errors.Is(err, cnm.ErrNotFound) {
		return fmt.Errorf("remove network %s from the cluster store: %w", n.Name, err)
	}
	keys := []string{nameKey(n.Name)}
	for _, c := range n.IPAM.Config {
		keys = append(keys, subnetKey(c.Subnet))
	}
	for _, k := range keys {
		// Only our own claims: a name may already be another's.
		if kv, err := e.cfg.Cluster.Get(ctx, k); err == nil && string(kv.Value) == n.ID {
			_ = e.cfg.Cluster.Delete(ctx, k, cluster.DeleteOptions{PrevRevision: kv.ModRevision})
		}
	}
	return nil
}

// watchCluster follows the cluster store's changes to global networks
// from revision rev (after the list New reconciled; -1: none was), until
// the engine closes. A watch that ends (history compacted, store
// unreachable) starts again from a new list.
func (e *Engine) watchCluster(rev int64) {
	defer e.wg.Done()
	backoff := 100 * time.Millisecond
	for e.ctx.Err() == nil {
		var err error
		if rev < 0 {
			rev, err = e.reconcileCluster(e.ctx)
		}
		if err != nil {
			rev = -1
			e.log.Warn("cluster store", "err", err)
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for ev := range e.cfg.Cluster.Watch(e.ctx, clusterPrefix, rev) {
			if ev.Err != nil {
				e.log.Info("cluster watch ended; listing again", "err", ev.Err)
				break
			}
			e.clusterEvent(e.ctx, ev)
		}
		rev = -1 // the watch ended: list again
	}
}

// reconcileCluster lists the global networks of the cluster store and
// makes the live ones match: records not live are restored here, live
// global networks without a record are removed. It returns the list's
// revision.
func (e *Engine) reconcileCluster(ctx context.Context) (int64, error) {
	lctx, cancel := e.cctx(ctx)
	kvs, rev, err := e.cfg.Cluster.List(lctx, clusterPrefix)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("list the cluster store: %w", err)
	}
	want := map[string]*cnm.Network{}
	var eps []cluster.KV
	nodes := map[string]nodeRecord{}
	for _, kv := range kvs {
		switch kindOf(kv.Key) {
		case "networks":
			if rec := decodeNetwork(kv); rec != nil {
				want[rec.ID] = rec
			}
		case "endpoints":
			eps = append(eps, kv)
		case "nodes":
			var rec nodeRecord
			if json.Unmarshal(kv.Value, &rec) == nil {
				nodes[rec.Name] = rec
			}
		}
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	defer func() {
		e.nodes = nodes
		e.setNodesLocked(ctx)
		e.reconcileEndpointsLocked(ctx, eps)
	}()
	// Vanished networks go first: a new one may have taken over what
	// they held (a VXLAN ID).
	var gone []*network
	e.mu.RLock()
	for id, n := range e.networks {
		if isGlobal(n) && want[id] == nil {
			gone = append(gone, n)
		}
	}
	e.mu.RUnlock()
	for _, n := range gone {
		e.forgetGlobalLocked(ctx, n)
	}
	for _, rec := range want {
		e.adoptGlobalLocked(ctx, rec)
	}
	return rev, nil
}

// kindOf is the kind of record a cluster key holds ("networks", …).
func kindOf(key string) string {
	kind, _, _ := strings.Cut(strings.TrimPrefix(key, clusterPrefix), "/")
	return kind
}

// clusterEvent applies one change of the cluster store.
func (e *Engine) clusterEvent(ctx context.Context, ev cluster.Event) {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	switch kindOf(ev.KV.Key) {
	case "nodes":
		e.nodeEventLocked(ctx, ev)
		return
	case "endpoints":
		e.endpointEventLocked(ctx, ev)
		return
	case "networks":
	default:
		return
	}
	switch ev.Type {
	case cluster.EventPut:
		if rec := decodeNetwork(ev.KV); rec != nil {
			e.adoptGlobalLocked(ctx, rec)
		}
	case cluster.EventDelete:
		id := strings.TrimPrefix(ev.KV.Key, clusterPrefix+"networks/")
		e.mu.RLock()
		n := e.networks[id]
		e.mu.RUnlock()
		if n != nil && isGlobal(n) {
			e.forgetGlobalLocked(ctx, n)
		}
	}
}

func decodeNetwork(kv cluster.KV) *cnm.Network {
	var rec cnm.Network
	if err := json.Unmarshal(kv.Value, &rec); err != nil || rec.ID == "" {
		return nil
	}
	return &rec
}

// adoptGlobalLocked makes a global network of the cluster live here, as
// restore does with a local record, and keeps a copy of its record.
// Caller holds opMu.
func (e *Engine) adoptGlobalLocked(ctx context.Context, rec *cnm.Network) {
	e.mu.RLock()
	_, live := e.networks[rec.ID]
	_, ours := e.creating[rec.ID] // this host is making it, lock released
	e.mu.RUnlock()
	if live || ours {
		return
	}
	if o, err := e.findNetwork(rec.Name); err == nil {
		e.log.Warn("global network has the name of a local one; not adopted", "net", rec.Name, "local", o.ID[:12])
		return
	}
	rec.Builtin = false
	if err := e.restoreNetwork(ctx, rec); err != nil {
		e.log.Warn("adopt global network", "net", rec.Name, "err", err)
	}
	e.mu.RLock()
	n := e.networks[rec.ID]
	e.mu.RUnlock()
	if n == nil {
		return
	}
	if n.d != nil {
		if _, err := e.firewallAddNetwork(n); err != nil {
			e.log.Warn("firewall for global network", "net", n.Name, "err", err)
		}
	}
	// Endpoints of other hosts seen before the network was.
	for _, rec := range e.remote[n.ID] {
		e.indexRemoteLocked(ctx, n, rec)
	}
	e.setPeersLocked(ctx, n)
	if err := e.update(func(tx *store.Tx) error { return tx.PutNetwork(&n.Network) }); err != nil {
		e.log.Warn("save global network", "net", n.Name, "err", err)
	}
	e.log.Info("global network adopted", "net", n.Name)
}

// forgetGlobalLocked removes here a global network whose record left the
// cluster. One with endpoints here stays, unavailable, until they go.
// Caller holds opMu.
func (e *Engine) forgetGlobalLocked(ctx context.Context, n *network) {
	if len(n.eps) > 0 || n.pending > 0 {
		err := cnm.Unavailable("network %s was removed from the cluster while sandboxes here are on it", n.Name)
		e.mu.Lock()
		n.down = err
		e.mu.Unlock()
		e.log.Warn("global network removed from the cluster while in use here", "net", n.Name)
		return
	}
	delete(e.remote, n.ID)
	if err := e.removeLocalNetworkLocked(ctx, n, false); err != nil {
		e.log.Warn("remove global network", "net", n.Name, "err", err)
		return
	}
	e.log.Info("global network removed", "net", n.Name)
}
