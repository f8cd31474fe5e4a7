package engine

import (
	"context"
	"sync"

	"github.com/patchbay/patchbay/driver"
)

// Deleting a network device alone costs the kernel an RCU grace period,
// about 30 ms with its rtnl lock held. The reaper does deletions off the
// request path: an operation commits the store, retires what must vanish
// at once (see retire), and queues the rest. Each round takes everything
// queued, removes the endpoints first — together, through the driver's
// LeaveAll where it has one — and then runs the other deletions
// (namespace unmounts) in the order they came.
// After a crash, queued links are tagged and unexplained, so the sweep
// removes them.
type reaper struct {
	busy sync.WaitGroup // queued and running deletions
	// host has a netlink handle of its own: a deletion holds its socket
	// for the whole RCU wait, which must not stall other operations.
	host    driver.Host
	mu      sync.Mutex
	leaves  []leave
	other   []func()
	wake    chan struct{}
	done    chan struct{}
	onError func(msg string, args ...any)
}

// leave is an endpoint whose interfaces are to be removed.
type leave struct {
	d   driver.Driver
	dep driver.Departure
}

func newReaper(host driver.Host, onError func(msg string, args ...any)) *reaper {
	r := &reaper{host: host, onError: onError, wake: make(chan struct{}, 1), done: make(chan struct{})}
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
	r.busy.Add(1)
	r.mu.Lock()
	r.other = append(r.other, f)
	r.mu.Unlock()
	r.poke()
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
		leaves, other := r.leaves, r.other
		r.leaves, r.other = nil, nil
		r.mu.Unlock()
		r.removeEndpoints(leaves)
		for _, f := range other {
			f()
			r.busy.Done()
		}
		if !open {
			close(r.done)
			return
		}
	}
}

// removeEndpoints removes a round's endpoints, each driver's in one
// LeaveAll if it has one, else one by one.
func (r *reaper) removeEndpoints(leaves []leave) {
	ctx := context.Background()
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
		if bl, ok := d.(driver.BulkLeaver); ok {
			if err := bl.LeaveAll(ctx, r.host, deps); err != nil {
				r.onError("remove endpoints", "driver", d.Type(), "count", len(deps), "err", err)
			}
		} else {
			for _, dep := range deps {
				if err := d.Leave(ctx, r.host, dep.Network, dep.Endpoint); err != nil {
					r.onError("leave network", "net", dep.Network.Name, "ep", dep.Endpoint.ID[:12], "err", err)
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
