package engine

import (
	"context"
	"sync"

	"github.com/patchbay/patchbay/driver"
)

// Deleting a network device costs the kernel 15–20 ms of RCU waits. The
// reaper does it off the request path, in order: an operation commits the
// store, retires what must vanish at once (see retire), and queues the
// rest (link deletions, then namespace unmounts).
// After a crash, queued links are tagged and unexplained, so the sweep
// removes them.
type reaper struct {
	busy sync.WaitGroup // queued and running deletions
	// host has a netlink handle of its own: a deletion holds its socket
	// for the whole RCU wait, which must not stall other operations.
	host    driver.Host
	mu      sync.Mutex
	pending []func()
	wake    chan struct{}
	done    chan struct{}
}

func newReaper(host driver.Host) *reaper {
	r := &reaper{host: host, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.run()
	return r
}

// add queues a deletion.
func (r *reaper) add(f func()) {
	r.busy.Add(1)
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
			r.busy.Done()
		}
		if !open {
			close(r.done)
			return
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

// reapLeave queues the driver's removal of an endpoint's host side.
func (e *Engine) reapLeave(d driver.Driver, nw driver.Network, ep driver.Endpoint) {
	e.reaper.add(func() {
		if err := d.Leave(context.Background(), e.reaper.host, nw, ep); err != nil {
			e.log.Warn("leave network", "net", nw.Name, "ep", ep.ID[:12], "err", err)
		}
	})
}
