// Package store persists patchbay's state. The local store is one bbolt
// file; every engine operation commits in a single transaction, so the
// file always holds a consistent snapshot the kernel can be reconciled
// from. What several hosts share (global networks and their endpoints)
// goes to the cluster store instead, behind the interface of package
// store/cluster.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchbay/patchbay/cnm"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta      = []byte("meta")
	bucketNetworks  = []byte("networks")
	bucketEndpoints = []byte("endpoints")
	bucketSandboxes = []byte("sandboxes")
	bucketCursors   = []byte("ipam-cursors")
	allBuckets      = [][]byte{bucketMeta, bucketNetworks, bucketEndpoints, bucketSandboxes, bucketCursors}
)

// Store is the local state file.
type Store struct {
	db *bolt.DB
}

// Open opens (creating if needed) the state file at path. A second
// process opening the same file fails at once instead of waiting.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, cnm.Conflict("open state %s: another patchbay daemon is using it", path)
		}
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init state %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Update runs fn in a read-write transaction, committed if fn returns nil.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Tx is a store transaction with typed accessors.
type Tx struct {
	tx *bolt.Tx
}

// Meta returns a metadata value, or "" if unset.
func (t *Tx) Meta(key string) string { return string(t.tx.Bucket(bucketMeta).Get([]byte(key))) }

// SetMeta sets a metadata value.
func (t *Tx) SetMeta(key, value string) error {
	return t.tx.Bucket(bucketMeta).Put([]byte(key), []byte(value))
}

// PutNetwork writes a network record.
func (t *Tx) PutNetwork(n *cnm.Network) error { return put(t.tx, bucketNetworks, n.ID, n) }

// DeleteNetwork removes a network record.
func (t *Tx) DeleteNetwork(id string) error { return t.tx.Bucket(bucketNetworks).Delete([]byte(id)) }

// PutEndpoint writes an endpoint record.
func (t *Tx) PutEndpoint(ep *cnm.Endpoint) error { return put(t.tx, bucketEndpoints, ep.ID, ep) }

// DeleteEndpoint removes an endpoint record.
func (t *Tx) DeleteEndpoint(id string) error {
	return t.tx.Bucket(bucketEndpoints).Delete([]byte(id))
}

// PutSandbox writes a sandbox record.
func (t *Tx) PutSandbox(sb *cnm.Sandbox) error { return put(t.tx, bucketSandboxes, sb.ID, sb) }

// DeleteSandbox removes a sandbox record.
func (t *Tx) DeleteSandbox(id string) error {
	return t.tx.Bucket(bucketSandboxes).Delete([]byte(id))
}

// Networks returns every network record.
func (t *Tx) Networks() ([]*cnm.Network, error) { return list[cnm.Network](t.tx, bucketNetworks) }

// Endpoints returns every endpoint record.
func (t *Tx) Endpoints() ([]*cnm.Endpoint, error) { return list[cnm.Endpoint](t.tx, bucketEndpoints) }

// Sandboxes returns every sandbox record.
func (t *Tx) Sandboxes() ([]*cnm.Sandbox, error) { return list[cnm.Sandbox](t.tx, bucketSandboxes) }

func put(tx *bolt.Tx, bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put([]byte(key), data)
}

func list[T any](tx *bolt.Tx, bucket []byte) ([]*T, error) {
	var out []*T
	err := tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		item := new(T)
		if err := json.Unmarshal(v, item); err != nil {
			return fmt.Errorf("decode %s/%s: %w", bucket, k, err)
		}
		out = append(out, item)
		return nil
	})
	return out, err
}
