// Package clustertest holds the conformance tests of cluster.Store: every
// implementation (the in-memory one now, etcd later) runs Run against a
// fresh backend per test.
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store/cluster"
)

// Backend is one empty store under test, seen by as many clients as a
// test asks for.
type Backend interface {
	// Client returns a new client of the store, standing for one host.
	// The backend closes it when the test ends.
	Client(t *testing.T) cluster.Store
	// Advance makes d pass for the store's leases: a fake clock moves
	// and expired leases are collected; a real store is waited out.
	Advance(t *testing.T, d time.Duration)
}

// Run runs every conformance test, each on a backend of its own.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"List", testList},
		{"CreateOnly", testCreateOnly},
		{"CompareAndSwap", testCompareAndSwap},
		{"PutAll", testPutAll},
		{"ConcurrentCASOneWinner", testConcurrentCAS},
		{"ConcurrentCreateOneWinner", testConcurrentCreate},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"WatchOrder", testWatchOrder},
		{"WatchResume", testWatchResume},
		{"WatchEndsWithContext", testWatchEnds},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseRevoke", testLeaseRevoke},
		{"BadArguments", testBadArguments},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

func put(t *testing.T, s cluster.Store, key string, value []byte, opts cluster.PutOptions) int64 {
	t.Helper()
	rev, err := s.Put(t.Context(), key, value, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func get(t *testing.T, s cluster.Store, key string) cluster.KV {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func grant(t *testing.T, s cluster.Store, ttl time.Duration) cluster.LeaseID {
	t.Helper()
	id, err := s.Grant(t.Context(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: err = %v, want kind %v", what, err, kind)
	}
}

// next reads the watch's next event; the test's deadline bounds the wait.
func next(t *testing.T, ch <-chan cluster.Event) cluster.Event {
	t.Helper()
	ev, ok := <-ch
	if !ok {
		t.Fatal("the watch ended early")
	}
	if ev.Err != nil {
		t.Fatalf("watch: %v", ev.Err)
	}
	return ev
}

// change is what a test expects of an event.
type change struct {
	typ   cluster.EventType
	key   string
	value string // for puts
	rev   int64
	prev  string // the previous value, "" if none was expected
}

func (c change) String() string {
	return fmt.Sprintf("%v %s=%q@%d (prev %q)", c.typ, c.key, c.value, c.rev, c.prev)
}

func got(ev cluster.Event) change {
	c := change{typ: ev.Type, key: ev.KV.Key, value: string(ev.KV.Value), rev: ev.KV.ModRevision}
	if ev.PrevKV != nil {
		c.prev = string(ev.PrevKV.Value)
	}
	return c
}

func expect(t *testing.T, ch <-chan cluster.Event, want ...change) {
	t.Helper()
	for i, w := range want {
		if g := got(next(t, ch)); g != w {
			t.Fatalf("event %d: got %v, want %v", i, g, w)
		}
	}
}

func testGetPutDelete(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	_, err := s.Get(ctx, "/a")
	wantKind(t, "get of a missing key", err, cnm.ErrNotFound)
	r1 := put(t, s, "/a", []byte("one"), cluster.PutOptions{})
	kv := get(t, s, "/a")
	if string(kv.Value) != "one" || kv.CreateRevision != r1 || kv.ModRevision != r1 || kv.Lease != cluster.NoLease {
		t.Errorf("after put at %d: %+v", r1, kv)
	}
	r2 := put(t, s, "/a", []byte("two"), cluster.PutOptions{})
	if r2 <= r1 {
		t.Errorf("second put at revision %d, after %d", r2, r1)
	}
	kv = get(t, s, "/a")
	if string(kv.Value) != "two" || kv.CreateRevision != r1 || kv.ModRevision != r2 {
		t.Errorf("after second put at %d: %+v", r2, kv)
	}
	// Values are copies: changing one changes nothing stored.
	kv.Value[0] = 'X'
	if kv := get(t, s, "/a"); string(kv.Value) != "two" {
		t.Errorf("changing a returned value changed the store: %q", kv.Value)
	}
	if err := s.Delete(ctx, "/a", cluster.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, "/a")
	wantKind(t, "get after delete", err, cnm.ErrNotFound)
	wantKind(t, "delete of a missing key", s.Delete(ctx, "/a", cluster.DeleteOptions{}), cnm.ErrNotFound)
	// Another client sees the same store.
	o := b.Client(t)
	r3 := put(t, s, "/a", []byte("three"), cluster.PutOptions{})
	if kv := get(t, o, "/a"); string(kv.Value) != "three" || kv.CreateRevision != r3 {
		t.Errorf("another client reads %+v, want three created at %d", kv, r3)
	}
}

func testList(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	var last int64
	for _, k := range []string{"/n/b", "/n/a", "/m/a", "/n/c", "/na"} {
		last = put(t, s, k, []byte(k), cluster.PutOptions{})
	}
	kvs, rev, err := s.List(ctx, "/n/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
		if string(kv.Value) != kv.Key {
			t.Errorf("%s = %q", kv.Key, kv.Value)
		}
	}
	if want := []string{"/n/a", "/n/b", "/n/c"}; !slices.Equal(keys, want) {
		t.Errorf("list /n/ = %q, want %q", keys, want)
	}
	if rev < last {
		t.Errorf("list at revision %d, before the last put's %d", rev, last)
	}
	if kvs, _, err := s.List(ctx, "/none/"); err != nil || len(kvs) != 0 {
		t.Errorf("list of an empty prefix = %v, %v", kvs, err)
	}
}

func testCreateOnly(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	create := cluster.PutOptions{Create: true}
	put(t, s, "/k", []byte("first"), create)
	_, err := s.Put(ctx, "/k", []byte("second"), create)
	wantKind(t, "create of an existing key", err, cnm.ErrConflict)
	if kv := get(t, s, "/k"); string(kv.Value) != "first" {
		t.Errorf("a refused create changed the value to %q", kv.Value)
	}
	if err := s.Delete(ctx, "/k", cluster.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r := put(t, s, "/k", []byte("again"), create)
	if kv := get(t, s, "/k"); kv.CreateRevision != r {
		t.Errorf("a key created again has CreateRevision %d, want %d", kv.CreateRevision, r)
	}
}

func testCompareAndSwap(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	r1 := put(t, s, "/k", []byte("v1"), cluster.PutOptions{})
	r2 := put(t, s, "/k", []byte("v2"), cluster.PutOptions{PrevRevision: r1})
	_, err := s.Put(ctx, "/k", []byte("stale"), cluster.PutOptions{PrevRevision: r1})
	wantKind(t, "put at a stale revision", err, cnm.ErrConflict)
	_, err = s.Put(ctx, "/missing", []byte("x"), cluster.PutOptions{PrevRevision: r1})
	wantKind(t, "conditional put of a missing key", err, cnm.ErrConflict)
	wantKind(t, "delete at a stale revision", s.Delete(ctx, "/k", cluster.DeleteOptions{PrevRevision: r1}), cnm.ErrConflict)
	wantKind(t, "conditional delete of a missing key", s.Delete(ctx, "/missing", cluster.DeleteOptions{PrevRevision: r1}), cnm.ErrConflict)
	if kv := get(t, s, "/k"); string(kv.Value) != "v2" || kv.ModRevision != r2 {
		t.Errorf("after refused changes: %+v, want v2 at %d", kv, r2)
	}
	if err := s.Delete(ctx, "/k", cluster.DeleteOptions{PrevRevision: r2}); err != nil {
		t.Errorf("delete at the current revision: %v", err)
	}
}

// testPutAll: a PutAll writes everything at one revision, seen by a
// watch, or nothing, naming the key whose condition failed.
func testPutAll(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	r0 := put(t, s, "/a", []byte("a0"), cluster.PutOptions{})
	ch := s.Watch(ctx, "/", r0)
	l := grant(t, s, time.Minute)
	rev, err := s.PutAll(ctx, []cluster.Write{
		{Key: "/a", Value: []byte("a1"), Options: cluster.PutOptions{PrevRevision: r0}},
		{Key: "/b", Value: []byte("b1"), Options: cluster.PutOptions{Create: true, Lease: l}},
		{Key: "/c", Value: []byte("c1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"/a", "/b", "/c"} {
		if kv := get(t, s, k); kv.ModRevision != rev || string(kv.Value) != k[1:]+"1" {
			t.Errorf("%s after PutAll: %+v, want %s1 at revision %d", k, kv, k[1:], rev)
		}
	}
	if kv := get(t, s, "/b"); kv.Lease != l {
		t.Errorf("/b's lease is %d, want %d", kv.Lease, l)
	}
	expect(t, ch, change{cluster.EventPut, "/a", "a1", rev, "a0"}, change{cluster.EventPut, "/b", "b1", rev, ""},
		change{cluster.EventPut, "/c", "c1", rev, ""})

	for _, tc := range []struct {
		name  string
		fail  string
		write cluster.Write
	}{
		{"create of an existing key", "/b", cluster.Write{Key: "/b", Options: cluster.PutOptions{Create: true}}},
		{"put at a stale revision", "/a", cluster.Write{Key: "/a", Options: cluster.PutOptions{PrevRevision: r0}}},
		{"conditional put of a missing key", "/m", cluster.Write{Key: "/m", Options: cluster.PutOptions{PrevRevision: rev}}},
	} {
		_, err := s.PutAll(ctx, []cluster.Write{
			{Key: "/new", Value: []byte("x"), Options: cluster.PutOptions{Create: true}},
			{Key: "/c", Value: []byte("c2"), Options: cluster.PutOptions{PrevRevision: rev}},
			tc.write,
		})
		wantKind(t, tc.name, err, cnm.ErrConflict)
		var kc *cluster.KeyConflict
		if !errors.As(err, &kc) || kc.Key != tc.fail {
			t.Errorf("%s: error %v names %+v, want key %s", tc.name, err, kc, tc.fail)
		}
		if _, err := s.Get(ctx, "/new"); !errors.Is(err, cnm.ErrNotFound) {
			t.Errorf("%s: a refused PutAll wrote /new (%v)", tc.name, err)
		}
		if kv := get(t, s, "/c"); string(kv.Value) != "c1" {
			t.Errorf("%s: a refused PutAll changed /c to %q", tc.name, kv.Value)
		}
	}
	_, err = s.PutAll(ctx, nil)
	wantKind(t, "an empty PutAll", err, cnm.ErrInvalid)
	_, err = s.PutAll(ctx, []cluster.Write{{Key: "/x"}, {Key: "/x"}})
	wantKind(t, "a PutAll writing a key twice", err, cnm.ErrInvalid)
	_, err = s.PutAll(ctx, []cluster.Write{{Key: "/x", Options: cluster.PutOptions{Lease: l + 1000}}})
	wantKind(t, "a PutAll with an unknown lease", err, cnm.ErrNotFound)
}

// clients returns n clients of b.
func clients(t *testing.T, b Backend, n int) []cluster.Store {
	var out []cluster.Store
	for range n {
		out = append(out, b.Client(t))
	}
	return out
}

// race runs fn on every client at once and returns their errors.
func race(cs []cluster.Store, fn func(i int, s cluster.Store) error) []error {
	errs := make([]error, len(cs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i, s)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// winner checks that exactly one of errs is nil and the others are
// conflicts, and returns the winner's index.
func winner(t *testing.T, errs []error) int {
	t.Helper()
	win := -1
	for i, err := range errs {
		switch {
		case err == nil && win >= 0:
			t.Fatalf("clients %d and %d both won", win, i)
		case err == nil:
			win = i
		case !errors.Is(err, cnm.ErrConflict):
			t.Fatalf("client %d: %v, want a conflict", i, err)
		}
	}
	if win < 0 {
		t.Fatal("no client won")
	}
	return win
}

func testConcurrentCAS(t *testing.T, b Backend) {
	ctx := t.Context()
	cs := clients(t, b, 8)
	rev := put(t, cs[0], "/leader", []byte("none"), cluster.PutOptions{})
	for round := range 20 {
		errs := race(cs, func(i int, s cluster.Store) error {
			_, err := s.Put(ctx, "/leader", []byte(strconv.Itoa(i)), cluster.PutOptions{PrevRevision: rev})
			return err
		})
		win := winner(t, errs)
		kv := get(t, cs[0], "/leader")
		if string(kv.Value) != strconv.Itoa(win) {
			t.Fatalf("round %d: client %d won, but the key holds %q", round, win, kv.Value)
		}
		rev = kv.ModRevision
	}
}

func testConcurrentCreate(t *testing.T, b Backend) {
	ctx := t.Context()
	cs := clients(t, b, 8)
	for round := range 20 {
		key := fmt.Sprintf("/ip/10.0.0.%d", round)
		errs := race(cs, func(i int, s cluster.Store) error {
			_, err := s.Put(ctx, key, []byte(strconv.Itoa(i)), cluster.PutOptions{Create: true})
			return err
		})
		win := winner(t, errs)
		if kv := get(t, cs[0], key); string(kv.Value) != strconv.Itoa(win) {
			t.Fatalf("%s: client %d won, but the key holds %q", key, win, kv.Value)
		}
	}
}

// Read-modify-write with compare and swap loses no update.
func testConcurrentIncrements(t *testing.T, b Backend) {
	ctx := t.Context()
	cs := clients(t, b, 6)
	const each = 25
	put(t, cs[0], "/counter", []byte("0"), cluster.PutOptions{})
	errs := race(cs, func(_ int, s cluster.Store) error {
		for done := 0; done < each; {
			kv, err := s.Get(ctx, "/counter")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(kv.Value))
			if err != nil {
				return err
			}
			_, err = s.Put(ctx, "/counter", []byte(strconv.Itoa(n+1)), cluster.PutOptions{PrevRevision: kv.ModRevision})
			switch {
			case err == nil:
				done++
			case !errors.Is(err, cnm.ErrConflict):
				return err
			}
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if kv := get(t, cs[0], "/counter"); string(kv.Value) != strconv.Itoa(len(cs)*each) {
		t.Errorf("counter = %s, want %d", kv.Value, len(cs)*each)
	}
}

func testWatchOrder(t *testing.T, b Backend) {
	ctx := t.Context()
	w, s := b.Client(t), b.Client(t)
	put(t, s, "/n/before", []byte("x"), cluster.PutOptions{})
	ch := w.Watch(ctx, "/n/", 0)
	r1 := put(t, s, "/n/a", []byte("1"), cluster.PutOptions{})
	put(t, s, "/other", []byte("ignored"), cluster.PutOptions{})
	r2 := put(t, s, "/n/b", []byte("2"), cluster.PutOptions{})
	r3 := put(t, s, "/n/a", []byte("3"), cluster.PutOptions{PrevRevision: r1})
	if err := s.Delete(ctx, "/n/b", cluster.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	evs := []cluster.Event{next(t, ch), next(t, ch), next(t, ch), next(t, ch)}
	want := []change{
		{cluster.EventPut, "/n/a", "1", r1, ""},
		{cluster.EventPut, "/n/b", "2", r2, ""},
		{cluster.EventPut, "/n/a", "3", r3, "1"},
		{cluster.EventDelete, "/n/b", "", evs[3].KV.ModRevision, "2"},
	}
	for i, ev := range evs {
		if g := got(ev); g != want[i] {
			t.Errorf("event %d: got %v, want %v", i, g, want[i])
		}
	}
	if evs[3].KV.ModRevision <= r3 {
		t.Errorf("the delete's revision %d is not after %d", evs[3].KV.ModRevision, r3)
	}
	if evs[2].KV.CreateRevision != r1 {
		t.Errorf("an update's CreateRevision = %d, want %d", evs[2].KV.CreateRevision, r1)
	}
}

func testWatchResume(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	var revs []int64
	for i := range 6 {
		revs = append(revs, put(t, s, "/r/k"+strconv.Itoa(i%3), []byte(strconv.Itoa(i)), cluster.PutOptions{}))
	}
	// From a past revision: everything after it, in order.
	ch := s.Watch(ctx, "/r/", revs[2])
	for i := 3; i < 6; i++ {
		expect(t, ch, change{cluster.EventPut, "/r/k" + strconv.Itoa(i%3), strconv.Itoa(i), revs[i], strconv.Itoa(i - 3)})
	}
	// List, then watch from the list's revision: later changes only.
	_, rev, err := s.List(ctx, "/r/")
	if err != nil {
		t.Fatal(err)
	}
	o := b.Client(t)
	r := put(t, o, "/r/k9", []byte("9"), cluster.PutOptions{})
	expect(t, s.Watch(ctx, "/r/", rev), change{cluster.EventPut, "/r/k9", "9", r, ""})
	// The first watch goes on too.
	expect(t, ch, change{cluster.EventPut, "/r/k9", "9", r, ""})
}

func testWatchEnds(t *testing.T, b Backend) {
	s := b.Client(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch := s.Watch(ctx, "/w/", 0)
	cancel()
	for ev := range ch {
		if ev.Err == nil {
			t.Errorf("event after cancel: %+v", ev)
		}
	}
}

func testLeaseExpiry(t *testing.T, b Backend) {
	ctx := t.Context()
	host, other := b.Client(t), b.Client(t)
	const ttl = 10 * time.Second
	id := grant(t, host, ttl)
	put(t, host, "/h/a", []byte("a"), cluster.PutOptions{Lease: id})
	rb := put(t, host, "/h/b", []byte("b"), cluster.PutOptions{Lease: id})
	put(t, host, "/h/kept", []byte("k"), cluster.PutOptions{})
	if kv := get(t, other, "/h/a"); kv.Lease != id {
		t.Errorf("key's lease = %d, want %d", kv.Lease, id)
	}
	ch := other.Watch(ctx, "/h/", 0)
	// Refreshed in time, the lease lives on.
	b.Advance(t, ttl*6/10)
	if err := host.KeepAlive(ctx, id); err != nil {
		t.Fatalf("keep alive in time: %v", err)
	}
	b.Advance(t, ttl*6/10)
	if _, err := other.Get(ctx, "/h/a"); err != nil {
		t.Fatalf("a refreshed lease's key: %v", err)
	}
	// Left alone, it expires with its keys, and the watch sees them go.
	b.Advance(t, ttl*15/10)
	for _, k := range []string{"/h/a", "/h/b"} {
		_, err := other.Get(ctx, k)
		wantKind(t, "get of an expired lease's key "+k, err, cnm.ErrNotFound)
	}
	if _, err := other.Get(ctx, "/h/kept"); err != nil {
		t.Errorf("a key without lease: %v", err)
	}
	var dels []change
	for range 2 {
		ev := next(t, ch)
		if ev.KV.ModRevision <= rb {
			t.Errorf("deletion at revision %d, not after %d", ev.KV.ModRevision, rb)
		}
		c := got(ev)
		c.rev = 0
		dels = append(dels, c)
	}
	slices.SortFunc(dels, func(x, y change) int { return cmpString(x.key, y.key) })
	want := []change{{cluster.EventDelete, "/h/a", "", 0, "a"}, {cluster.EventDelete, "/h/b", "", 0, "b"}}
	if !slices.Equal(dels, want) {
		t.Errorf("events %v, want %v", dels, want)
	}
	wantKind(t, "keep alive of an expired lease", host.KeepAlive(ctx, id), cnm.ErrNotFound)
	_, err := host.Put(ctx, "/h/c", []byte("c"), cluster.PutOptions{Lease: id})
	wantKind(t, "put with an expired lease", err, cnm.ErrNotFound)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testLeaseRevoke(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	id := grant(t, s, time.Hour)
	put(t, s, "/v/a", []byte("a"), cluster.PutOptions{Lease: id})
	put(t, s, "/v/b", []byte("b"), cluster.PutOptions{Lease: id})
	// A key put again without the lease leaves it.
	put(t, s, "/v/b", []byte("b2"), cluster.PutOptions{})
	ch := s.Watch(ctx, "/v/", 0)
	if err := s.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	ev := next(t, ch)
	if g := got(ev); g.typ != cluster.EventDelete || g.key != "/v/a" || g.prev != "a" {
		t.Errorf("after revoke: %v", g)
	}
	if _, err := s.Get(ctx, "/v/a"); !errors.Is(err, cnm.ErrNotFound) {
		t.Errorf("revoked lease's key: %v", err)
	}
	if kv, err := s.Get(ctx, "/v/b"); err != nil || string(kv.Value) != "b2" {
		t.Errorf("detached key after revoke: %+v, %v", kv, err)
	}
	wantKind(t, "revoke again", s.Revoke(ctx, id), cnm.ErrNotFound)
	wantKind(t, "keep alive after revoke", s.KeepAlive(ctx, id), cnm.ErrNotFound)
}

func testBadArguments(t *testing.T, b Backend) {
	ctx := t.Context()
	s := b.Client(t)
	_, err := s.Put(ctx, "/k", nil, cluster.PutOptions{Create: true, PrevRevision: 1})
	wantKind(t, "put with Create and PrevRevision", err, cnm.ErrInvalid)
	_, err = s.Put(ctx, "", []byte("x"), cluster.PutOptions{})
	wantKind(t, "put of an empty key", err, cnm.ErrInvalid)
	_, err = s.Grant(ctx, 0)
	wantKind(t, "grant of no time", err, cnm.ErrInvalid)
	_, err = s.Put(ctx, "/k", []byte("x"), cluster.PutOptions{Lease: 987654321})
	wantKind(t, "put with an unknown lease", err, cnm.ErrNotFound)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(cancelled, "/k"); !errors.Is(err, context.Canceled) {
		t.Errorf("get with a cancelled context: %v", err)
	}
}
