package etcd

import (
	"context"
	"fmt"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch streams the changes under prefix after rev. With rev 0 it first
// reads the store's current revision (waiting, within ctx, for a store
// that is down), so that "from now on" means from this call, not from
// whenever etcd registers the watch. A compacted
// starting revision ends the watch with cluster.ErrCompacted. While etcd
// cannot be reached the watch waits; it resumes where it was when etcd
// returns. The channel closes when ctx ends or the client closes.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan cluster.Event {
	ch := make(chan cluster.Event, 1)
	op := fmt.Sprintf("watch %s from revision %d", prefix, rev)
	fail := func(err error) <-chan cluster.Event {
		ch <- cluster.Event{Err: err}
		close(ch)
		return ch
	}
	if err := s.begin(ctx, op); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fail(cnm.Unavailable("%s: cluster store client closed", op))
	}
	s.wg.Add(1)
	s.mu.Unlock()
	wctx, cancel := context.WithCancel(ctx)
	stopAfter := context.AfterFunc(s.stop, cancel)
	end := func() {
		stopAfter()
		cancel()
		s.wg.Done()
	}
	after := rev
	if rev <= 0 {
		resp, err := s.kv.Get(wctx, prefix, clientv3.WithCountOnly())
		if err != nil {
			end()
			return fail(classify(wctx, op, err))
		}
		after = resp.Header.Revision
	}
	go func() {
		defer end()
		defer close(ch)
		s.follow(wctx, prefix, after, ch)
	}()
	return ch
}

// follow sends the events of an etcd watch from after+1.
func (s *Store) follow(ctx context.Context, prefix string, after int64, ch chan<- cluster.Event) {
	send := func(ev cluster.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	wch := s.watch.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1), clientv3.WithPrevKV())
	for resp := range wch {
		if resp.CompactRevision != 0 {
			send(cluster.Event{Err: fmt.Errorf("watch %s after revision %d: history starts after %d: %w",
				prefix, after, resp.CompactRevision, cluster.ErrCompacted)})
			return
		}
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				send(cluster.Event{Err: classify(ctx, fmt.Sprintf("watch %s", prefix), err)})
			}
			return
		}
		for _, e := range resp.Events {
			ev := cluster.Event{Type: cluster.EventPut, KV: kvOf(e.Kv)}
			if e.Type == clientv3.EventTypeDelete {
				ev.Type = cluster.EventDelete
				ev.KV = cluster.KV{Key: string(e.Kv.Key), ModRevision: e.Kv.ModRevision}
			}
			if e.PrevKv != nil {
				p := kvOf(e.PrevKv)
				ev.PrevKV = &p
			}
			if !send(ev) {
				return
			}
			after = e.Kv.ModRevision
		}
	}
}
