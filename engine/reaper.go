package engine

import (
	"context"
	"sync"

	"github.com/patchbay/patchbay/driver"
)

// Deleting a network device costs the kernel 15–20 ms of RCU waits. The
// reaper does it off the request path: an operation commits the store,
// retires what must vanish at once (see retire), and queues the rest.
// After a crash, queued links are tagged and unexplained, so the sweep
// removes them.
type reaper struct {
	mu      sync.Mutex
	pending []func()
	wake    chan struct{}
	done    chan struct{}
}

func newReaper() *reaper {
	r := &reaper{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.run()
	return r
}

// add queues a deletion.
func (r *reaper) add(f func()) {
	r.mu.Lock()
	r.pending = append(r.pending, f)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *reaper) run() {
	for {
		_, open := <-r.wake
		r.mu.Lock()
		batch := r.pending
		r.pending = nil
		r.mu.Unlock()
		for _, f := range batch {
			f()
		}
		if !open {
			close(r.done)
			return
		}
	}
}

// close finishes every queued deletion and stops.
func (r *reaper) close() {
	close(r.wake)
	<-r.done
}

// reapLeave queues the driver's removal of an endpoint's host side.
func (e *Engine) reapLeave(d driver.Driver, nw driver.Network, ep driver.Endpoint) {
	e.reaper.add(func() {
		if err := d.Leave(context.Background(), e.host, nw, ep); err != nil {
			e.log.Warn("leave network", "net", nw.Name, "ep", ep.ID[:12], "err", err)
		}
	})
}
