package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/store"
	"github.com/patchbay/patchbay/store/cluster"
)

// Membership. Each host registers its node name and underlay address in
// the cluster store under a lease of NodeTTL that it refreshes; every
// record it publishes there (its endpoints of global networks, the
// addresses they hold) is attached to the same lease, so a host that dies
// disappears, with everything it published, for every other host when the
// lease expires. A host that restarts within its TTL takes its lease back
// (its ID is kept in the local store), so it keeps its name and its
// records without a gap; one whose lease expired registers again and
// publishes its records anew.

// nodeRecord is a host in the cluster store.
type nodeRecord struct {
	Name string     `json:"name"`
	Addr netip.Addr `json:"addr"`
}

func nodeKey(name string) string { return clusterPrefix + "nodes/" + name }

// metaLease is where the local store keeps this host's lease ID.
const metaLease = "cluster-lease"

// register puts this host's node record under a lease: the one kept from
// before a restart if it is still alive, else a new one. A node name held
// by another live host is a conflict.
func (e *Engine) register(ctx context.Context) error {
	ctx, cancel := e.cctx(ctx)
	defer cancel()
	c := e.cfg.Cluster
	var saved cluster.LeaseID
	_ = e.store.View(func(tx *store.Tx) error {
		id, _ := strconv.ParseInt(tx.Meta(metaLease), 10, 64)
		saved = cluster.LeaseID(id)
		return nil
	})
	rec, _ := json.Marshal(nodeRecord{Name: e.cfg.NodeName, Addr: e.cfg.AdvertiseAddr})
	if kv, err := c.Get(ctx, nodeKey(e.cfg.NodeName)); err == nil {
		if kv.Lease != saved || saved == cluster.NoLease {
			var o nodeRecord
			_ = json.Unmarshal(kv.Value, &o)
			return cnm.Conflict("node name %s is already in use by a live daemon at %s: give this one another --node-name", e.cfg.NodeName, o.Addr)
		}
		if err := c.KeepAlive(ctx, saved); err == nil {
			if _, err := c.Put(ctx, nodeKey(e.cfg.NodeName), rec, cluster.PutOptions{PrevRevision: kv.ModRevision, Lease: saved}); err == nil {
				e.setLease(saved)
				return nil
			}
		}
	} else if !errors.Is(err, cnm.ErrNotFound) {
		return fmt.Errorf("register node %s: %w", e.cfg.NodeName, err)
	}
	lease, err := c.Grant(ctx, e.cfg.NodeTTL)
	if err != nil {
		return fmt.Errorf("register node %s: %w", e.cfg.NodeName, err)
	}
	if _, err := c.Put(ctx, nodeKey(e.cfg.NodeName), rec, cluster.PutOptions{Create: true, Lease: lease}); err != nil {
		_ = c.Revoke(ctx, lease)
		if errors.Is(err, cnm.ErrConflict) {
			return cnm.Conflict("node name %s is already in use by another daemon: give this one another --node-name", e.cfg.NodeName)
		}
		return fmt.Errorf("register node %s: %w", e.cfg.NodeName, err)
	}
	if err := e.update(func(tx *store.Tx) error { return tx.SetMeta(metaLease, strconv.FormatInt(int64(lease), 10)) }); err != nil {
		return err
	}
	e.setLease(lease)
	return nil
}

func (e *Engine) setLease(id cluster.LeaseID) {
	e.mu.Lock()
	e.lease = id
	e.mu.Unlock()
}

func (e *Engine) currentLease() cluster.LeaseID {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.lease
}

// keepAlive refreshes this host's lease three times per TTL until the
// engine closes. A lease that expired (the store was away longer than
// the TTL) is replaced: the host registers again and publishes its
// records anew.
func (e *Engine) keepAlive() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.NodeTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		lease := e.currentLease()
		if lease != cluster.NoLease {
			ctx, cancel := context.WithTimeout(e.ctx, e.cfg.NodeTTL/3)
			err := e.cfg.Cluster.KeepAlive(ctx, lease)
			cancel()
			if err == nil || !errors.Is(err, cnm.ErrNotFound) {
				continue // alive, or the store is away: try again
			}
			e.log.Warn("cluster lease expired; registering again", "node", e.cfg.NodeName)
		}
		if err := e.register(e.ctx); err != nil {
			e.log.Warn("register node", "node", e.cfg.NodeName, "err", err)
			continue
		}
		e.opMu.Lock()
		e.republishLocked(e.ctx)
		e.opMu.Unlock()
	}
}

// setNodesLocked hands the multi-host drivers the current set of other
// hosts. Caller holds opMu.
func (e *Engine) setNodesLocked(ctx context.Context) {
	nodes := make([]driver.Node, 0, len(e.nodes))
	for _, n := range e.nodes {
		if n.Name != e.cfg.NodeName {
			nodes = append(nodes, driver.Node{Name: n.Name, Addr: n.Addr})
		}
	}
	slices.SortFunc(nodes, func(a, b driver.Node) int { return strings.Compare(a.Name, b.Name) })
	// Plugins found so far too: DiscoverNew/DiscoverDelete.
	for _, d := range e.drivers.All() {
		if ns, ok := d.(driver.NodeSetter); ok {
			sctx, cancel := e.dctx(ctx)
			if err := ns.SetNodes(sctx, e.host, nodes); err != nil {
				e.log.Warn("set cluster nodes", "driver", d.Type(), "err", err)
			}
			cancel()
		}
	}
}

// nodeEvent applies a change of a node record. Caller holds opMu.
func (e *Engine) nodeEventLocked(ctx context.Context, ev cluster.Event) {
	name := strings.TrimPrefix(ev.KV.Key, clusterPrefix+"nodes/")
	switch ev.Type {
	case cluster.EventPut:
		var rec nodeRecord
		if json.Unmarshal(ev.KV.Value, &rec) != nil {
			return
		}
		e.nodes[name] = rec
	case cluster.EventDelete:
		delete(e.nodes, name)
		if name != e.cfg.NodeName {
			e.log.Info("cluster node gone", "node", name)
		}
	}
	e.setNodesLocked(ctx)
}
