package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

// MemoryOptions configure an in-memory store.
type MemoryOptions struct {
	// Now is the clock leases expire by. Left nil, it is time.Now and a
	// goroutine expires leases every ExpiryInterval until Close. With a
	// clock of its own, nothing runs in the background: leases are
	// expired by Expire and at the start of every call.
	Now func() time.Time
	// ExpiryInterval is how often the real-clock goroutine looks for
	// expired leases; 100ms if zero.
	ExpiryInterval time.Duration
	// History is how many events watches can start from or lag behind;
	// 10,000 if zero.
	History int
}

// Memory is an in-memory cluster store shared by any number of clients,
// each standing for a host. It is safe for concurrent use.
type Memory struct {
	now     func() time.Time
	history int
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the expiry goroutine has ended

	mu        sync.Mutex
	rev       int64
	compacted int64 // history holds the events of the revisions after it
	kvs       map[string]KV
	leases    map[LeaseID]*lease
	lastLease LeaseID
	events    []Event       // in revision order
	changed   chan struct{} // closed and replaced when events grow
}

type lease struct {
	ttl    time.Duration
	expiry time.Time
	keys   map[string]struct{}
}

// NewMemory returns an empty store. Its revision starts at 1, as etcd's
// does, so a List of the empty store returns a revision that Watch takes
// as "after this" rather than "from now on".
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{now: opts.Now, history: opts.History, stop: make(chan struct{}), done: make(chan struct{}),
		kvs: map[string]KV{}, leases: map[LeaseID]*lease{}, changed: make(chan struct{}), rev: 1}
	if m.history <= 0 {
		m.history = 10000
	}
	if m.now != nil {
		close(m.done)
		return m
	}
	m.now = time.Now
	every := opts.ExpiryInterval
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	go m.expireEvery(every)
	return m
}

func (m *Memory) expireEvery(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Expire()
		}
	}
}

// Close stops the expiry goroutine. Clients stay usable.
func (m *Memory) Close() error {
	m.mu.Lock()
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.mu.Unlock()
	<-m.done
	return nil
}

// Client returns a new client of the store.
func (m *Memory) Client() Store {
	return &memClient{m: m, stop: make(chan struct{})}
}

// Revision returns the store's current revision.
func (m *Memory) Revision() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev
}

// Expire ends every lease whose time is up by the store's clock, deleting
// its keys.
func (m *Memory) Expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
}

func (m *Memory) expireLocked() {
	now := m.now()
	var due []LeaseID
	for id, l := range m.leases {
		if !now.Before(l.expiry) {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	for _, id := range due {
		m.revokeLocked(id)
	}
}

// revokeLocked ends a lease, deleting its keys in one revision.
func (m *Memory) revokeLocked(id LeaseID) {
	l := m.leases[id]
	delete(m.leases, id)
	if len(l.keys) == 0 {
		return
	}
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m.rev++
	var evs []Event
	for _, k := range keys {
		evs = append(evs, m.deleteLocked(k))
	}
	m.appendLocked(evs...)
}

// deleteLocked removes an existing key at the current revision and
// returns its event.
func (m *Memory) deleteLocked(key string) Event {
	prev := m.kvs[key]
	delete(m.kvs, key)
	if l, ok := m.leases[prev.Lease]; ok {
		delete(l.keys, key)
	}
	return Event{Type: EventDelete, KV: KV{Key: key, ModRevision: m.rev}, PrevKV: &prev}
}

// appendLocked adds events to the history, dropping the oldest revisions
// beyond its bound, and wakes the watches.
func (m *Memory) appendLocked(evs ...Event) {
	m.events = append(m.events, evs...)
	if over := len(m.events) - m.history; over > 0 {
		m.compacted = m.events[over-1].KV.ModRevision
		// Drop whole revisions.
		for over < len(m.events) && m.events[over].KV.ModRevision == m.compacted {
			over++
		}
		m.events = slices.Delete(m.events, 0, over)
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

// memClient is one client of a Memory.
type memClient struct {
	m    *Memory
	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// begin checks the client and ctx and takes the store's lock, expiring
// leases first.
func (c *memClient) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return cnm.Unavailable("%s: cluster store client closed", op)
	}
	c.m.mu.Lock()
	c.m.expireLocked()
	return nil
}

func (c *memClient) Get(ctx context.Context, key string) (KV, error) {
	if err := c.begin(ctx, "get "+key); err != nil {
		return KV{}, err
	}
	defer c.m.mu.Unlock()
	kv, ok := c.m.kvs[key]
	if !ok {
		return KV{}, cnm.NotFound("get %s: no such key", key)
	}
	return clone(kv), nil
}

func (c *memClient) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	if err := c.begin(ctx, "list "+prefix); err != nil {
		return nil, 0, err
	}
	defer c.m.mu.Unlock()
	var out []KV
	for k, kv := range c.m.kvs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, clone(kv))
		}
	}
	slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return out, c.m.rev, nil
}

func (c *memClient) Put(ctx context.Context, key string, value []byte, opts PutOptions) (int64, error) {
	op := "put " + key
	if key == "" || opts.PrevRevision < 0 || (opts.Create && opts.PrevRevision > 0) {
		return 0, cnm.Invalid("%s: empty key, negative revision, or both Create and PrevRevision", op)
	}
	if err := c.begin(ctx, op); err != nil {
		return 0, err
	}
	m := c.m
	defer m.mu.Unlock()
	if err := m.checkLocked(op, key, opts); err != nil {
		return 0, err
	}
	m.rev++
	m.appendLocked(m.putLocked(key, value, opts.Lease))
	return m.rev, nil
}

func (c *memClient) PutAll(ctx context.Context, writes []Write) (int64, error) {
	if err := CheckWrites(writes); err != nil {
		return 0, err
	}
	if err := c.begin(ctx, "put all"); err != nil {
		return 0, err
	}
	m := c.m
	defer m.mu.Unlock()
	for _, w := range writes {
		if err := m.checkLocked("put "+w.Key, w.Key, w.Options); err != nil {
			if errors.Is(err, cnm.ErrConflict) {
				err = &KeyConflict{Key: w.Key, Err: err}
			}
			return 0, err
		}
	}
	m.rev++
	evs := make([]Event, 0, len(writes))
	for _, w := range writes {
		evs = append(evs, m.putLocked(w.Key, w.Value, w.Options.Lease))
	}
	m.appendLocked(evs...)
	return m.rev, nil
}

// checkLocked checks a put's condition and lease.
func (m *Memory) checkLocked(op, key string, opts PutOptions) error {
	prev, exists := m.kvs[key]
	switch {
	case opts.Create && exists:
		return cnm.Conflict("%s: key exists", op)
	case opts.PrevRevision > 0 && !exists:
		return cnm.Conflict("%s: key does not exist, revision %d expected", op, opts.PrevRevision)
	case opts.PrevRevision > 0 && prev.ModRevision != opts.PrevRevision:
		return cnm.Conflict("%s: key is at revision %d, not %d", op, prev.ModRevision, opts.PrevRevision)
	}
	if opts.Lease != NoLease && m.leases[opts.Lease] == nil {
		return cnm.NotFound("%s: no lease %d", op, opts.Lease)
	}
	return nil
}

// putLocked writes a checked put at the current revision and returns
// its event.
func (m *Memory) putLocked(key string, value []byte, lease LeaseID) Event {
	prev, exists := m.kvs[key]
	kv := KV{Key: key, Value: slices.Clone(value), CreateRevision: m.rev, ModRevision: m.rev, Lease: lease}
	ev := Event{Type: EventPut, KV: kv}
	if exists {
		kv.CreateRevision = prev.CreateRevision
		ev.KV.CreateRevision = prev.CreateRevision
		ev.PrevKV = &prev
		if old, ok := m.leases[prev.Lease]; ok {
			delete(old.keys, key)
		}
	}
	if l := m.leases[lease]; lease != NoLease && l != nil {
		l.keys[key] = struct{}{}
	}
	m.kvs[key] = kv
	return ev
}

func (c *memClient) Delete(ctx context.Context, key string, opts DeleteOptions) error {
	op := "delete " + key
	if opts.PrevRevision < 0 {
		return cnm.Invalid("%s: negative revision", op)
	}
	if err := c.begin(ctx, op); err != nil {
		return err
	}
	m := c.m
	defer m.mu.Unlock()
	prev, exists := m.kvs[key]
	switch {
	case opts.PrevRevision > 0 && (!exists || prev.ModRevision != opts.PrevRevision):
		return cnm.Conflict("%s: key is not at revision %d", op, opts.PrevRevision)
	case !exists:
		return cnm.NotFound("%s: no such key", op)
	}
	m.rev++
	m.appendLocked(m.deleteLocked(key))
	return nil
}

func (c *memClient) Grant(ctx context.Context, ttl time.Duration) (LeaseID, error) {
	if ttl <= 0 {
		return NoLease, cnm.Invalid("grant lease: ttl %v is not positive", ttl)
	}
	if err := c.begin(ctx, "grant lease"); err != nil {
		return NoLease, err
	}
	m := c.m
	defer m.mu.Unlock()
	m.lastLease++
	m.leases[m.lastLease] = &lease{ttl: ttl, expiry: m.now().Add(ttl), keys: map[string]struct{}{}}
	return m.lastLease, nil
}

func (c *memClient) KeepAlive(ctx context.Context, id LeaseID) error {
	op := fmt.Sprintf("keep lease %d alive", id)
	if err := c.begin(ctx, op); err != nil {
		return err
	}
	m := c.m
	defer m.mu.Unlock()
	l := m.leases[id]
	if l == nil {
		return cnm.NotFound("%s: no such lease (expired?)", op)
	}
	l.expiry = m.now().Add(l.ttl)
	return nil
}

func (c *memClient) Revoke(ctx context.Context, id LeaseID) error {
	op := fmt.Sprintf("revoke lease %d", id)
	if err := c.begin(ctx, op); err != nil {
		return err
	}
	m := c.m
	defer m.mu.Unlock()
	if m.leases[id] == nil {
		return cnm.NotFound("%s: no such lease (expired?)", op)
	}
	m.revokeLocked(id)
	return nil
}

func (c *memClient) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// clone copies a KV so callers cannot change the store's value.
func clone(kv KV) KV {
	kv.Value = slices.Clone(kv.Value)
	return kv
}
