// Package cluster is the seam for state shared by several patchbay hosts:
// global networks, endpoints seen across hosts, per-host records. It is a
// small key-value interface shaped after etcd's, so an etcd clientv3
// implementation is a thin adapter: every change gets a store-wide
// revision; writes can be conditional on a key's revision (compare and
// swap) or on its absence; a watch streams every change under a prefix
// after a given revision, so a host that lists the store and then watches
// from the list's revision misses nothing; and leases let a host's keys
// disappear (with Delete events) when the host stops refreshing them.
//
// The local store (package store, bbolt) stays the source of truth for a
// host's own objects; this store holds only what hosts share.
//
// Memory, in this package, is the implementation for tests: one in-memory
// store, several clients (one per simulated host), an injectable clock
// for lease expiry, a bounded watch history. Package clustertest holds the
// conformance tests every implementation must pass.
package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/patchbay/patchbay/cnm"
)

// LeaseID names a lease. NoLease (zero) is no lease.
type LeaseID int64

// NoLease attaches a key to no lease.
const NoLease LeaseID = 0

// KV is a key with its value and revisions.
type KV struct {
	Key   string
	Value []byte
	// CreateRevision is the revision that created the key (after its
	// last deletion); ModRevision the one that last changed it. In a
	// Delete event's KV, ModRevision is the deletion's revision.
	CreateRevision, ModRevision int64
	// Lease is the lease the key is attached to, or NoLease.
	Lease LeaseID
}

// PutOptions are the conditions and attachments of a Put. PrevRevision
// and Create are exclusive.
type PutOptions struct {
	// PrevRevision > 0 makes the Put succeed only if the key exists with
	// this ModRevision.
	PrevRevision int64
	// Create makes the Put succeed only if the key does not exist.
	Create bool
	// Lease attaches the key to a lease: the key is deleted when the
	// lease expires or is revoked. A Put without one detaches the key.
	Lease LeaseID
}

// Write is one put of a PutAll.
type Write struct {
	Key     string
	Value   []byte
	Options PutOptions
}

// KeyConflict is the error of a PutAll whose write to Key failed its
// condition. It is of kind cnm.ErrConflict.
type KeyConflict struct {
	Key string
	Err error // the condition's failure, of kind cnm.ErrConflict
}

func (e *KeyConflict) Error() string { return e.Err.Error() }
func (e *KeyConflict) Unwrap() error { return e.Err }

// CheckWrites checks a PutAll's arguments, for its implementations: at
// least one write, each key once, valid conditions.
func CheckWrites(writes []Write) error {
	if len(writes) == 0 {
		return cnm.Invalid("put all: no writes")
	}
	seen := make(map[string]bool, len(writes))
	for _, w := range writes {
		o := w.Options
		if w.Key == "" || o.PrevRevision < 0 || (o.Create && o.PrevRevision > 0) {
			return cnm.Invalid("put all: %q: empty key, negative revision, or both Create and PrevRevision", w.Key)
		}
		if seen[w.Key] {
			return cnm.Invalid("put all: key %s written twice", w.Key)
		}
		seen[w.Key] = true
	}
	return nil
}

// DeleteOptions are the conditions of a Delete.
type DeleteOptions struct {
	// PrevRevision > 0 makes the Delete succeed only if the key's
	// ModRevision is this.
	PrevRevision int64
}

// EventType is what happened to a key.
type EventType int

// Event types.
const (
	EventPut EventType = iota + 1
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return "unknown"
}

// Event is one change seen by a watch, or the error that ended it.
type Event struct {
	Type EventType
	// KV is the key after the change; for a delete, the key and the
	// deletion's revision, with no value.
	KV KV
	// PrevKV is the key before the change, nil if it did not exist.
	PrevKV *KV
	// Err, when set, is the last event of the watch: ErrCompacted, the
	// store closing or failing. The other fields are then empty.
	Err error
}

// ErrCompacted ends a watch whose starting revision, or whose reader,
// fell behind the history the store keeps. The watcher lists the prefix
// again and watches from the list's revision.
var ErrCompacted = errors.New("revision compacted")

// Store is one client's view of the cluster store. Errors carry the kinds
// of package cnm: ErrNotFound for a missing key or lease, ErrConflict for
// a failed condition, ErrInvalid for bad arguments, ErrUnavailable when
// the store cannot be reached or the client is closed. Every method that
// leaves the process honours ctx's deadline.
type Store interface {
	// Get returns the key.
	Get(ctx context.Context, key string) (KV, error)
	// List returns the keys under prefix, in key order, and the store's
	// revision they were read at.
	List(ctx context.Context, prefix string) ([]KV, int64, error)
	// Put writes the key under opts' conditions and returns the
	// revision of the write.
	Put(ctx context.Context, key string, value []byte, opts PutOptions) (int64, error)
	// PutAll makes every write or none, in one request, all at one
	// revision, which it returns. If a write's condition fails nothing
	// is written, and the error, of kind ErrConflict, is a *KeyConflict
	// naming the first such write's key.
	PutAll(ctx context.Context, writes []Write) (int64, error)
	// Delete removes the key under opts' conditions.
	Delete(ctx context.Context, key string, opts DeleteOptions) error
	// Watch streams every change under prefix with a revision above rev
	// (rev 0: from now on), in revision order, until ctx ends or the
	// client closes; then the channel is closed. If the history after rev
	// is gone, or the reader falls too far behind, the last event carries
	// ErrCompacted.
	Watch(ctx context.Context, prefix string, rev int64) <-chan Event
	// Grant creates a lease that expires ttl after its grant or last
	// refresh.
	Grant(ctx context.Context, ttl time.Duration) (LeaseID, error)
	// KeepAlive refreshes the lease once; ErrNotFound if it expired.
	KeepAlive(ctx context.Context, id LeaseID) error
	// Revoke ends the lease now, deleting every key attached to it.
	Revoke(ctx context.Context, id LeaseID) error
	// Close stops the client's watches and waits for them.
	Close() error
}
