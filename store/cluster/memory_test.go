package cluster_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store/cluster"
	"github.com/patchbay/patchbay/store/cluster/clustertest"
)

// clock is a clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// memBackend is a Memory on a manual clock, for clustertest.
type memBackend struct {
	mem   *cluster.Memory
	clock *clock
}

func newMemBackend(t *testing.T, opts cluster.MemoryOptions) *memBackend {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts.Now = c.Now
	m := cluster.NewMemory(opts)
	t.Cleanup(func() { m.Close() })
	return &memBackend{mem: m, clock: c}
}

func (b *memBackend) Client(t *testing.T) cluster.Store {
	s := b.mem.Client()
	t.Cleanup(func() { s.Close() })
	return s
}

func (b *memBackend) Advance(t *testing.T, d time.Duration) {
	b.clock.advance(d)
	b.mem.Expire()
}

func TestMemoryConformance(t *testing.T) {
	clustertest.Run(t, func(t *testing.T) clustertest.Backend { return newMemBackend(t, cluster.MemoryOptions{}) })
}

// A watch from a revision older than the history kept ends with
// ErrCompacted; one from within the history gets every event after it.
func TestMemoryWatchCompacted(t *testing.T) {
	b := newMemBackend(t, cluster.MemoryOptions{History: 4})
	s := b.Client(t)
	ctx := t.Context()
	var revs []int64
	for i := range 10 {
		rev, err := s.Put(ctx, "/k"+strconv.Itoa(i), nil, cluster.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	var last cluster.Event
	n := 0
	for ev := range s.Watch(ctx, "/", revs[1]) {
		last = ev
		n++
	}
	if n != 1 || !errors.Is(last.Err, cluster.ErrCompacted) {
		t.Errorf("watch from a compacted revision: %d events, last %+v", n, last)
	}
	ch := s.Watch(ctx, "/", revs[5])
	for i := 6; i < 10; i++ {
		if ev := <-ch; ev.Err != nil || ev.KV.ModRevision != revs[i] {
			t.Fatalf("event %d: %+v, want revision %d", i, ev, revs[i])
		}
	}
}

// A reader that falls behind the history bound gets ErrCompacted instead
// of stalling writers or making the store buffer without bound.
func TestMemorySlowReader(t *testing.T) {
	b := newMemBackend(t, cluster.MemoryOptions{History: 8})
	s := b.Client(t)
	ctx := t.Context()
	ch := s.Watch(ctx, "/", 0)
	for i := range 100 {
		if _, err := s.Put(ctx, "/k", []byte(strconv.Itoa(i)), cluster.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var last cluster.Event
	for ev := range ch {
		last = ev
	}
	if !errors.Is(last.Err, cluster.ErrCompacted) {
		t.Errorf("a reader 100 events behind a history of 8 ended with %+v", last)
	}
}

// Closing a client ends its watches and refuses its calls; other clients
// and the keys it wrote stay.
func TestMemoryClientClose(t *testing.T) {
	b := newMemBackend(t, cluster.MemoryOptions{})
	s, o := b.mem.Client(), b.Client(t)
	ctx := t.Context()
	if _, err := s.Put(ctx, "/k", []byte("v"), cluster.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, "/", 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for ev := range ch {
		t.Errorf("event after close: %+v", ev)
	}
	if _, err := s.Get(ctx, "/k"); !errors.Is(err, cnm.ErrUnavailable) {
		t.Errorf("get on a closed client: %v", err)
	}
	if ev := <-s.Watch(ctx, "/", 0); !errors.Is(ev.Err, cnm.ErrUnavailable) {
		t.Errorf("watch on a closed client: %+v", ev)
	}
	if kv, err := o.Get(ctx, "/k"); err != nil || string(kv.Value) != "v" {
		t.Errorf("another client after close: %+v, %v", kv, err)
	}
}

// On the real clock, a lease left alone expires by itself: its keys go
// and watches see them go without any other call.
func TestMemoryRealClockExpiry(t *testing.T) {
	m := cluster.NewMemory(cluster.MemoryOptions{ExpiryInterval: time.Millisecond})
	defer m.Close()
	s := m.Client()
	defer s.Close()
	ctx := t.Context()
	id, err := s.Grant(ctx, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, "/", 0)
	if _, err := s.Put(ctx, "/host", []byte("up"), cluster.PutOptions{Lease: id}); err != nil {
		// The lease may have expired already on a slow machine.
		if !errors.Is(err, cnm.ErrNotFound) {
			t.Fatal(err)
		}
		return
	}
	for _, want := range []cluster.EventType{cluster.EventPut, cluster.EventDelete} {
		if ev := <-ch; ev.Err != nil || ev.Type != want || ev.KV.Key != "/host" {
			t.Fatalf("got %+v, want a %v of /host", ev, want)
		}
	}
}

// Many clients writing and watching at once (run with -race).
func TestMemoryConcurrentWatchers(t *testing.T) {
	b := newMemBackend(t, cluster.MemoryOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const writers, each = 4, 50
	var watches []<-chan cluster.Event
	for range 3 {
		watches = append(watches, b.Client(t).Watch(ctx, "/c/", 0))
	}
	var wg sync.WaitGroup
	for w := range writers {
		s := b.Client(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Put(ctx, "/c/"+strconv.Itoa(w), []byte(strconv.Itoa(i)), cluster.PutOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, ch := range watches {
		var prev int64
		for range writers * each {
			ev := <-ch
			if ev.Err != nil || ev.KV.ModRevision <= prev {
				t.Fatalf("watch %d: %+v after revision %d", i, ev, prev)
			}
			prev = ev.KV.ModRevision
		}
	}
}
