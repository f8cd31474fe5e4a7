package engine

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchbay/patchbay/driver"
)

// Deleting a network device alone costs the kernel an RCU grace period,
// about 30 ms with its rtnl lock held. The reaper does deletions off the
// request path: an operation commits the store, retires what must vanish
// at once (see retire), and queues the rest. Each round takes everything
// queued, removes the endpoints first — each driver's Leave, then their
// deletion together through the driver's DeleteEndpoints where it has
// one — and then runs the other deletions (namespace unmounts, networks)
// in the order they came, so a network is deleted after its endpoints.
// Every driver call carries a deadline.
// After a crash, queued links are tagged and unexplained, so the sweep
// removes them.
type reaper struct {
	busy sync.WaitGroup // queued and running deletions
	// host has a netlink handle of its own: a deletion holds its socket
	// for the whole RCU wait, which must not stall other operations.
	host    driver.Host
	timeout time.Duration
	// nets counts queued network deletions: a new network waits for
	// them, as its subnet or device may be one they still hold.
	nets    atomic.Int32
	mu      sync.Mutex
	leaves  []leave
	nwDels  []netDeletion
	other   []func(context.Context)
	wake    chan struct{}
	done    chan struct{}
	onError func(msg string, args ...any)
}

// leave is an endpoint whose interfaces are to be removed.
type leave struct {
	d   driver.Driver
	dep driver.Departure
}

func newReaper(host driver.Host, timeout time.Duration, onError func(msg string, args ...any)) *reaper {
	r := &reaper{host: host, timeout: timeout, onError: onError, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.run()
	return r
}

// leave queues the removal of an endpoint's interfaces.
func (r *reaper) leave(d driver.Driver, nw driver.Network, ep driver.Endpoint) {
	r.busy.Add(1)
	r.mu.Lock()
	r.leaves = append(r.leaves, leave{d, driver.Departure{Network: nw, Endpoint: ep}})
	r.mu.Unlock()
	r.poke()
}

// add queues a deletion that runs after the endpoint removals queued
// before it.
func (r *reaper) add(f func()) {
	r.addCtx(func(context.Context) { f() })
}

func (r *reaper) addCtx(f func(context.Context)) {
	r.busy.Add(1)
	r.mu.Lock()
	r.other = append(r.other, f)
	r.mu.Unlock()
	r.poke()
}

// maxNetworkBatch bounds the networks deleted in one kernel operation.
const maxNetworkBatch = 4

// netDeletion is a network whose kernel objects are to be removed, and
// what to do after (free its network-wide resources).
type netDeletion struct {
	d     driver.Driver
	nw    driver.Network
	after func(context.Context, driver.Host)
}

// deleteNetwork queues a network's deletion after the endpoint removals
// queued before it; after runs once its objects are gone.
func (r *reaper) deleteNetwork(d driver.Driver, nw driver.Network, after func(context.Context, driver.Host)) {
	r.nets.Add(1)
	r.busy.Add(1)
	r.mu.Lock()
	r.nwDels = append(r.nwDels, netDeletion{d, nw, after})
	r.mu.Unlock()
	r.poke()
}

// removeNetworks deletes a round's networks, each driver's in one
// DeleteNetworks if it has one (one kernel grace period for all of
// them), else one by one.
func (r *reaper) removeNetworks(dels []netDeletion) {
	if len(dels) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	byDriver := map[driver.Driver][]driver.Network{}
	var order []driver.Driver
	for _, del := range dels {
		if _, seen := byDriver[del.d]; !seen {
			order = append(order, del.d)
		}
		byDriver[del.d] = append(byDriver[del.d], del.nw)
	}
	for _, d := range order {
		nws := byDriver[d]
		if bd, ok := d.(driver.NetworkBulkDeleter); ok && len(nws) > 1 {
			// In batches: one batch holds the kernel's rtnl lock for its
			// whole deletion, and every request waits behind it.
			for batch := range slices.Chunk(nws, maxNetworkBatch) {
				if err := bd.DeleteNetworks(ctx, r.host, batch); err != nil {
					r.onError("delete networks", "driver", d.Type(), "count", len(batch), "err", err)
				}
			}
			continue
		}
		for _, nw := range nws {
			if err := d.DeleteNetwork(ctx, r.host, nw); err != nil {
				// The record is gone; the tagged leftover is swept at next start.
				r.onError("delete network kernel objects", "net", nw.Name, "err", err)
			}
		}
	}
	for _, del := range dels {
		if del.after != nil {
			del.after(ctx, r.host)
		}
		r.nets.Add(-1)
		r.busy.Done()
	}
}

// flushNetworks waits for queued network deletions, if there are any.
func (r *reaper) flushNetworks() {
	if r.nets.Load() > 0 {
		r.flush()
	}
}

func (r *reaper) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *reaper) run() {
	for {
		_, open := <-r.wake
		r.mu.Lock()
		leaves, nwDels, other := r.leaves, r.nwDels, r.other
		r.leaves, r.nwDels, r.other = nil, nil, nil
		r.mu.Unlock()
		r.removeEndpoints(leaves)
		r.removeNetworks(nwDels)
		for _, f := range other {
			ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			f(ctx)
			cancel()
			r.busy.Done()
		}
		if !open {
			close(r.done)
			return
		}
	}
}

// removeEndpoints removes a round's endpoints: each leaves, then each
// driver's are deleted in one DeleteEndpoints if it has one, else one by
// one.
func (r *reaper) removeEndpoints(leaves []leave) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	for _, l := range leaves {
		if ec, ok := l.d.(driver.ExternalConnectivity); ok {
			if err := ec.RevokeExternalConnectivity(ctx, r.host, l.dep.Network, l.dep.Endpoint); err != nil {
				r.onError("revoke external connectivity", "net", l.dep.Network.Name, "ep", l.dep.Endpoint.ID[:12], "err", err)
			}
		}
		if err := l.d.Leave(ctx, r.host, l.dep.Network, l.dep.Endpoint); err != nil {
			r.onError("leave network", "net", l.dep.Network.Name, "ep", l.dep.Endpoint.ID[:12], "err", err)
		}
	}
	byDriver := map[driver.Driver][]driver.Departure{}
	var order []driver.Driver
	for _, l := range leaves {
		if _, seen := byDriver[l.d]; !seen {
			order = append(order, l.d)
		}
		byDriver[l.d] = append(byDriver[l.d], l.dep)
	}
	for _, d := range order {
		deps := byDriver[d]
		if bd, ok := d.(driver.BulkDeleter); ok {
			if err := bd.DeleteEndpoints(ctx, r.host, deps); err != nil {
				r.onError("remove endpoints", "driver", d.Type(), "count", len(deps), "err", err)
			}
		} else {
			for _, dep := range deps {
				if err := d.DeleteEndpoint(ctx, r.host, dep.Network, dep.Endpoint); err != nil {
					r.onError("delete endpoint", "net", dep.Network.Name, "ep", dep.Endpoint.ID[:12], "err", err)
				}
			}
		}
		for range deps {
			r.busy.Done()
		}
	}
}

// flush waits until every queued deletion is done.
func (r *reaper) flush() { r.busy.Wait() }

// close finishes every queued deletion and stops.
func (r *reaper) close() {
	close(r.wake)
	<-r.done
	r.host.Handle.Close()
}
