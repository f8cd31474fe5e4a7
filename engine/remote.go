package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/driver"
	"github.com/patchbay/patchbay/store/cluster"
)

// Endpoints of global networks. A host publishes each of its endpoints on
// a global network in the cluster store (its addresses, MAC, names and
// host), and claims each address it hands out there with a create-only
// write, both under its lease; every host follows the records and hands
// the network's driver the remote ones as its peers (forwarding and
// neighbour entries), answers their names from its embedded resolver,
// and keeps their addresses out of its own allocations. Two requests per
// attach reach the cluster store: the address claim and the record.

// endpointRecord is an endpoint of a global network in the cluster store.
type endpointRecord struct {
	ID        string       `json:"id"`
	NetworkID string       `json:"networkID"`
	Node      string       `json:"node"`
	NodeAddr  netip.Addr   `json:"nodeAddr"`
	MAC       string       `json:"mac,omitempty"`
	IPv4      netip.Prefix `json:"ipv4,omitzero"`
	IPv6      netip.Prefix `json:"ipv6,omitzero"`
	Names     []string     `json:"names,omitempty"`
}

func epKey(netID, epID string) string { return clusterPrefix + "endpoints/" + netID + "/" + epID }
func addrKey(netID string, a netip.Addr) string {
	return clusterPrefix + "addrs/" + netID + "/" + a.String()
}

// maxClaims bounds the addresses one attach tries before it gives up.
const maxClaims = 32

// claimAddress claims an address of a global network for this host.
func (e *Engine) claimAddress(ctx context.Context, n *network, a netip.Addr) error {
	ctx, cancel := e.cctx(ctx)
	defer cancel()
	_, err := e.cfg.Cluster.Put(ctx, addrKey(n.ID, a), []byte(e.cfg.NodeName), cluster.PutOptions{Create: true, Lease: e.currentLease()})
	if errors.Is(err, cnm.ErrConflict) {
		return cnm.Conflict("address %s of network %s is in use on another host", a, n.Name)
	}
	if err != nil {
		return fmt.Errorf("claim address %s of network %s in the cluster store: %w", a, n.Name, err)
	}
	return nil
}

// localRecord is the cluster record of a local endpoint.
func (e *Engine) localRecord(sb *sbox, ep *cnm.Endpoint) endpointRecord {
	return endpointRecord{
		ID: ep.ID, NetworkID: ep.NetworkID, Node: e.cfg.NodeName, NodeAddr: e.cfg.AdvertiseAddr,
		MAC: ep.MAC, IPv4: ep.IPv4, IPv6: ep.IPv6, Names: endpointNames(sb, ep.Aliases),
	}
}

// publishEndpoint writes a local endpoint's record under this host's
// lease.
func (e *Engine) publishEndpoint(ctx context.Context, rec endpointRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := e.cctx(ctx)
	defer cancel()
	if _, err := e.cfg.Cluster.Put(ctx, epKey(rec.NetworkID, rec.ID), b, cluster.PutOptions{Lease: e.currentLease()}); err != nil {
		return fmt.Errorf("publish endpoint to the cluster store: %w", err)
	}
	return nil
}

// claimAndPublish claims a local endpoint's addresses and writes its
// record, under this host's lease, in one request: a *cluster.KeyConflict
// names the address key another host holds.
func (e *Engine) claimAndPublish(ctx context.Context, n *network, rec endpointRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	lease := e.currentLease()
	var writes []cluster.Write
	for _, p := range []netip.Prefix{rec.IPv4, rec.IPv6} {
		if p.IsValid() {
			writes = append(writes, cluster.Write{Key: addrKey(n.ID, p.Addr()), Value: []byte(e.cfg.NodeName),
				Options: cluster.PutOptions{Create: true, Lease: lease}})
		}
	}
	writes = append(writes, cluster.Write{Key: epKey(rec.NetworkID, rec.ID), Value: b, Options: cluster.PutOptions{Lease: lease}})
	ctx, cancel := e.cctx(ctx)
	defer cancel()
	if _, err := e.cfg.Cluster.PutAll(ctx, writes); err != nil {
		return fmt.Errorf("publish endpoint to the cluster store: %w", err)
	}
	return nil
}

// withdrawEndpoint deletes a local endpoint's record and its address
// claims from the cluster store in the background, so a removal here
// does not wait for a store that may be away: it retries until the store
// answers or the engine closes, and what stays then goes with this
// host's lease, or with the reconcile of the next start.
func (e *Engine) withdrawEndpoint(n *network, ep *cnm.Endpoint) {
	netID, name, epID, addrs := n.ID, n.Name, ep.ID, []netip.Prefix{ep.IPv4, ep.IPv6}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
			// An attempt under way when the engine closes is finished
			// (Close waits, at most ClusterTimeout); none is retried.
			ctx, cancel := e.cctx(context.Background())
			err := e.withdraw(ctx, netID, epID, addrs)
			cancel()
			if err == nil || e.ctx.Err() != nil {
				return
			}
			e.log.Debug("withdraw endpoint from the cluster store", "net", name, "ep", epID[:12], "err", err, "retry", delay)
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
}

// withdraw deletes an endpoint's record and the claims this host holds
// on its addresses.
func (e *Engine) withdraw(ctx context.Context, netID, epID string, addrs []netip.Prefix) error {
	err := e.cfg.Cluster.Delete(ctx, epKey(netID, epID), cluster.DeleteOptions{})
	if err != nil && !errors.Is(err, cnm.ErrNotFound) {
		return err
	}
	for _, p := range addrs {
		if !p.IsValid() {
			continue
		}
		key := addrKey(netID, p.Addr())
		kv, err := e.cfg.Cluster.Get(ctx, key)
		switch {
		case errors.Is(err, cnm.ErrNotFound):
			continue
		case err != nil:
			return err
		case string(kv.Value) != e.cfg.NodeName:
			continue
		}
		err = e.cfg.Cluster.Delete(ctx, key, cluster.DeleteOptions{PrevRevision: kv.ModRevision})
		if err != nil && !errors.Is(err, cnm.ErrNotFound) && !errors.Is(err, cnm.ErrConflict) {
			return err
		}
	}
	return nil
}

// republishLocked publishes every local endpoint of a global network and
// claims its addresses again, after this host registered with a new
// lease. Caller holds opMu.
func (e *Engine) republishLocked(ctx context.Context) {
	e.mu.RLock()
	var recs []endpointRecord
	for _, n := range e.networks {
		if !isGlobal(n) {
			continue
		}
		for _, ep := range n.eps {
			if sb := e.sandboxes[ep.SandboxID]; sb != nil {
				recs = append(recs, e.localRecord(sb, ep))
			}
		}
	}
	e.mu.RUnlock()
	for _, rec := range recs {
		n := e.networks[rec.NetworkID]
		for _, p := range []netip.Prefix{rec.IPv4, rec.IPv6} {
			if p.IsValid() {
				if err := e.claimAddress(ctx, n, p.Addr()); err != nil && !errors.Is(err, cnm.ErrConflict) {
					e.log.Warn("claim address again", "net", n.Name, "addr", p.Addr(), "err", err)
				}
			}
		}
		if err := e.publishEndpoint(ctx, rec); err != nil {
			e.log.Warn("publish endpoint again", "net", n.Name, "ep", rec.ID[:12], "err", err)
		}
	}
}

// remoteName is the dnsNames key of a remote endpoint's "sandbox".
func remoteName(rec endpointRecord) string { return "@" + rec.Node + "/" + rec.ID }

func recordAddrs(rec endpointRecord) []netip.Addr {
	var out []netip.Addr
	for _, p := range []netip.Prefix{rec.IPv4, rec.IPv6} {
		if p.IsValid() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// endpointEventLocked applies a change of an endpoint record: a remote
// endpoint becomes (or stops being) a peer of its network here, with its
// names and addresses. Caller holds opMu.
func (e *Engine) endpointEventLocked(ctx context.Context, ev cluster.Event) {
	rest := strings.TrimPrefix(ev.KV.Key, clusterPrefix+"endpoints/")
	netID, epID, ok := strings.Cut(rest, "/")
	if !ok {
		return
	}
	switch ev.Type {
	case cluster.EventPut:
		var rec endpointRecord
		if json.Unmarshal(ev.KV.Value, &rec) != nil || rec.Node == e.cfg.NodeName {
			return
		}
		e.addRemoteLocked(ctx, rec, true)
	case cluster.EventDelete:
		e.removeRemoteLocked(ctx, netID, epID, true)
	}
}

// addRemoteLocked records a remote endpoint. Caller holds opMu.
func (e *Engine) addRemoteLocked(ctx context.Context, rec endpointRecord, program bool) {
	var replaced []endpointRecord
	if old, ok := e.remote[rec.NetworkID][rec.ID]; ok {
		if slices.Equal(old.Names, rec.Names) && old.IPv4 == rec.IPv4 && old.IPv6 == rec.IPv6 && old.MAC == rec.MAC && old.NodeAddr == rec.NodeAddr {
			return
		}
		e.removeRemoteLocked(ctx, rec.NetworkID, rec.ID, false)
		replaced = append(replaced, old)
	}
	if e.remote[rec.NetworkID] == nil {
		e.remote[rec.NetworkID] = map[string]endpointRecord{}
	}
	e.remote[rec.NetworkID][rec.ID] = rec
	n := e.networks[rec.NetworkID]
	if n == nil {
		return // indexed when its network is adopted here
	}
	// Forwarding first: a name that resolves must be reachable, or the
	// first packet finds no neighbour and TCP waits a second to retry.
	if program {
		e.updatePeersLocked(ctx, n, []endpointRecord{rec}, replaced)
	}
	e.indexRemoteLocked(ctx, n, rec)
}

// indexRemoteLocked makes a remote endpoint's names resolvable and keeps
// its addresses out of this host's allocations. Caller holds opMu.
func (e *Engine) indexRemoteLocked(ctx context.Context, n *network, rec endpointRecord) {
	if len(rec.Names) > 0 {
		e.names.addEndpoint(n.ID, remoteName(rec), rec.ID, rec.Names, recordAddrs(rec))
	}
	for _, a := range recordAddrs(rec) {
		ep := &cnm.Endpoint{ID: rec.ID, IPv4: netip.PrefixFrom(a, a.BitLen())}
		if a.Is6() {
			ep = &cnm.Endpoint{ID: rec.ID, IPv6: netip.PrefixFrom(a, a.BitLen())}
		}
		e.reserveRemote(ctx, n, ep)
	}
}

// removeRemoteLocked forgets a remote endpoint. Caller holds opMu.
func (e *Engine) removeRemoteLocked(ctx context.Context, netID, epID string, program bool) {
	rec, ok := e.remote[netID][epID]
	if !ok {
		return
	}
	delete(e.remote[netID], epID)
	if n := e.networks[netID]; n != nil {
		e.names.removeEndpoint(netID, remoteName(rec), rec.ID, recordAddrs(rec))
		if program {
			e.updatePeersLocked(ctx, n, nil, []endpointRecord{rec})
		}
		e.releaseEndpoint(n, &cnm.Endpoint{IPv4: rec.IPv4, IPv6: rec.IPv6})
	}
}

// setPeersLocked hands a global network's driver its remote endpoints.
// Caller holds opMu.
func (e *Engine) setPeersLocked(ctx context.Context, n *network) {
	ps, ok := n.d.(driver.PeerSetter)
	if !ok || !isGlobal(n) {
		return
	}
	peers := make([]driver.Peer, 0, len(e.remote[n.ID]))
	for _, rec := range e.remote[n.ID] {
		peers = append(peers, peerOf(rec))
	}
	slices.SortFunc(peers, func(a, b driver.Peer) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	ctx, cancel := e.dctx(ctx)
	defer cancel()
	if err := ps.SetPeers(ctx, e.host, driverNetwork(n), peers); err != nil {
		e.log.Warn("set overlay peers", "net", n.Name, "err", err)
	}
}

// updatePeersLocked tells a global network's driver that remote
// endpoints arrived (add) or left (remove): as that change if the driver
// takes one (driver.PeerUpdater), so the work does not grow with the
// network, else — or if that fails — as the whole set. Caller holds
// opMu.
func (e *Engine) updatePeersLocked(ctx context.Context, n *network, add, remove []endpointRecord) {
	if pu, ok := n.d.(driver.PeerUpdater); ok && isGlobal(n) {
		var adds, removes []driver.Peer
		for _, rec := range add {
			adds = append(adds, peerOf(rec))
		}
		for _, rec := range remove {
			removes = append(removes, peerOf(rec))
		}
		uctx, cancel := e.dctx(ctx)
		err := pu.UpdatePeers(uctx, e.host, driverNetwork(n), adds, removes)
		cancel()
		if err == nil {
			return
		}
		e.log.Debug("update overlay peers; setting all of them", "net", n.Name, "err", err)
	}
	e.setPeersLocked(ctx, n)
}

// peerOf is a remote endpoint as its network's driver sees it.
func peerOf(rec endpointRecord) driver.Peer {
	p := driver.Peer{EndpointID: rec.ID, IPv4: rec.IPv4, IPv6: rec.IPv6, Node: driver.Node{Name: rec.Node, Addr: rec.NodeAddr}}
	p.MAC, _ = net.ParseMAC(rec.MAC)
	return p
}

// reconcileEndpointsLocked makes the remote endpoints match a list of
// the cluster's endpoint records, and deletes this host's own records
// that no local endpoint explains (left by a crash). Caller holds opMu.
func (e *Engine) reconcileEndpointsLocked(ctx context.Context, kvs []cluster.KV) {
	want := map[string]map[string]endpointRecord{}
	for _, kv := range kvs {
		var rec endpointRecord
		if json.Unmarshal(kv.Value, &rec) != nil {
			continue
		}
		if rec.Node == e.cfg.NodeName {
			if n := e.networks[rec.NetworkID]; n == nil || n.eps[rec.ID] == nil {
				bctx, cancel := e.bctx()
				_ = e.cfg.Cluster.Delete(bctx, kv.Key, cluster.DeleteOptions{PrevRevision: kv.ModRevision})
				cancel()
			}
			continue
		}
		if want[rec.NetworkID] == nil {
			want[rec.NetworkID] = map[string]endpointRecord{}
		}
		want[rec.NetworkID][rec.ID] = rec
	}
	for netID, eps := range e.remote {
		for epID := range eps {
			if _, ok := want[netID][epID]; !ok {
				e.removeRemoteLocked(ctx, netID, epID, false)
			}
		}
	}
	for _, eps := range want {
		for _, rec := range eps {
			e.addRemoteLocked(ctx, rec, false)
		}
	}
	// Every global network's driver gets its peers, even none: that
	// clears what an earlier run of this host left programmed.
	for _, n := range e.networks {
		if isGlobal(n) {
			e.setPeersLocked(ctx, n)
		}
	}
}
