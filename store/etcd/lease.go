package etcd

import (
	"context"
	"fmt"
	"time"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Grant creates a lease of ttl, rounded up to whole seconds (etcd's
// unit; etcd may raise a very short one to its minimum).
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (cluster.LeaseID, error) {
	if ttl <= 0 {
		return cluster.NoLease, cnm.Invalid("grant lease: ttl %v is not positive", ttl)
	}
	const op = "grant lease"
	if err := s.begin(ctx, op); err != nil {
		return cluster.NoLease, err
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	resp, err := s.lease.Grant(ctx, secs)
	if err != nil {
		return cluster.NoLease, classify(ctx, op, err)
	}
	return cluster.LeaseID(resp.ID), nil
}

// KeepAlive refreshes the lease once.
func (s *Store) KeepAlive(ctx context.Context, id cluster.LeaseID) error {
	op := fmt.Sprintf("keep lease %d alive", id)
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	resp, err := s.lease.KeepAliveOnce(ctx, clientv3.LeaseID(id))
	if err != nil {
		return classify(ctx, op, err)
	}
	if resp.TTL <= 0 {
		return cnm.NotFound("%s: no such lease (expired?)", op)
	}
	return nil
}

// Revoke ends the lease now; etcd deletes its keys.
func (s *Store) Revoke(ctx context.Context, id cluster.LeaseID) error {
	op := fmt.Sprintf("revoke lease %d", id)
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	if _, err := s.lease.Revoke(ctx, clientv3.LeaseID(id)); err != nil {
		return classify(ctx, op, err)
	}
	return nil
}
