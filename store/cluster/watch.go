package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/patchbay/patchbay/cnm"
)

// Watch follows the store's history from rev in a goroutine of the
// client's, which Close stops and waits for. A reader that lags behind
// the history bound gets ErrCompacted, as an etcd watcher whose revision
// was compacted does: the store never waits for a reader, and never
// buffers for one without bound.
func (c *memClient) Watch(ctx context.Context, prefix string, rev int64) <-chan Event {
	ch := make(chan Event, 1)
	op := fmt.Sprintf("watch %s from revision %d", prefix, rev)
	if err := c.begin(ctx, op); err != nil {
		ch <- Event{Err: err}
		close(ch)
		return ch
	}
	m := c.m
	after := rev
	if rev <= 0 {
		after = m.rev
	}
	// Registered under the client's lock, so Close waits for it.
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	m.mu.Unlock()
	if closed {
		ch <- Event{Err: cnm.Unavailable("%s: cluster store client closed", op)}
		close(ch)
		return ch
	}
	go func() {
		defer c.wg.Done()
		defer close(ch)
		c.follow(ctx, prefix, after, ch)
	}()
	return ch
}

// follow sends the events under prefix with revisions above after.
func (c *memClient) follow(ctx context.Context, prefix string, after int64, ch chan<- Event) {
	m := c.m
	send := func(ev Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
		case <-c.stop:
		}
		return false
	}
	for {
		m.mu.Lock()
		if after < m.compacted {
			compacted := m.compacted
			m.mu.Unlock()
			send(Event{Err: fmt.Errorf("watch %s after revision %d: history starts after %d: %w", prefix, after, compacted, ErrCompacted)})
			return
		}
		i := sort.Search(len(m.events), func(i int) bool { return m.events[i].KV.ModRevision > after })
		batch := append([]Event(nil), m.events[i:]...)
		wait := m.changed
		m.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-wait:
			case <-ctx.Done():
				return
			case <-c.stop:
				return
			}
			continue
		}
		for _, ev := range batch {
			if !strings.HasPrefix(ev.KV.Key, prefix) {
				continue
			}
			ev.KV = clone(ev.KV)
			if ev.PrevKV != nil {
				p := clone(*ev.PrevKV)
				ev.PrevKV = &p
			}
			if !send(ev) {
				return
			}
		}
		after = batch[len(batch)-1].KV.ModRevision
	}
}
